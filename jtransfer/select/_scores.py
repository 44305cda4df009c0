"""Transferability scores from target features and labels (LogME, LEEP, NCE, H-score,
TransRate). Higher means "this pre-trained model / source should transfer better"."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jtransfer._core.checks import (
    check_labels,
    check_matrix,
    check_positive,
    check_probabilities,
)


def logme(
    features: jax.Array,
    labels: jax.Array,
    *,
    num_classes: int | None = None,
    max_iter: int = 100,
    tol: float = 1e-6,
) -> jax.Array:
    r"""LogME: the maximum log evidence of a Bayesian linear model on the features.

    For each class :math:`c` a linear model :math:`y_c = F w + \epsilon` with prior
    :math:`w \sim N(0, \alpha^{-1} I_D)` and noise :math:`\epsilon \sim N(0, \beta^{-1} I_n)`
    (:math:`y_c` the 0/1 indicator of class ``c``) has log evidence

    .. math::
        \mathcal L(\alpha,\beta) = \tfrac n2\log\beta + \tfrac D2\log\alpha
        - \tfrac n2\log 2\pi - \tfrac\beta2\|Fm-y\|^2 - \tfrac\alpha2 m^\top m
        - \tfrac12\log|A|, \quad A = \alpha I + \beta F^\top F,\ m = \beta A^{-1}F^\top y.

    It is maximised by the fixed-point iteration (MacKay) :math:`\gamma = \sum_i
    \beta\sigma_i/(\alpha+\beta\sigma_i)`, :math:`\alpha \leftarrow \gamma/m^\top m`,
    :math:`\beta \leftarrow (n-\gamma)/\|Fm-y\|^2`, with :math:`\sigma_i` the eigenvalues of
    :math:`F^\top F` (one SVD of :math:`F`, reused for every class). LogME is
    :math:`\frac1{C}\sum_c \mathcal L_c^*/n`. As in the authors' code, :math:`10^{-5}` is
    added to :math:`m^\top m` and :math:`\|Fm-y\|^2` (keeps :math:`\alpha` finite when the
    features carry no information about a class). Iterates until the relative change of
    :math:`\alpha/\beta` is below ``tol`` (the official code stops at 1e-2, ≤ 11 steps).

    Args:
      features: (n, D) target features extracted by the pre-trained model.
      labels: (n,) integer target labels in 0..C-1 (at least two classes).
      num_classes: C; inferred from ``labels`` when they are concrete.
      max_iter: maximum fixed-point iterations.
      tol: relative tolerance on :math:`\lambda=\alpha/\beta`.

    Returns:
      Scalar LogME (average log evidence per sample and class).

    References:
      You et al. 2021, "LogME: Practical Assessment of Pre-trained Models for Transfer
      Learning", https://arxiv.org/abs/2102.11005
    """
    f = check_matrix(features, "features")
    y, c = check_labels(labels, "labels", f.shape[0], "features", num_classes=num_classes)
    check_positive(tol, "tol")
    return _logme(f, y, num_classes=c, max_iter=int(max_iter), tol=float(tol))


_LOGME_EPS = 1e-5  # added to m^T m and ||Fm - y||^2, as in the authors' code


@functools.partial(jax.jit, static_argnames=("num_classes", "max_iter", "tol"))
def _logme(f, y, *, num_classes, max_iter, tol):
    n, d = f.shape
    u, s, _ = jnp.linalg.svd(f, full_matrices=False)  # F = U diag(s) V^T, r = min(n, d)
    sig = s * s  # nonzero eigenvalues of F^T F
    r = sig.shape[0]
    targets = jax.nn.one_hot(y, num_classes, dtype=f.dtype)  # (n, C)
    z = u.T @ targets  # (r, C) coordinates of y in U
    yy = jnp.sum(targets * targets, axis=0)  # ||y_c||^2

    def quantities(alpha, beta, zc, yyc):
        den = alpha + beta * sig
        gamma = jnp.sum(beta * sig / den)
        mm = jnp.sum((beta * s * zc / den) ** 2)  # m^T m
        res = jnp.sum((alpha * zc / den) ** 2) + yyc - jnp.sum(zc * zc)  # ||F m - y||^2
        return den, gamma, mm + _LOGME_EPS, jnp.maximum(res, 0.0) + _LOGME_EPS

    def one_class(zc, yyc):
        def cond(state):
            i, _, _, rel = state
            return (i < max_iter) & (rel > tol)

        def body(state):
            i, alpha, beta, _ = state
            _, gamma, mm, res = quantities(alpha, beta, zc, yyc)
            new_alpha = gamma / mm
            new_beta = (n - gamma) / res
            rel = jnp.abs(new_alpha / new_beta - alpha / beta) / (alpha / beta)
            return i + 1, new_alpha, new_beta, rel

        one = jnp.ones((), f.dtype)
        _, alpha, beta, _ = jax.lax.while_loop(cond, body, (0, one, one, jnp.inf * one))
        den, _, mm, res = quantities(alpha, beta, zc, yyc)
        logdet = jnp.sum(jnp.log(den)) + (d - r) * jnp.log(alpha)
        ev = (
            n / 2 * jnp.log(beta)
            + d / 2 * jnp.log(alpha)
            - n / 2 * jnp.log(2 * jnp.pi)
            - beta / 2 * res
            - alpha / 2 * mm
            - logdet / 2
        )
        return ev / n

    return jnp.mean(jax.vmap(one_class, in_axes=(1, 0))(z, yy))


def _joint(source_probs, labels, num_classes):
    """Empirical joint P(y, z) = (1/n) sum_{i: y_i = y} theta_i(z), shape (C, Z)."""
    onehot = jax.nn.one_hot(labels, num_classes, dtype=source_probs.dtype)
    return onehot.T @ source_probs / source_probs.shape[0]


def leep(
    source_probs: jax.Array, target_labels: jax.Array, *, num_classes: int | None = None
) -> jax.Array:
    r"""LEEP: log expected empirical prediction of the source classifier on the target.

    With :math:`\theta_i \in \Delta^{Z}` the source model's class probabilities on target
    example :math:`i`:

    .. math::
        \hat P(y, z) = \tfrac1n\sum_{i:y_i=y}\theta_i(z),\quad
        \hat P(y|z) = \hat P(y,z)/\sum_{y'}\hat P(y',z),\quad
        T = \tfrac1n\sum_i \log \sum_z \hat P(y_i|z)\,\theta_i(z).

    Args:
      source_probs: (n, Z) source-label probabilities on the target inputs (rows sum to 1).
      target_labels: (n,) integer target labels in 0..C-1.
      num_classes: C; inferred from concrete labels.

    Returns:
      Scalar LEEP score (≤ 0; higher is better).

    References:
      Nguyen et al. 2020, "LEEP: A New Measure to Evaluate Transferability of Learned
      Representations", https://arxiv.org/abs/2002.12462
    """
    p = check_matrix(source_probs, "source_probs")
    y, c = check_labels(
        target_labels, "target_labels", p.shape[0], "source_probs", num_classes=num_classes
    )
    check_probabilities(p, "source_probs", rows_sum_to_one=True, atol=1e-3)
    return _leep(p, y, num_classes=c)


@functools.partial(jax.jit, static_argnames=("num_classes",))
def _leep(p, y, *, num_classes):
    joint = _joint(p, y, num_classes)  # (C, Z)
    cond = joint / jnp.maximum(joint.sum(0, keepdims=True), jnp.finfo(p.dtype).tiny)
    eep = jnp.sum(p * cond[y], axis=1)  # sum_z P(y_i|z) theta_i(z)
    return jnp.mean(jnp.log(eep))


def nce(
    source_labels: jax.Array,
    target_labels: jax.Array,
    *,
    num_source_classes: int | None = None,
    num_classes: int | None = None,
) -> jax.Array:
    r"""NCE: negative conditional entropy of the target labels given the source labels.

    .. math::
        \mathrm{NCE}(Y|Z) = -H(Y|Z) = \sum_{y,z}\hat P(y,z)\log\frac{\hat P(y,z)}{\hat P(z)}

    with :math:`\hat P` the empirical joint of the (dummy) source labels :math:`z_i` (e.g. the
    source classifier's arg-max on the target inputs) and the target labels :math:`y_i`.

    Args:
      source_labels: (n,) integer source labels in 0..Z-1.
      target_labels: (n,) integer target labels in 0..C-1.
      num_source_classes, num_classes: Z and C; inferred from concrete labels.

    Returns:
      Scalar NCE (≤ 0; higher is better).

    References:
      Tran et al. 2019, "Transferability and Hardness of Supervised Classification Tasks",
      https://arxiv.org/abs/1908.08142
    """
    zs = jnp.asarray(source_labels)
    if zs.ndim != 1:
        raise ValueError(f"source_labels must have shape (n,), got shape {zs.shape}")
    z, nz = check_labels(
        zs,
        "source_labels",
        zs.shape[0],
        "source_labels",
        num_classes=num_source_classes,
        min_classes=1,
    )
    y, c = check_labels(
        target_labels, "target_labels", z.shape[0], "source_labels", num_classes=num_classes
    )
    return _nce(z, y, num_source_classes=nz, num_classes=c)


@functools.partial(jax.jit, static_argnames=("num_source_classes", "num_classes"))
def _nce(z, y, *, num_source_classes, num_classes):
    zo = jax.nn.one_hot(z, num_source_classes)
    joint = _joint(zo, y, num_classes)  # (C, Z)
    pz = joint.sum(0, keepdims=True)
    safe = jnp.where(joint > 0, joint, 1.0)
    return jnp.sum(jnp.where(joint > 0, joint * jnp.log(safe / jnp.where(pz > 0, pz, 1.0)), 0.0))


def hscore(
    features: jax.Array,
    labels: jax.Array,
    *,
    num_classes: int | None = None,
    rtol: float | None = None,
) -> jax.Array:
    r"""H-score: how well the features separate the classes, relative to their spread.

    .. math::
        H(f) = \operatorname{tr}\!\big(\operatorname{cov}(f)^{-1}\,
        \operatorname{cov}(\mathbb E[f\mid y])\big)

    where :math:`\mathbb E[f\mid y]` replaces each feature vector by its class mean, and both
    covariances use the :math:`1/n` normalisation around the overall mean. The inverse is
    the Moore–Penrose pseudo-inverse (``rtol`` as in ``jnp.linalg.pinv``), as in the
    authors' code.

    Args:
      features: (n, D) target features.
      labels: (n,) integer target labels in 0..C-1.
      num_classes: C; inferred from concrete labels.
      rtol: cut-off for small singular values (default: ``jnp.linalg.pinv``'s).

    Returns:
      Scalar H-score (≥ 0; higher is better).

    References:
      Bao et al. 2019, "An Information-Theoretic Approach to Transferability in Task
      Transfer Learning", ICIP 2019, https://ieeexplore.ieee.org/document/8803726
    """
    f = check_matrix(features, "features")
    y, c = check_labels(labels, "labels", f.shape[0], "features", num_classes=num_classes)
    return _hscore(f, y, num_classes=c, rtol=rtol)


@functools.partial(jax.jit, static_argnames=("num_classes", "rtol"))
def _hscore(f, y, *, num_classes, rtol):
    n = f.shape[0]
    fc = f - f.mean(0, keepdims=True)
    cov_f = fc.T @ fc / n
    onehot = jax.nn.one_hot(y, num_classes, dtype=f.dtype)
    counts = onehot.sum(0)
    means = (onehot.T @ fc) / jnp.maximum(counts, 1.0)[:, None]  # class means of centred f
    g = means[y]
    cov_g = g.T @ g / n
    return jnp.trace(jnp.linalg.pinv(cov_f, rtol=rtol, hermitian=True) @ cov_g)


def transrate(
    features: jax.Array, labels: jax.Array, *, eps: float = 1e-2, num_classes: int | None = None
) -> jax.Array:
    r"""TransRate: coding rate of the features minus their rate given the labels.

    With centred features :math:`Z \in \mathbb R^{n\times d}` and
    :math:`R(Z, \epsilon) = \tfrac12\log\det(I_d + \tfrac{d}{n\epsilon^2} Z^\top Z)`:

    .. math::
        \mathrm{TrR} = R(Z,\epsilon) - \sum_c \frac{n_c}{n} R(Z_c,\epsilon)

    (Huang et al. 2022, Eq. 4–6, rate of the class subsets :math:`Z_c` with their own
    :math:`n_c`). The authors' released code instead uses :math:`1/(n\epsilon)` without the
    factor :math:`d` and an unweighted class average; we implement the paper's formula.

    Args:
      features: (n, d) target features.
      labels: (n,) integer target labels in 0..C-1.
      eps: distortion :math:`\epsilon > 0`.
      num_classes: C; inferred from concrete labels.

    Returns:
      Scalar TransRate (higher is better).

    References:
      Huang et al. 2022, "Frustratingly Easy Transferability Estimation",
      https://arxiv.org/abs/2106.09362
    """
    f = check_matrix(features, "features")
    y, c = check_labels(labels, "labels", f.shape[0], "features", num_classes=num_classes)
    check_positive(eps, "eps")
    return _transrate(f, y, eps=float(eps), num_classes=c)


@functools.partial(jax.jit, static_argnames=("eps", "num_classes"))
def _transrate(f, y, *, eps, num_classes):
    n, d = f.shape
    z = f - f.mean(0, keepdims=True)
    eye = jnp.eye(d, dtype=f.dtype)

    def rate(gram, count):
        scale = d / (jnp.maximum(count, 1.0) * eps**2)
        return 0.5 * jnp.linalg.slogdet(eye + scale * gram)[1]

    rz = rate(z.T @ z, jnp.asarray(n, f.dtype))
    onehot = jax.nn.one_hot(y, num_classes, dtype=f.dtype)  # (n, C)
    counts = onehot.sum(0)
    grams = jnp.einsum("nc,nd,ne->cde", onehot, z, z)
    # lax.map, not vmap: a batched LAPACK call can deadlock jaxlib's CPU thread pool on
    # 2 cores (seen with the batched triangular solve); C log-determinants are cheap.
    rc = jax.lax.map(lambda gc: rate(*gc), (grams, counts))
    return rz - jnp.sum(counts / n * rc)

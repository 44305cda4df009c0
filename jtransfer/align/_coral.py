"""CORAL (closed-form re-colouring) and the Deep CORAL loss (private module)."""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jtransfer._core import checks as _checks
from jtransfer._core import sizes
from jtransfer._core.distances import HIGHEST as _HIGHEST
from jtransfer._core.distances import covariance


def sym_matrix_power(c: jax.Array, power: float) -> jax.Array:
    """``C^power`` of a symmetric positive-definite matrix by eigendecomposition.

    Eigenvalues are floored at ``eps_machine * max eigenvalue`` before the power is taken.
    """
    c = 0.5 * (c + c.T)
    evals, evecs = jnp.linalg.eigh(c)
    floor = jnp.finfo(c.dtype).eps * jnp.max(jnp.abs(evals))
    evals = jnp.maximum(evals, floor)
    return jnp.matmul(evecs * evals[None, :] ** power, evecs.T, precision=_HIGHEST)


class CoralTarget(NamedTuple):
    """The target side of :func:`coral`, computed once by :func:`coral_target` and reusable
    for any number of source samples (e.g. the random trials of a sampled protocol)."""

    root: jax.Array  # (d, d): (C_t + eps I)^{1/2}
    mean: jax.Array  # (1, d): the target's feature means
    eps: float  # the ridge the root was computed with


def coral_target(target: jax.Array, *, eps: float = 1.0) -> CoralTarget:
    """The target statistics of CORAL, :math:`(C_t + \\epsilon I)^{1/2}` and :math:`\\bar x_t`.

    ``align.coral(source, coral_target(target, eps=e), eps=e)`` equals
    ``align.coral(source, target, eps=e)`` exactly (it is the same computation, split in two),
    but the target's covariance and matrix square root are computed once instead of on every
    call, which is most of the cost when the source sample is small.

    Args:
      target: ``(n_t, d)`` target features :math:`X_t`, ``n_t >= 2``.
      eps: ridge :math:`\\epsilon > 0` added to the covariance.

    Returns:
      :class:`CoralTarget` ``(root, mean, eps)`` in float32 or float64 (as :func:`coral`).

    Example:
      >>> import jax
      >>> from jtransfer import align
      >>> ks, kt = jax.random.split(jax.random.key(0))
      >>> source = jax.random.normal(ks, (40, 3))
      >>> target = 2.0 * jax.random.normal(kt, (500, 3))
      >>> t = align.coral_target(target, eps=1.0)
      >>> bool((align.coral(source, t, eps=1.0) == align.coral(source, target)).all())
      True

    References:
      Sun, Feng, Saenko, "Return of Frustratingly Easy Domain Adaptation", AAAI 2016,
      https://arxiv.org/abs/1511.05547
    """
    xt = _checks.check_samples(target, "target", min_samples=2)
    _checks.check_positive(eps, "eps")
    xt, _, _ = _checks.half_to_float32(xt, xt)
    if sizes.all_concrete(xt, eps):
        m = xt.shape[0]
        m_pad = sizes.bucket(m)
        mask = sizes.row_mask(m, m_pad, xt.dtype)
        root, mu = _target_padded_jit(sizes.pad_rows(xt, m_pad), mask, jnp.asarray(eps, xt.dtype))
    else:
        root, mu = _target_jit(xt, eps)
    return CoralTarget(root, mu, eps)


def coral(
    source: jax.Array,
    target: jax.Array | CoralTarget,
    *,
    eps: float = 1.0,
    match_mean: bool = False,
) -> jax.Array:
    """CORAL: re-colour source features with the target covariance (Sun et al. 2016).

    .. math::
        \\tilde X_s = X_s\\,(C_s + \\epsilon I)^{-1/2}\\,(C_t + \\epsilon I)^{1/2},
        \\qquad C = \\tfrac{1}{n-1} (X - \\bar X)^\\top (X - \\bar X).

    Both covariances are centred and both are regularised by :math:`\\epsilon I`, as in
    Algorithm 1 of the paper (``cov(Ds) + eye(size(Ds,2))``). Matrix powers use a symmetric
    eigendecomposition, so the result is symmetric-exact and differentiable (away from repeated
    eigenvalues). With :math:`\\epsilon \\to 0` and full-rank covariances the covariance of the
    output equals :math:`C_t`.

    **A common simplification we do not use.** Writing the covariance as
    :math:`X^\\top X / n` without removing the mean and adding :math:`\\epsilon I` only to the
    target covariance whitens with :math:`C_s^{-1/2}`, which fails for rank-deficient source
    features. We follow the paper: centred covariances with :math:`1/(n-1)`, both
    regularised.

    **Compilations.** Called eagerly, both samples are padded with zero rows to size buckets
    (``2^e·{1, 1.25, 1.5, 1.75}``, see ``jtransfer._core.sizes``) that take no part in the means
    and covariances (the counts are those of the real rows), and the padded output rows are
    dropped, so all sizes of a bucket share one compiled program. Under ``jax.jit``, ``grad``
    or ``vmap`` nothing is padded.

    Args:
      source: ``(n_s, d)`` source features :math:`X_s`.
      target: ``(n_t, d)`` target features :math:`X_t`, or their :class:`CoralTarget` from
        :func:`coral_target` (computed once for many sources; its ``eps`` must be ``eps``).
      eps: ridge :math:`\\epsilon > 0` added to both covariances (the paper uses 1 on
        standardised features).
      match_mean: the paper maps :math:`X_s` as is (the mean is transformed along). With
        ``True`` the output is :math:`(X_s - \\bar x_s) A + \\bar x_t`, so the first moment is
        matched as well.

    Returns:
      ``(n_s, d)`` aligned source features in the dtype of the inputs. float16/bfloat16 inputs
      are computed in float32 (there is no half-precision ``eigh``) and cast back; float64
      stays float64 when ``jax_enable_x64`` is on, and is computed in float32 with a
      ``UserWarning`` when it is off.

    Example:
      >>> import jax
      >>> from jtransfer import align
      >>> ks, kt = jax.random.split(jax.random.key(0))
      >>> source = jax.random.normal(ks, (500, 2))
      >>> target = jax.random.normal(kt, (500, 2)) * jax.numpy.array([[3.0, 0.5]])
      >>> aligned = align.coral(source, target, eps=1e-6)
      >>> bool(jax.numpy.allclose(align.covariance(aligned), align.covariance(target),
      ...                         atol=1e-3))
      True

    References:
      Sun, Feng, Saenko, "Return of Frustratingly Easy Domain Adaptation", AAAI 2016,
      https://arxiv.org/abs/1511.05547
    """
    if isinstance(target, CoralTarget):
        if target.eps != eps:
            raise ValueError(
                f"eps={eps!r} differs from the eps={target.eps!r} the CoralTarget was built with"
            )
        stats = target
        d = stats.root.shape[-1]
        xs = _checks.check_samples(source, "source", min_samples=2)
        if xs.shape[1] != d:
            raise ValueError(
                f"source and target must have the same feature dimension, got shapes "
                f"{tuple(xs.shape)} and a CoralTarget of dimension {d}"
            )
        xs, _, dtype = _checks.half_to_float32(xs, xs)
        xs = xs.astype(jnp.result_type(xs.dtype, stats.root.dtype))
    else:
        xs, xt = _checks.check_pair(source, target, "source", "target")
        xs, xt, dtype = _checks.half_to_float32(xs, xt)
        stats = None
    _checks.check_positive(eps, "eps")
    if sizes.all_concrete(xs, eps, *([] if stats is not None else [xt])):
        if stats is None:
            stats = coral_target(xt, eps=eps)
        out = _coral_bucketed(xs, stats, eps, match_mean=bool(match_mean))
        return out.astype(dtype)
    if stats is None:
        return _coral_jit(xs, xt, eps, match_mean=bool(match_mean)).astype(dtype)
    return _source_jit(xs, stats.root, stats.mean, eps, match_mean=bool(match_mean)).astype(dtype)


@functools.partial(jax.jit, static_argnames=("match_mean",))
def _coral_jit(xs, xt, eps, *, match_mean):
    mu_t, root_t = _target_jit(xt, eps)[::-1]
    return _source_jit(xs, root_t, mu_t, eps, match_mean=match_mean)


@jax.jit
def _target_jit(xt, eps):
    """Target side under a trace: ``((C_t + eps I)^{1/2}, mean)``."""
    eye = jnp.eye(xt.shape[1], dtype=xt.dtype)
    return sym_matrix_power(covariance(xt) + eps * eye, 0.5), jnp.mean(xt, axis=0, keepdims=True)


@functools.partial(jax.jit, static_argnames=("match_mean",))
def _source_jit(xs, root_t, mu_t, eps, *, match_mean):
    eye = jnp.eye(xs.shape[1], dtype=xs.dtype)
    cs = covariance(xs) + eps * eye
    # The two products below are not cancellation-prone, so they use the default precision:
    # on XLA:CPU, HIGHEST here made the whole jitted function ~7x slower (measured, 5000x800).
    a = jnp.matmul(sym_matrix_power(cs, -0.5), root_t)
    if match_mean:
        return jnp.matmul(xs - jnp.mean(xs, axis=0, keepdims=True), a) + mu_t
    return jnp.matmul(xs, a)


def _masked_covariance(x, mask):
    """:func:`covariance` of the rows with ``mask`` 1 (padding rows have ``mask`` 0 and add
    exactly 0 to the centred product); the count ``n = sum(mask)`` is traced."""
    n = jnp.sum(mask)
    mu = jnp.sum(x * mask[:, None], axis=0, keepdims=True) / n
    xc = (x - mu) * mask[:, None]
    return jnp.matmul(xc.T, xc, precision=_HIGHEST) / (n - 1), mu


def _coral_bucketed(xs, stats, eps, *, match_mean):
    """:func:`coral` of a concrete source padded to a shape bucket (one compile per bucket)
    against precomputed target statistics; the padded output rows are dropped."""
    n = xs.shape[0]
    n_pad = sizes.bucket(n)
    out = _coral_padded_jit(
        sizes.pad_rows(xs, n_pad),
        sizes.row_mask(n, n_pad, xs.dtype),
        jnp.asarray(eps, xs.dtype),
        stats.root,
        stats.mean,
        match_mean=match_mean,
    )
    return out if n == n_pad else out[:n]


@jax.jit
def _target_padded_jit(xt, mt, eps):
    """Target side on a padded sample (``mt`` 1 on real rows): ``((C_t + eps I)^{1/2}, mean)``."""
    eye = jnp.eye(xt.shape[1], dtype=xt.dtype)
    ct, mu_t = _masked_covariance(xt, mt)
    return sym_matrix_power(ct + eps * eye, 0.5), mu_t


@functools.partial(jax.jit, static_argnames=("match_mean",))
def _coral_padded_jit(xs, ms, eps, root_t, mu_t, *, match_mean):
    """Source side on a padded sample (``ms`` 1 on real rows) with the target's root/mean."""
    eye = jnp.eye(xs.shape[1], dtype=xs.dtype)
    cs, mu_s = _masked_covariance(xs, ms)
    a = jnp.matmul(sym_matrix_power(cs + eps * eye, -0.5), root_t)
    if match_mean:
        return jnp.matmul(xs - mu_s, a) + mu_t
    return jnp.matmul(xs, a)


def coral_loss(source: jax.Array, target: jax.Array) -> jax.Array:
    """Deep CORAL loss: squared Frobenius distance of the feature covariances.

    .. math::
        \\ell_{\\mathrm{CORAL}} = \\frac{1}{4 d^2}\\,\\lVert C_s - C_t \\rVert_F^2,
        \\qquad C = \\tfrac{1}{n-1} (F - \\bar F)^\\top (F - \\bar F).

    Scaling differs between libraries; ours is the paper's Eq. 1 with centred, ``1/(n-1)``
    covariances (the paper's Eq. 2–3 form). TLlib/pytorch-adapt style implementations that use
    ``mean`` instead of a sum, or that also add a mean-difference term, differ from this by a
    constant factor or an extra term.

    Called eagerly, the samples are padded to size buckets with masked rows (one compiled
    program per bucket, as :func:`coral`); under a trace nothing is padded.

    Args:
      source: ``(n_s, d)`` source features, ``n_s >= 2``.
      target: ``(n_t, d)`` target features, ``n_t >= 2``.

    Returns:
      Scalar loss.

    Example:
      >>> import jax.numpy as jnp
      >>> from jtransfer import align
      >>> source = jnp.array([[0.0], [2.0]]); target = jnp.array([[0.0], [4.0]])
      >>> float(align.coral_loss(source, target))  # (2 - 8)^2 / (4 * 1^2)
      9.0

    References:
      Sun, Saenko, "Deep CORAL: Correlation Alignment for Deep Domain Adaptation", ECCV-W 2016,
      https://arxiv.org/abs/1607.01719
    """
    fs, ft = _checks.check_pair(source, target, "source", "target")
    if sizes.all_concrete(fs, ft):
        n, m = fs.shape[0], ft.shape[0]
        n_pad, m_pad = sizes.bucket(n), sizes.bucket(m)
        return _coral_loss_padded_jit(
            sizes.pad_rows(fs, n_pad),
            sizes.pad_rows(ft, m_pad),
            sizes.row_mask(n, n_pad, fs.dtype),
            sizes.row_mask(m, m_pad, fs.dtype),
        )
    return _coral_loss_jit(fs, ft)


@jax.jit
def _coral_loss_jit(fs, ft):
    d = fs.shape[1]
    diff = covariance(fs) - covariance(ft)
    return jnp.sum(diff * diff) / (4.0 * d * d)


@jax.jit
def _coral_loss_padded_jit(fs, ft, ms, mt):
    d = fs.shape[1]
    diff = _masked_covariance(fs, ms)[0] - _masked_covariance(ft, mt)[0]
    return jnp.sum(diff * diff) / (4.0 * d * d)

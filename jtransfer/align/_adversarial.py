"""Gradient reversal, the DANN schedules and the domain-adversarial loss (private module)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from jtransfer._core import checks as _checks
from jtransfer._core.types import PyTree, Scalar


@jax.custom_vjp
def _grl(x, scale):
    return x


def _grl_fwd(x, scale):
    return x, scale


def _grl_bwd(scale, g):
    flip = lambda t: (-scale).astype(t.dtype) * t
    return jax.tree.map(flip, g), jnp.zeros_like(scale)


_grl.defvjp(_grl_fwd, _grl_bwd)


def gradient_reversal(x: PyTree, scale: Scalar = 1.0) -> PyTree:
    """Gradient reversal layer: identity forward, gradient times ``-scale`` backward.

    .. math::
        R(x) = x, \\qquad \\frac{\\partial R}{\\partial x} = -\\lambda I .

    Put it between a feature extractor :math:`f` and a domain classifier :math:`d`: minimising
    the classifier loss :math:`L_d(d(R(f(x))))` over both parameter sets then *descends* in
    :math:`d` and *ascends* in :math:`f` (scaled by :math:`\\lambda`), the saddle point of
    DANN. Implemented with ``jax.custom_vjp``; ``x`` may be any pytree of float arrays,
    ``scale`` a Python float or a (traced) scalar, e.g. ``dann_lambda(step / total)``; no
    gradient flows into ``scale``.

    Args:
      x: array or pytree of float arrays.
      scale: :math:`\\lambda`, the reversal strength (scalar).

    Returns:
      ``x`` unchanged (same pytree).

    Raises:
      ValueError: ``scale`` is not a real number scalar (a string, ``None``, a bool, a complex
        number, an array of rank > 0) or (a value check) is NaN/Inf.

    References:
      Ganin & Lempitsky, "Unsupervised Domain Adaptation by Backpropagation", ICML 2015,
      https://arxiv.org/abs/1409.7495
    """
    given = scale
    try:
        scale = jnp.asarray(scale)
    except (TypeError, ValueError) as e:
        raise ValueError(
            f"scale must be a real number (the reversal strength lambda), got {given!r}"
        ) from e
    if scale.ndim != 0:
        raise ValueError(f"scale must be a scalar, got shape {tuple(scale.shape)}")
    if scale.dtype == jnp.bool_ or not (
        jnp.issubdtype(scale.dtype, jnp.floating) or jnp.issubdtype(scale.dtype, jnp.integer)
    ):
        raise ValueError(
            f"scale must be a real number (the reversal strength lambda), got "
            f"{given!r} of dtype {scale.dtype}"
        )
    if not jnp.issubdtype(scale.dtype, jnp.floating):
        scale = scale.astype(jnp.result_type(float))
    _checks.check_finite(scale, "scale")
    return _grl(x, scale)


def dann_lambda(progress: Scalar, *, gamma: float = 10.0) -> jax.Array:
    """DANN adaptation factor :math:`\\lambda_p = 2 / (1 + e^{-\\gamma p}) - 1`.

    Rises from 0 at :math:`p = 0` to about 1 at :math:`p = 1`, suppressing the noisy
    domain-classifier signal early in training.

    Args:
      progress: :math:`p \\in [0, 1]`, training progress (scalar or array; may be traced).
      gamma: :math:`\\gamma > 0` (10 in the paper).

    Returns:
      :math:`\\lambda_p`, same shape as ``progress``.

    References:
      Ganin et al., "Domain-Adversarial Training of Neural Networks", JMLR 2016,
      https://arxiv.org/abs/1505.07818 (Sec. 5.2.2)
    """
    _checks.check_positive(gamma, "gamma")
    p = jnp.asarray(progress)
    if not jnp.issubdtype(p.dtype, jnp.floating):
        p = p.astype(jnp.result_type(float))
    return 2.0 / (1.0 + jnp.exp(-gamma * p)) - 1.0


def dann_lambda_schedule(
    total_steps: int, *, gamma: float = 10.0, scale: float = 1.0
) -> optax.Schedule:
    """``step -> scale * dann_lambda(step / total_steps, gamma=gamma)`` as an optax schedule.

    Progress is clipped to ``[0, 1]``. See :func:`dann_lambda`.
    """
    _checks.check_positive_int(total_steps, "total_steps")
    _checks.check_positive(gamma, "gamma")

    def schedule(count):
        p = jnp.clip(jnp.asarray(count, jnp.result_type(float)) / total_steps, 0.0, 1.0)
        return scale * dann_lambda(p, gamma=gamma)

    return schedule


def dann_lr_schedule(
    init_value: float, *, total_steps: int, alpha: float = 10.0, beta: float = 0.75
) -> optax.Schedule:
    """DANN learning-rate annealing as an optax schedule.

    .. math:: \\mu_p = \\frac{\\mu_0}{(1 + \\alpha p)^{\\beta}}, \\qquad p = \\text{step} /
        \\text{total\\_steps} \\ (\\text{clipped to } [0, 1]).

    Args:
      init_value: :math:`\\mu_0 > 0` (0.01 in the paper).
      total_steps: number of steps at which :math:`p = 1` (positive int).
      alpha: :math:`\\alpha` (10 in the paper).
      beta: :math:`\\beta` (0.75 in the paper).

    Returns:
      An ``optax.Schedule`` (``step -> learning rate``), e.g. for
      ``optax.sgd(dann_lr_schedule(0.01, total_steps=10_000), momentum=0.9)``.

    References:
      Ganin et al., JMLR 2016, https://arxiv.org/abs/1505.07818 (Sec. 5.2.2)
    """
    _checks.check_positive(init_value, "init_value")
    _checks.check_positive_int(total_steps, "total_steps")
    if alpha < 0 or beta < 0:
        raise ValueError(f"alpha and beta must be non-negative, got alpha={alpha}, beta={beta}")

    def schedule(count):
        p = jnp.clip(jnp.asarray(count, jnp.result_type(float)) / total_steps, 0.0, 1.0)
        return init_value / (1.0 + alpha * p) ** beta

    return schedule


def _flat_logits(logits, name):
    z = _checks.as_float(logits, name)
    if z.ndim == 2 and z.shape[1] == 1:
        z = z[:, 0]
    if z.ndim != 1 or z.shape[0] < 1:
        raise ValueError(
            f"{name} must have shape (n,) or (n, 1) with n >= 1, got shape {tuple(z.shape)}"
        )
    _checks.check_finite(z, name)
    return z


def domain_adversarial_loss(
    logits_source: jax.Array, logits_target: jax.Array, *, weights_source: jax.Array | None = None
) -> jax.Array:
    """Binary cross-entropy of a domain classifier, source labelled 0 and target 1.

    .. math::
        L = \\tfrac12\\Big[\\frac{\\sum_i w_i\\,\\mathrm{softplus}(z^s_i)}{\\sum_i w_i}
          + \\frac1{n_t}\\sum_j \\mathrm{softplus}(-z^t_j)\\Big],

    where :math:`z` are logits of :math:`P(\\text{target} \\mid x)` and
    :math:`\\mathrm{softplus}(z) = -\\log(1 - \\sigma(z))` (stable form). The two domains are
    averaged separately and weighted equally (as TLlib's ``DomainAdversarialLoss``); with
    ``weights_source`` the source term is the self-normalised weighted mean (weights of any
    positive scale). Combine with :func:`gradient_reversal` on the features to train DANN.

    Args:
      logits_source: ``(n_s,)`` or ``(n_s, 1)`` domain logits of source examples.
      logits_target: ``(n_t,)`` or ``(n_t, 1)`` domain logits of target examples.
      weights_source: optional ``(n_s,)`` non-negative weights with a positive sum.

    Returns:
      Scalar loss (``log 2`` for an uninformative classifier, all logits 0).

    References:
      Ganin et al., JMLR 2016, https://arxiv.org/abs/1505.07818 (Eq. 9–10)
    """
    zs = _flat_logits(logits_source, "logits_source")
    zt = _flat_logits(logits_target, "logits_target")
    ls = jax.nn.softplus(zs)
    lt = jax.nn.softplus(-zt)
    if weights_source is None:
        src = jnp.mean(ls)
    else:
        w = _checks.check_weights(
            weights_source,
            "weights_source",
            zs.shape[0],
            f"logits_source of shape {tuple(jnp.shape(logits_source))}",
        )
        src = jnp.sum(w.astype(ls.dtype) * ls) / jnp.sum(w)
    return 0.5 * (src + jnp.mean(lt))

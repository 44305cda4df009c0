"""Hard and soft parameter sharing, the learned (empirical-Bayes) sharing strength, cross-stitch.

Pure functions of arrays and pytrees; the Flax NNX module forms live in ``_modules.py``.

Hard and soft sharing as MAP under a hierarchical Gaussian prior
-----------------------------------------------------------------
Give each task its own parameters :math:`\\theta_t` and tie them with
:math:`\\theta_t \\sim \\mathcal N(\\theta_0, \\sigma_t^2 I)`. The negative log posterior is

.. math::
   \\sum_t \\Big[L_t(\\theta_t) + \\frac{\\|\\theta_t - \\theta_0\\|^2}{2\\sigma_t^2}
   + D \\log \\sigma_t \\Big] + \\text{const}.

For fixed :math:`\\sigma_t` this is soft sharing with strength :math:`\\lambda_t = 1/\\sigma_t^2`
(:func:`soft_sharing_penalty`); :math:`\\sigma_t \\to 0` forces :math:`\\theta_t = \\theta_0`, i.e.
hard sharing; :math:`\\sigma_t \\to \\infty` gives independent tasks. Learning :math:`\\sigma_t`
needs the normaliser :math:`D\\log\\sigma_t`: without it the penalty is minimised by
:math:`\\sigma_t \\to \\infty` (no sharing). But *joint* MAP over :math:`(\\theta_t, \\sigma_t)`
is still degenerate: at :math:`\\sigma_t^2 = \\|\\Delta_t\\|^2/D` it equals
:math:`\\tfrac D2\\log\\|\\Delta_t\\|^2 \\to -\\infty` as :math:`\\Delta_t \\to 0`. The sound
estimator integrates :math:`\\theta_t` out (type-II maximum likelihood / empirical Bayes):
:func:`linear_marginal_nll` does this exactly for linear-Gaussian tasks (or linear heads on
fixed features) and :func:`laplace_marginal_nll` with a Laplace approximation for any model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jtransfer.mtl._validate import num_tasks_of

_HI = jax.lax.Precision.HIGHEST


# ---------------------------------------------------------------------------------------------
# Hard sharing


def _static_task_index(task, num_tasks: int) -> int | None:
    """Returns a Python int for a concrete task index (checking the range), None if traced."""
    if isinstance(task, jax.core.Tracer):
        return None
    arr = np.asarray(task)
    if arr.shape != () or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"task must be a scalar integer index, got {task!r} (shape {arr.shape})")
    idx = int(arr)
    if not 0 <= idx < num_tasks:
        raise ValueError(f"task index {idx} out of range for {num_tasks} tasks")
    return idx


def hard_sharing(trunk_apply: Callable, head_applies: Sequence[Callable] | Callable, *,
                 num_tasks: int | None = None) -> Callable:
    """Hard parameter sharing: one shared trunk, one head per task.

    .. math:: f_t(x) = h_t(\\phi_t; g(\\theta; x)),\\qquad
              \\mathcal L = \\sum_t w_t L_t\\big(f_t\\big) .

    Two head layouts:

    * a sequence of ``head_apply(head_params, z)`` callables (heads may differ):
      ``params = {"trunk": ..., "heads": (p_1, ..., p_T)}``;
    * one callable shared by all heads with ``num_tasks=T``: ``params["heads"]`` is a single
      pytree whose leaves have a leading task axis ``T`` (stacked heads). This layout indexes
      the head parameters dynamically, so it is cheap for many tasks (School has 139) and
      ``vmap`` over a traced task index costs one head evaluation, not T.

    Args:
      trunk_apply: ``trunk_apply(trunk_params, x) -> z``.
      head_applies: sequence of ``head_apply(head_params, z) -> output``, or one such callable
        (with ``num_tasks``) for stacked heads.
      num_tasks: number of tasks for the stacked layout; must be None for a sequence.

    Returns:
      ``apply(params, x, task=None)``. ``task`` may be a Python/NumPy int (range-checked,
      ``ValueError`` if out of range), a traced int32 scalar (``jax.lax.switch`` for a
      sequence of heads, so their output shapes must agree; a dynamic index for stacked heads;
      either way an out-of-range traced index is clamped), or ``None`` for all heads' outputs
      on the same ``x`` (a tuple, or an array with a leading ``T`` axis for stacked heads).
      ``apply.num_tasks`` holds ``T``.

    References:
      Caruana, "Multitask Learning", Machine Learning 1997,
      https://doi.org/10.1023/A:1007379606734 ; Ruder, "An Overview of Multi-Task Learning in
      Deep Neural Networks", 2017, https://arxiv.org/abs/1706.05098
    """
    if not callable(trunk_apply):
        raise ValueError("trunk_apply must be callable")
    stacked = callable(head_applies)
    if stacked:
        if num_tasks is None or num_tasks < 1:
            raise ValueError("stacked heads (one head_apply callable) need num_tasks >= 1, got "
                             f"{num_tasks!r}")
        head = head_applies
    else:
        heads = tuple(head_applies)
        if not heads:
            raise ValueError("head_applies must contain at least one head")
        if not all(callable(h) for h in heads):
            raise ValueError("every entry of head_applies must be callable")
        if num_tasks is not None and num_tasks != len(heads):
            raise ValueError(f"num_tasks={num_tasks} but {len(heads)} heads were given")
        num_tasks = len(heads)

    def check(params):
        if not isinstance(params, dict) or set(params) != {"trunk", "heads"}:
            raise ValueError("params must be a dict with keys 'trunk' and 'heads', got "
                             f"{type(params).__name__} with keys "
                             f"{sorted(params) if isinstance(params, dict) else None}")
        if stacked:
            num_tasks_of(params["heads"], "params['heads']")
            lead = {jnp.shape(l)[0] for l in jax.tree.leaves(params["heads"])}
            if lead != {num_tasks}:
                raise ValueError(f"stacked params['heads'] must have leading axis {num_tasks}, "
                                 f"got {sorted(lead)}")
        elif len(params["heads"]) != num_tasks:
            raise ValueError(f"params['heads'] has {len(params['heads'])} entries for "
                             f"{num_tasks} heads")

    def apply(params, x, task=None):
        check(params)
        head_params = params["heads"]
        z = trunk_apply(params["trunk"], x)
        if stacked:
            if task is None:
                return jax.vmap(head, in_axes=(0, None))(head_params, z)
            idx = _static_task_index(task, num_tasks)
            i = idx if idx is not None else jnp.clip(task, 0, num_tasks - 1)
            return head(jax.tree.map(lambda p: p[i], head_params), z)
        if task is None:
            return tuple(h(p, z) for h, p in zip(heads, head_params, strict=True))
        idx = _static_task_index(task, num_tasks)
        if idx is not None:
            return heads[idx](head_params[idx], z)
        branches = [lambda z, h=h, p=p: h(p, z) for h, p in zip(heads, head_params, strict=True)]
        return jax.lax.switch(task, branches, z)

    apply.num_tasks = num_tasks
    return apply


def task_losses(apply: Callable, loss_fn: Callable, params, xs: Sequence, ys: Sequence):
    """Per-task mean losses for ragged per-task data, :math:`L_t = \\ell(f_t(X_t), Y_t)`.

    Args:
      apply: ``apply(params, x, task)`` (e.g. from :func:`hard_sharing`).
      loss_fn: ``loss_fn(pred, y) -> scalar`` (a mean over the task's examples).
      params: parameters.
      xs, ys: sequences of length ``T`` of per-task inputs/targets (may differ in size).

    Returns:
      ``(T,)`` vector of losses.
    """
    if len(xs) != len(ys) or not xs:
        raise ValueError(f"xs and ys must be non-empty and of equal length, got {len(xs)} and "
                         f"{len(ys)}")
    num = getattr(apply, "num_tasks", len(xs))
    if len(xs) != num:
        raise ValueError(f"got data for {len(xs)} tasks but apply has {num} heads")
    for t, (x, y) in enumerate(zip(xs, ys, strict=True)):
        if jnp.shape(x)[0] == 0 or jnp.shape(y)[0] == 0:
            raise ValueError(f"task {t} has zero examples (x shape {jnp.shape(x)}, y shape "
                             f"{jnp.shape(y)})")
        if jnp.shape(x)[0] != jnp.shape(y)[0]:
            raise ValueError(f"task {t}: x has {jnp.shape(x)[0]} rows but y has "
                             f"{jnp.shape(y)[0]}")
    return jnp.stack([loss_fn(apply(params, x, t), y)
                      for t, (x, y) in enumerate(zip(xs, ys, strict=True))])


# ---------------------------------------------------------------------------------------------
# Soft sharing


def _deltas_sq(task_params, shared_params, name="task_params"):
    t = num_tasks_of(task_params, name)
    if jax.tree.structure(task_params) != jax.tree.structure(shared_params):
        raise ValueError(f"{name} structure {jax.tree.structure(task_params)} does not match "
                         f"shared_params structure {jax.tree.structure(shared_params)}")
    sq = 0.0
    dim = 0
    for p, s in zip(jax.tree.leaves(task_params), jax.tree.leaves(shared_params), strict=True):
        if jnp.shape(p)[1:] != jnp.shape(s):
            raise ValueError(f"{name} leaf shape {jnp.shape(p)} is not (T,) + shared leaf shape "
                             f"{jnp.shape(s)}")
        d = p - s[None]
        sq = sq + jnp.sum(jnp.reshape(d * d, (t, -1)), axis=1)
        dim += math.prod(jnp.shape(s))
    return t, sq, dim


def _per_task(value, t, name):
    value = jnp.asarray(value)
    if value.shape not in ((), (t,)):
        raise ValueError(f"{name} must be a scalar or have shape ({t},), got {value.shape}")
    return jnp.broadcast_to(value, (t,))


def soft_sharing_penalty(task_params, shared_params, strength) -> jax.Array:
    """L2 pull of every task's parameters toward a shared centre.

    .. math:: \\Omega = \\sum_t \\frac{\\lambda_t}{2} \\|\\theta_t - \\theta_0\\|^2 ,

    the negative log of :math:`\\mathcal N(\\theta_t; \\theta_0, \\lambda_t^{-1} I)` up to
    constants. :math:`\\lambda \\to \\infty` recovers hard sharing, :math:`\\lambda = 0`
    independent tasks. Minimising over :math:`\\theta_0` too gives the regularised MTL of
    Evgeniou & Pontil (2004).

    Args:
      task_params: pytree like ``shared_params`` with a leading task axis ``T`` on every leaf.
      shared_params: the centre :math:`\\theta_0`.
      strength: :math:`\\lambda \\ge 0`, scalar or ``(T,)``.

    Returns:
      Scalar penalty.

    References:
      Evgeniou & Pontil, "Regularized multi-task learning", KDD 2004,
      https://doi.org/10.1145/1014052.1014067 ; Duong et al., "Low Resource Dependency Parsing:
      Cross-lingual Parameter Sharing", ACL 2015, https://aclanthology.org/P15-2139/
    """
    t, sq, _ = _deltas_sq(task_params, shared_params)
    lam = _per_task(strength, t, "strength")
    if not isinstance(lam, jax.core.Tracer) and bool(jnp.any(lam < 0)):
        raise ValueError(f"strength must be non-negative, got {strength!r}")
    return 0.5 * jnp.sum(lam * sq)


def hierarchical_prior_nll(task_params, shared_params, log_sigma) -> jax.Array:
    """Negative log density of the hierarchical prior, log-normaliser included.

    The prior is :math:`\\theta_t \\sim \\mathcal N(\\theta_0, \\sigma_t^2 I)`:

    .. math::
       -\\log p(\\{\\theta_t\\} \\mid \\theta_0, \\sigma) = \\sum_t
       \\frac{\\|\\theta_t - \\theta_0\\|^2}{2\\sigma_t^2} + D\\log\\sigma_t
       + \\frac D2 \\log 2\\pi .

    The :math:`D\\log\\sigma_t` term is what stops learned :math:`\\sigma_t` from running to
    infinity. Do not minimise this jointly with :math:`\\theta_t` and :math:`\\sigma_t` by
    itself (the joint MAP is unbounded below at :math:`\\theta_t = \\theta_0,
    \\sigma_t \\to 0`); use :func:`laplace_marginal_nll` or :func:`linear_marginal_nll`.

    Args:
      task_params: stacked task parameters (leading ``T``).
      shared_params: :math:`\\theta_0`.
      log_sigma: scalar or ``(T,)``.

    Returns:
      Scalar.
    """
    t, sq, dim = _deltas_sq(task_params, shared_params)
    ls = _per_task(log_sigma, t, "log_sigma")
    return jnp.sum(0.5 * sq * jnp.exp(-2.0 * ls) + dim * ls + 0.5 * dim * math.log(2 * math.pi))


def laplace_marginal_nll(task_data_nll, task_params, shared_params, log_sigma,
                         curvature) -> jax.Array:
    """Laplace approximation of :math:`-\\sum_t\\log p(D_t \\mid \\theta_0, \\sigma_t)`.

    Around each task's mode :math:`\\hat\\theta_t` with data-NLL curvature
    :math:`H_t \\approx \\operatorname{diag}(h_t)`,

    .. math::
       -\\log p(D_t\\mid\\theta_0,\\sigma_t) \\approx \\ell_t(\\hat\\theta_t)
       + \\frac{\\|\\hat\\theta_t - \\theta_0\\|^2}{2\\sigma_t^2}
       + \\frac12 \\sum_i \\log\\big(1 + \\sigma_t^2 h_{t,i}\\big),

    i.e. the prior's normaliser :math:`D\\log\\sigma_t` combined with the Occam factor
    :math:`\\frac12\\log\\det(H_t + \\sigma_t^{-2} I)`. Unlike the joint MAP objective this is
    bounded below in :math:`\\sigma_t` and exact for linear-Gaussian tasks with diagonal
    :math:`X^\\top X`. Minimise over :math:`\\theta_t` (the mode), :math:`\\theta_0` and
    :math:`\\log\\sigma_t`; ``curvature`` is treated as data (e.g. a diagonal Fisher / GGN
    estimate at the current :math:`\\theta_t`, gradient stopped).

    Args:
      task_data_nll: ``(T,)`` data negative log-likelihoods :math:`\\ell_t(\\theta_t)` (summed
        over examples, not averaged).
      task_params: stacked task parameters.
      shared_params: :math:`\\theta_0`.
      log_sigma: ``(T,)`` or scalar.
      curvature: pytree like ``task_params`` of non-negative diagonal curvatures.

    Returns:
      Scalar.

    References:
      MacKay, "Bayesian Interpolation", Neural Computation 1992 ; Bakker & Heskes, "Task
      Clustering and Gating for Bayesian Multitask Learning", JMLR 2003,
      https://www.jmlr.org/papers/v4/bakker03a.html
    """
    t, sq, _ = _deltas_sq(task_params, shared_params)
    if jnp.shape(task_data_nll) != (t,):
        raise ValueError(f"task_data_nll must have shape ({t},), got {jnp.shape(task_data_nll)}")
    if jax.tree.structure(curvature) != jax.tree.structure(task_params):
        raise ValueError("curvature must have the same tree structure as task_params")
    ls = _per_task(log_sigma, t, "log_sigma")
    s2 = jnp.exp(2.0 * ls)
    occam = 0.0
    for h, p in zip(jax.tree.leaves(curvature), jax.tree.leaves(task_params), strict=True):
        if jnp.shape(h) != jnp.shape(p):
            raise ValueError(f"curvature leaf shape {jnp.shape(h)} != task_params leaf shape "
                             f"{jnp.shape(p)}")
        h = jax.lax.stop_gradient(jnp.maximum(h, 0.0)).reshape((t, -1))
        occam = occam + 0.5 * jnp.sum(jnp.log1p(s2[:, None] * h), axis=1)
    return jnp.sum(task_data_nll + 0.5 * sq / s2 + occam)


# ---------------------------------------------------------------------------------------------
# Exact empirical Bayes for linear-Gaussian tasks


def _check_linear(x, y, mask, shared_w):
    if jnp.ndim(x) != 3:
        raise ValueError(f"x must be (T, N, D), got shape {jnp.shape(x)}")
    t, n, d = jnp.shape(x)
    if jnp.shape(y) != (t, n):
        raise ValueError(f"y must be (T, N) = ({t}, {n}) to match x {jnp.shape(x)}, got "
                         f"{jnp.shape(y)}")
    if mask is None:
        mask = jnp.ones((t, n), x.dtype)
    if jnp.shape(mask) != (t, n):
        raise ValueError(f"mask must be (T, N) = ({t}, {n}), got {jnp.shape(mask)}")
    if not isinstance(mask, jax.core.Tracer):
        counts = np.asarray(mask).sum(axis=1)
        if np.any(counts <= 0):
            raise ValueError(f"tasks {np.nonzero(counts <= 0)[0].tolist()} have zero examples "
                             "(mask rows are all zero)")
    if jnp.shape(shared_w) != (d,):
        raise ValueError(f"shared_w must be (D,) = ({d},), got {jnp.shape(shared_w)}")
    mask = jnp.asarray(mask, x.dtype)
    return t, n, d, x * mask[..., None], y * mask, mask


def _linear_posterior(x, y, shared_w, log_sigma, log_noise):
    t, _, d = x.shape
    s2 = jnp.exp(2.0 * log_sigma)
    n2 = jnp.exp(2.0 * log_noise)
    r = y - jnp.einsum("tnd,d->tn", x, shared_w, precision=_HI)
    xtx = jnp.einsum("tnd,tne->tde", x, x, precision=_HI)
    prec = jnp.eye(d, dtype=x.dtype)[None] / s2[:, None, None] + xtx / n2[:, None, None]
    xtr = jnp.einsum("tnd,tn->td", x, r, precision=_HI) / n2[:, None]
    # Per task with lax.map rather than one batched call: jaxlib's CPU batched triangular
    # solve (ParallelBatchMap) was seen to deadlock its thread pool on a 2-core machine.
    def per_task(args):
        p, b = args
        c = jnp.linalg.cholesky(p)
        return c, jax.scipy.linalg.cho_solve((c, True), b[:, None])[:, 0]

    chol, delta = jax.lax.map(per_task, (prec, xtr))
    return r, xtr, chol, delta, s2, n2


def linear_marginal_nll(x, y, mask, shared_w, log_sigma, log_noise) -> jax.Array:
    """Exact negative log marginal likelihood of linear tasks under the hierarchical prior.

    Task :math:`t` has :math:`y_t = X_t\\theta_t + \\varepsilon`,
    :math:`\\varepsilon\\sim\\mathcal N(0, s_t^2 I)`, :math:`\\theta_t\\sim\\mathcal N(\\theta_0,
    \\sigma_t^2 I)`. Integrating :math:`\\theta_t` out,

    .. math::
       y_t \\sim \\mathcal N\\big(X_t\\theta_0,\\; \\sigma_t^2 X_tX_t^\\top + s_t^2 I\\big),

    evaluated in :math:`D \\times D` form (Woodbury / matrix determinant lemma) with
    :math:`A_t = \\sigma_t^{-2} I + s_t^{-2} X_t^\\top X_t`, :math:`r_t = y_t - X_t\\theta_0`:

    .. math::
       -\\log p(y_t) = \\tfrac12\\Big[\\frac{r_t^\\top r_t}{s_t^2}
       - \\frac{r_t^\\top X_t A_t^{-1} X_t^\\top r_t}{s_t^4}
       + n_t\\log s_t^2 + D\\log\\sigma_t^2 + \\log\\det A_t + n_t\\log 2\\pi\\Big].

    Minimising over :math:`(\\theta_0, \\log\\sigma_t, \\log s)` is empirical Bayes: the
    :math:`D\\log\\sigma_t^2 + \\log\\det A_t = \\log\\det(I + \\sigma_t^2 X_t^\\top X_t/s_t^2)`
    term (the normaliser plus the Occam factor) keeps :math:`\\sigma_t` finite for related
    tasks and the data term lets it grow for an unrelated task. Rows with ``mask = 0`` are
    padding (ragged tasks).

    Args:
      x: ``(T, N, D)`` padded inputs.
      y: ``(T, N)`` padded targets.
      mask: ``(T, N)`` 0/1 or None (all ones). A task with no examples is a ``ValueError``.
      shared_w: ``(D,)`` the shared mean :math:`\\theta_0`.
      log_sigma: ``(T,)`` or scalar, :math:`\\log\\sigma_t`.
      log_noise: ``(T,)`` or scalar, :math:`\\log s_t`.

    Returns:
      Scalar :math:`-\\sum_t\\log p(y_t\\mid X_t, \\theta_0, \\sigma_t, s_t)`.

    References:
      Bakker & Heskes, JMLR 2003, https://www.jmlr.org/papers/v4/bakker03a.html ; Bishop,
      "Pattern Recognition and Machine Learning", Sec. 3.5 (the evidence approximation).
    """
    t, n, d, x, y, mask = _check_linear(x, y, mask, shared_w)
    log_sigma = _per_task(log_sigma, t, "log_sigma")
    log_noise = _per_task(log_noise, t, "log_noise")
    r, xtr, chol, delta, s2, n2 = _linear_posterior(x, y, shared_w, log_sigma, log_noise)
    counts = jnp.sum(mask, axis=1)
    quad = jnp.sum(r * r, axis=1) / n2 - jnp.sum(xtr * delta, axis=1)
    logdet_a = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol, axis1=1, axis2=2)), axis=1)
    nll = 0.5 * (quad + counts * jnp.log(n2) + d * jnp.log(s2) + logdet_a
                 + counts * math.log(2 * math.pi))
    return jnp.sum(nll)


def linear_posterior_mean(x, y, mask, shared_w, log_sigma, log_noise) -> jax.Array:
    """Posterior mean task weights under the hierarchical prior (the soft-shared solution).

    .. math:: \\hat\\theta_t = \\theta_0 + A_t^{-1} X_t^\\top (y_t - X_t\\theta_0) / s_t^2 ,

    which is also the minimiser of :math:`\\frac{1}{2s_t^2}\\|y_t - X_t\\theta_t\\|^2 +
    \\frac{1}{2\\sigma_t^2}\\|\\theta_t - \\theta_0\\|^2` (ridge toward :math:`\\theta_0`).

    Args:
      x, y, mask, shared_w, log_sigma, log_noise: as in :func:`linear_marginal_nll`.

    Returns:
      ``(T, D)`` task weights.
    """
    t, _, _, x, y, _ = _check_linear(x, y, mask, shared_w)
    log_sigma = _per_task(log_sigma, t, "log_sigma")
    log_noise = _per_task(log_noise, t, "log_noise")
    *_, delta, _, _ = _linear_posterior(x, y, shared_w, log_sigma, log_noise)
    return shared_w[None] + delta


# ---------------------------------------------------------------------------------------------
# Cross-stitch


def cross_stitch_init(num_tasks: int, num_channels: int | None = None, *,
                      self_weight: float = 0.9, dtype=jnp.float32) -> jax.Array:
    """Cross-stitch matrix with ``self_weight`` on the diagonal, the rest spread evenly.

    Args:
      num_tasks: ``T``.
      num_channels: ``C`` for per-channel units (shape ``(C, T, T)``), None for ``(T, T)``.
      self_weight: diagonal value (Misra et al. use 0.9 with two tasks).
      dtype: dtype.

    Returns:
      ``(T, T)`` or ``(C, T, T)`` array whose rows sum to one.
    """
    if num_tasks < 1:
        raise ValueError(f"num_tasks must be >= 1, got {num_tasks}")
    off = (1.0 - self_weight) / max(num_tasks - 1, 1)
    a = jnp.full((num_tasks, num_tasks), off, dtype)
    a = a.at[jnp.diag_indices(num_tasks)].set(self_weight if num_tasks > 1 else 1.0)
    if num_channels is not None:
        a = jnp.broadcast_to(a, (num_channels, num_tasks, num_tasks))
    return a


def cross_stitch(alpha: jax.Array, features: jax.Array) -> jax.Array:
    """Cross-stitch unit: each task's activations become a learned mix of all tasks'.

    .. math:: \\tilde x_t = \\sum_s \\alpha_{ts}\\, x_s
              \\quad(\\text{per channel } c:
              \\tilde x_{t,\\cdot,c} = \\sum_s \\alpha_{c,t,s}\\, x_{s,\\cdot,c}).

    Args:
      alpha: ``(T, T)`` or ``(C, T, T)`` (per-channel) mixing weights.
      features: ``(T, ...)`` stacked task activations (channels last when ``alpha`` is 3-D).

    Returns:
      Array shaped like ``features``.

    References:
      Misra, Shrivastava, Gupta & Hebert, "Cross-stitch Networks for Multi-task Learning",
      CVPR 2016, https://arxiv.org/abs/1604.03539
    """
    fs = jnp.shape(features)
    if jnp.ndim(features) < 1:
        raise ValueError(f"features must have a leading task axis, got shape {fs}")
    t = fs[0]
    ash = jnp.shape(alpha)
    if ash == (t, t):
        return jnp.einsum("ts,s...->t...", alpha, features, precision=_HI)
    if len(ash) == 3 and ash[1:] == (t, t) and len(fs) >= 2 and fs[-1] == ash[0]:
        return jnp.einsum("cts,s...c->t...c", alpha, features, precision=_HI)
    raise ValueError(f"alpha shape {ash} does not fit features shape {fs}: expected ({t}, {t}) "
                     f"or (C, {t}, {t}) with C = features.shape[-1]")

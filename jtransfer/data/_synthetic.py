"""Generated task families and toy domain-shift problems that need no files.

* the MAML sinusoid regression family (pure ``jax.random``, jittable),
* random quadratics ``f(theta) = ||W theta - y||^2`` for learned optimizers,
* two moons with a rotated target (ADAPT "Two moons" protocol),
* the 1-D sample-selection-bias regression toy (ADAPT "Sample bias" protocol).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jtransfer._core.checks import check_positive_int
from jtransfer._core.extras import import_extra
from jtransfer._core.keys import default_key

__all__ = [
    "SinusoidInfo",
    "sample_sinusoid_tasks",
    "sample_quadratics",
    "two_moons",
    "sample_bias_regression",
    "bias_regression_function",
]


def _check_range(name: str, value) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be a pair (low, high); got {value!r}") from e
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi < lo:
        raise ValueError(f"{name} must be finite with low <= high; got {value!r}")
    return lo, hi


def _seed_from_key(key) -> int:
    """A NumPy/scikit-learn seed derived deterministically from a JAX key."""
    return int(jax.random.randint(key, (), 0, np.iinfo(np.int32).max))


class SinusoidInfo(NamedTuple):
    """Parameters of sampled sinusoid tasks."""

    amplitude: jax.Array  # (T,) float32
    phase: jax.Array  # (T,) float32


def sample_sinusoid_tasks(
    *,
    num_tasks: int,
    num_support: int,
    num_query: int,
    amplitude: tuple[float, float] = (0.1, 5.0),
    phase: tuple[float, float] = (0.0, math.pi),
    x_range: tuple[float, float] = (-5.0, 5.0),
    key: jax.Array | None = None,
) -> tuple[tuple[jax.Array, jax.Array], tuple[jax.Array, jax.Array], SinusoidInfo]:
    r"""Samples regression tasks from the MAML sinusoid family.

    Each task ``t`` draws an amplitude and a phase, then support and query inputs
    independently and uniformly:

    .. math::
        A_t \sim U[a_0, a_1], \quad \varphi_t \sim U[p_0, p_1], \quad
        x \sim U[x_0, x_1], \quad y = A_t \sin(x - \varphi_t).

    Pure ``jax.random``: deterministic per key and usable inside ``jax.jit`` (the counts
    are static Python ints).

    Args:
      num_tasks: number of tasks ``T``.
      num_support: support points per task ``K``.
      num_query: query points per task ``Q``.
      amplitude: ``(low, high)`` of the uniform amplitude distribution.
      phase: ``(low, high)`` of the uniform phase distribution.
      x_range: ``(low, high)`` of the uniform input distribution.
      key: a ``jax.random`` key (``None``: ``jax.random.key(0)``).

    Returns:
      ``(support, query, info)``: ``support = (x, y)`` with shapes ``(T, K, 1)``,
      ``query = (x, y)`` with shapes ``(T, Q, 1)``, ``info = SinusoidInfo(amplitude,
      phase)`` each of shape ``(T,)``; all float32.

    References:
      Finn, Abbeel, Levine, "Model-Agnostic Meta-Learning for Fast Adaptation of Deep
      Networks", ICML 2017, Sec. 5.1. https://arxiv.org/abs/1703.03400
    """
    num_tasks = check_positive_int(num_tasks, "num_tasks")
    num_support = check_positive_int(num_support, "num_support")
    num_query = check_positive_int(num_query, "num_query")
    a0, a1 = _check_range("amplitude", amplitude)
    p0, p1 = _check_range("phase", phase)
    x0, x1 = _check_range("x_range", x_range)
    k_amp, k_phase, k_x = jax.random.split(default_key(key), 3)
    amp = jax.random.uniform(k_amp, (num_tasks,), minval=a0, maxval=a1)
    ph = jax.random.uniform(k_phase, (num_tasks,), minval=p0, maxval=p1)
    x = jax.random.uniform(k_x, (num_tasks, num_support + num_query, 1), minval=x0, maxval=x1)
    y = amp[:, None, None] * jnp.sin(x - ph[:, None, None])
    support = (x[:, :num_support], y[:, :num_support])
    query = (x[:, num_support:], y[:, num_support:])
    return support, query, SinusoidInfo(amp, ph)


def sample_quadratics(
    *, num_functions: int, dim: int = 10, key: jax.Array | None = None
) -> tuple[jax.Array, jax.Array]:
    r"""Samples random quadratic objectives for learned-optimizer training.

    .. math::
        f_i(\theta) = \lVert W_i \theta - y_i \rVert_2^2, \qquad
        (W_i)_{jk} \sim \mathcal N(0, 1),\ (y_i)_j \sim \mathcal N(0, 1)\ \text{i.i.d.}

    Args:
      num_functions: number of functions ``F``.
      dim: dimension ``d`` of ``theta`` (10 in the paper).
      key: a ``jax.random`` key (``None``: ``jax.random.key(0)``).

    Returns:
      ``(W, y)`` with shapes ``(F, d, d)`` and ``(F, d)``, float32.

    References:
      Andrychowicz et al., "Learning to learn by gradient descent by gradient descent",
      NeurIPS 2016, Sec. 3.1. https://arxiv.org/abs/1606.04474
    """
    num_functions = check_positive_int(num_functions, "num_functions")
    dim = check_positive_int(dim, "dim")
    k_w, k_y = jax.random.split(default_key(key))
    w = jax.random.normal(k_w, (num_functions, dim, dim))
    y = jax.random.normal(k_y, (num_functions, dim))
    return w, y


def _rotation_matrix(angle_degrees: float) -> np.ndarray:
    t = np.deg2rad(angle_degrees)
    return np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])


def two_moons(
    *,
    angle: float = 30.0,
    n_samples: int = 100,
    noise: float = 0.05,
    shift: float = -0.5,
    key: jax.Array | None = None,
) -> dict[str, np.ndarray]:
    r"""Two moons with a rotated target domain (the ADAPT "Two moons" protocol).

    Source: ``sklearn.datasets.make_moons(n_samples, noise)`` with the first coordinate
    shifted by ``shift`` (so the moons are centred horizontally). Target: the same points
    rotated counter-clockwise by ``angle`` degrees about the origin, same labels:

    .. math::
        x_t = R(\alpha)\, x_s, \qquad R(\alpha) = \begin{pmatrix}\cos\alpha & -\sin\alpha
        \\ \sin\alpha & \cos\alpha\end{pmatrix}.

    Args:
      key: a ``jax.random`` key (seeds scikit-learn); ``None`` means ``jax.random.key(0)``.
      angle: rotation of the target in degrees (30 in the ADAPT example).
      n_samples: number of points per domain.
      noise: standard deviation of the Gaussian noise of ``make_moons``.
      shift: added to the first coordinate of the source before rotating.

    Returns:
      dict with ``xs`` (n, 2) float32, ``ys`` (n,) int32, ``xt`` (n, 2) float32,
      ``yt`` (n,) int32.

    References:
      ADAPT documentation, example "Two moons" (de Mathelin et al., "ADAPT: Awesome
      Domain Adaptation Python Toolbox", 2021). https://arxiv.org/abs/2107.03049
    """
    make_moons = import_extra("sklearn.datasets", "data", "jtransfer.data.two_moons").make_moons

    n_samples = check_positive_int(n_samples, "n_samples")
    if not (math.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be finite and >= 0; got {noise!r}")
    seed = _seed_from_key(default_key(key))
    xs, ys = make_moons(n_samples=n_samples, noise=noise, random_state=seed)
    xs = xs.copy()
    xs[:, 0] += shift
    xt = xs @ _rotation_matrix(angle).T
    return {
        "xs": xs.astype(np.float32),
        "ys": ys.astype(np.int32),
        "xt": xt.astype(np.float32),
        "yt": ys.astype(np.int32),
    }


def bias_regression_function(x: jax.Array | np.ndarray) -> jax.Array | np.ndarray:
    r"""The true function of the sample-bias toy: :math:`x^4 e^{-x^2} + x^2 (1 - e^{-x^2})`."""
    xp = jnp if isinstance(x, jax.Array) else np
    e = xp.exp(-(x**2))
    return x**4 * e + x**2 * (1.0 - e)


def sample_bias_regression(
    *,
    n_source: int = 100,
    n_target: int = 100,
    noise: float = 0.1,
    source_std: float = 0.5,
    target_range: tuple[float, float] = (-1.5, 1.5),
    key: jax.Array | None = None,
) -> dict[str, np.ndarray | Callable]:
    r"""1-D covariate-shift regression toy (the ADAPT "Sample bias" protocol).

    .. math::
        f(x) = x^4 e^{-x^2} + x^2 (1 - e^{-x^2}), \quad y = f(x) + 0.1\,\varepsilon,
        \quad \varepsilon \sim \mathcal N(0, 1),

    with source inputs :math:`x \sim \mathcal N(0, 0.5^2)` and target inputs
    :math:`x \sim U(-1.5, 1.5)`. The conditional :math:`p(y|x)` is shared; only
    :math:`p(x)` shifts, so importance weighting by :math:`p_t(x)/p_s(x)` applies.

    Args:
      key: a ``jax.random`` key; ``None`` means ``jax.random.key(0)``.
      n_source: number of source points (100 in the example).
      n_target: number of target points (100 in the example).
      noise: standard deviation of the additive label noise.
      source_std: standard deviation of the source input distribution.
      target_range: ``(low, high)`` of the uniform target input distribution.

    Returns:
      dict with ``xs`` (n_source, 1), ``ys`` (n_source,), ``xt`` (n_target, 1),
      ``yt`` (n_target,) as float32 NumPy arrays, and ``f``, the noise-free true
      function (works on NumPy and JAX arrays).

    References:
      ADAPT documentation, example "Sample bias" (de Mathelin et al. 2021).
      https://arxiv.org/abs/2107.03049
    """
    n_source = check_positive_int(n_source, "n_source")
    n_target = check_positive_int(n_target, "n_target")
    lo, hi = _check_range("target_range", target_range)
    if not (math.isfinite(source_std) and source_std > 0):
        raise ValueError(f"source_std must be positive; got {source_std!r}")
    if not (math.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be finite and >= 0; got {noise!r}")
    k_xs, k_xt, k_es, k_et = jax.random.split(default_key(key), 4)
    xs = source_std * jax.random.normal(k_xs, (n_source, 1))
    xt = jax.random.uniform(k_xt, (n_target, 1), minval=lo, maxval=hi)
    ys = bias_regression_function(xs[:, 0]) + noise * jax.random.normal(k_es, (n_source,))
    yt = bias_regression_function(xt[:, 0]) + noise * jax.random.normal(k_et, (n_target,))
    out = {k: np.asarray(v, np.float32) for k, v in dict(xs=xs, ys=ys, xt=xt, yt=yt).items()}
    out["f"] = bias_regression_function
    return out

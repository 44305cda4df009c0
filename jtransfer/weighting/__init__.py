"""jtransfer.weighting: instance weighting for covariate shift, w(x) = q(x) / p(x).

P is the source (training) distribution, Q the target. With weights on the source sample,
``weighted_mean(loss_source, w)`` estimates the target risk (:math:`E_P[w\\ell] = E_Q[\\ell]`).

Estimators (all return weights for the source sample; those with a model also evaluate it at
new points — every result has ``.weights``):

* :func:`from_domain_classifier` — from a domain classifier's probabilities (array).
* :func:`kde_ratio` — ratio of kernel density estimates (:class:`KDERatio`, ``.predict``);
  :func:`kde_log_ratio` — the same in log space (no underflow).
* :func:`kmm` — kernel mean matching, a QP solved in JAX (:class:`KMMResult`).
* :func:`kliep` — KLIEP with likelihood-CV bandwidth selection (:class:`DensityRatio`).
* :func:`ulsif` — uLSIF in closed form with analytic LOO selection (:class:`DensityRatio`).
* :func:`weighted_mean`, :func:`effective_sample_size`.

Kernels follow :func:`jtransfer.align.gaussian_kernel` (σ convention, ``"median"``).

Example:
  >>> import jax
  >>> from jtransfer import weighting
  >>> ks, kt = jax.random.split(jax.random.key(0))
  >>> xs = jax.random.normal(ks, (200, 2)); xt = 0.7 * jax.random.normal(kt, (200, 2)) + 0.5
  >>> fit = weighting.ulsif(xs, xt, bandwidth=1.0, lam=0.01)
  >>> fit.weights.shape, fit.predict(xt[:5]).shape
  ((200,), (5,))
"""

from jtransfer.weighting._kliep import kliep
from jtransfer.weighting._kmm import kmm
from jtransfer.weighting._results import DensityRatio, KDERatio, KMMResult
from jtransfer.weighting._simple import (
    effective_sample_size,
    from_domain_classifier,
    kde_log_ratio,
    kde_ratio,
    weighted_mean,
)
from jtransfer.weighting._ulsif import ulsif

__all__ = [
    "DensityRatio",
    "KDERatio",
    "KMMResult",
    "effective_sample_size",
    "from_domain_classifier",
    "kde_log_ratio",
    "kde_ratio",
    "kliep",
    "kmm",
    "ulsif",
    "weighted_mean",
]

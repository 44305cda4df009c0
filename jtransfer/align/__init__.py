"""jtransfer.align: feature-space alignment and adversarial domain adaptation.

Pure functions of arrays, ``jit``/``vmap``/``grad``-safe, float32 and float64.

* Kernels: :func:`gaussian_kernel` (one :math:`\\sigma` convention,
  :math:`k = \\exp(-\\lVert x-y\\rVert^2 / 2\\sigma^2)`), :func:`median_bandwidth`,
  :func:`resolve_bandwidth` (a bandwidth spec to sigmas), :func:`pairwise_sq_dists`,
  :func:`covariance` (used by ``weighting`` and ``select`` too).
* Discrepancies: :func:`mmd2` (biased / unbiased / linear, importance-weighted),
  :func:`mk_mmd_weights` (DAN's optimal multi-kernel weights), :func:`coral_loss`.
* Closed-form alignment: :func:`coral` (:func:`coral_target` computes the target side once
  for many sources).
* Adversarial: :func:`gradient_reversal`, :func:`domain_adversarial_loss`, :func:`dann_lambda`,
  :func:`dann_lambda_schedule`, :func:`dann_lr_schedule`.

Value checks (NaN/Inf, non-positive hyperparameters) run on concrete inputs and are skipped
under ``jit`` tracing; shape checks always run at trace time.
"""

from jtransfer.align._adversarial import (
    dann_lambda,
    dann_lambda_schedule,
    dann_lr_schedule,
    domain_adversarial_loss,
    gradient_reversal,
)
from jtransfer.align._coral import CoralTarget, coral, coral_loss, coral_target, covariance
from jtransfer.align._kernels import (
    gaussian_kernel,
    median_bandwidth,
    pairwise_sq_dists,
    resolve_bandwidth,
)
from jtransfer.align._mmd import mk_mmd_weights, mmd2
from jtransfer.align._multi import mmd2_multi

__all__ = [
    "CoralTarget",
    "coral",
    "coral_target",
    "coral_loss",
    "covariance",
    "dann_lambda",
    "dann_lambda_schedule",
    "dann_lr_schedule",
    "domain_adversarial_loss",
    "gaussian_kernel",
    "median_bandwidth",
    "mk_mmd_weights",
    "mmd2",
    "pairwise_sq_dists",
    "resolve_bandwidth",
    "gradient_reversal",
    "mmd2_multi",
]

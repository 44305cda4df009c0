"""jtransfer.mtl: multi-task learning.

Parameter sharing (:func:`hard_sharing`, :func:`soft_sharing_penalty`, the hierarchical
Gaussian prior with learned strength :func:`hierarchical_prior_nll`,
:func:`laplace_marginal_nll`, :func:`linear_marginal_nll`, cross-stitch units; the NNX module
forms are ``jtransfer.models.HardSharingNet`` and ``jtransfer.models.CrossStitch``), loss
weighting (equal, uncertainty, DWA, GradNorm) and gradient aggregators over stacked per-task
gradients (PCGrad, MGDA / MGDA-UB, CAGrad, IMTL-G).

Aggregators and stateful loss weightings are ``optax.GradientTransformationExtraArgs`` whose
``update`` takes stacked per-task gradients (every leaf has a leading task axis ``T``) and
returns one update without the task axis, so ``optax.chain(mtl.pcgrad(), optax.adam(1e-3))``
is an optimizer; loss weightings also take the task losses as ``update(..., losses=...)``.
"""

from jtransfer.mtl._aggregate import (
    PCGradState,
    cagrad,
    equal_aggregate,
    imtl_g,
    mgda,
    pcgrad,
    pcgrad_project,
)
from jtransfer.mtl._coefficients import (
    cagrad_weights,
    imtl_g_weights,
    mgda_ub_weights,
    min_norm_weights,
    pcgrad_coefficients,
)
from jtransfer.mtl._cross_stitch import cross_stitch, cross_stitch_init
from jtransfer.mtl._gram import combine, per_task_grads, task_gram
from jtransfer.mtl._hard import hard_sharing, task_losses
from jtransfer.mtl._linear_bayes import linear_marginal_nll, linear_posterior_mean
from jtransfer.mtl._soft import hierarchical_prior_nll, laplace_marginal_nll, soft_sharing_penalty
from jtransfer.mtl._weighting import (
    DWAState,
    GradNormState,
    UncertaintyState,
    dwa,
    equal_weights,
    gradnorm,
    uncertainty_weighted_loss,
    uncertainty_weighting,
    weighted_loss,
)

__all__ = [
    # sharing
    "hard_sharing",
    "task_losses",
    "soft_sharing_penalty",
    "hierarchical_prior_nll",
    "laplace_marginal_nll",
    "linear_marginal_nll",
    "linear_posterior_mean",
    "cross_stitch",
    "cross_stitch_init",
    # loss weighting
    "weighted_loss",
    "equal_weights",
    "uncertainty_weighted_loss",
    "uncertainty_weighting",
    "UncertaintyState",
    "dwa",
    "DWAState",
    "gradnorm",
    "GradNormState",
    # gradient aggregation
    "per_task_grads",
    "task_gram",
    "combine",
    "equal_aggregate",
    "pcgrad",
    "PCGradState",
    "pcgrad_coefficients",
    "pcgrad_project",
    "mgda",
    "min_norm_weights",
    "mgda_ub_weights",
    "cagrad",
    "cagrad_weights",
    "imtl_g",
    "imtl_g_weights",
]

"""jtransfer.mtl: multi-task learning.

Parameter sharing (:func:`hard_sharing`, :class:`HardSharingNet`, :func:`soft_sharing_penalty`,
the hierarchical Gaussian prior with learned strength :func:`hierarchical_prior_nll`,
:func:`laplace_marginal_nll`, :func:`linear_marginal_nll`, cross-stitch units), loss weighting
(equal, uncertainty, DWA, GradNorm) and gradient aggregators over stacked per-task gradients
(PCGrad, MGDA / MGDA-UB, CAGrad, IMTL-G) as optax-style factories.
"""

from jtransfer.mtl._aggregate import (
    Aggregator,
    PCGradState,
    cagrad,
    cagrad_weights,
    combine,
    equal_aggregate,
    imtl_g,
    imtl_g_weights,
    mgda,
    mgda_ub_weights,
    min_norm_weights,
    pcgrad,
    pcgrad_coefficients,
    pcgrad_project,
    per_task_grads,
    task_gram,
)
from jtransfer.mtl._modules import CrossStitch, HardSharingNet
from jtransfer.mtl._sharing import (
    cross_stitch,
    cross_stitch_init,
    hard_sharing,
    hierarchical_prior_nll,
    laplace_marginal_nll,
    linear_marginal_nll,
    linear_posterior_mean,
    soft_sharing_penalty,
    task_losses,
)
from jtransfer.mtl._weighting import (
    DWAState,
    GradNormState,
    LossWeighting,
    dwa,
    equal_weights,
    gradnorm,
    uncertainty_weighted_loss,
    weighted_loss,
)

__all__ = [
    # sharing
    "hard_sharing", "HardSharingNet", "task_losses", "soft_sharing_penalty",
    "hierarchical_prior_nll", "laplace_marginal_nll", "linear_marginal_nll",
    "linear_posterior_mean", "cross_stitch", "cross_stitch_init", "CrossStitch",
    # loss weighting
    "weighted_loss", "equal_weights", "uncertainty_weighted_loss", "dwa", "DWAState",
    "gradnorm", "GradNormState", "LossWeighting",
    # gradient aggregation
    "Aggregator", "per_task_grads", "task_gram", "combine", "equal_aggregate",
    "pcgrad", "PCGradState", "pcgrad_coefficients", "pcgrad_project",
    "mgda", "min_norm_weights", "mgda_ub_weights", "cagrad", "cagrad_weights",
    "imtl_g", "imtl_g_weights",
]

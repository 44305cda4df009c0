"""Flax NNX models and the functional adapter used at the model boundary.

See :mod:`jtransfer.models._functional` for how batch norm behaves in the pure form.
"""

from jtransfer.models._functional import functional, with_params
from jtransfer.models._modules import MLP, Conv4, ConvBlock, DomainDiscriminator, LeNet

__all__ = ["MLP", "Conv4", "ConvBlock", "LeNet", "DomainDiscriminator", "functional",
           "with_params"]

"""Flax NNX models and the functional adapter used at the model boundary.

``HardSharingNet`` and ``CrossStitch`` are the module forms of :mod:`jtransfer.mtl`'s pure
``hard_sharing`` and ``cross_stitch`` (this file imports ``jtransfer.mtl``; ``mtl`` imports no
model).

See :mod:`jtransfer.models._functional` for how batch norm behaves in the pure form.
"""

from jtransfer.models._functional import functional, with_params
from jtransfer.models._modules import MLP, Conv4, ConvBlock, DomainDiscriminator, LeNet
from jtransfer.models._multitask import CrossStitch, HardSharingNet

__all__ = ["MLP", "Conv4", "ConvBlock", "LeNet", "DomainDiscriminator", "HardSharingNet",
           "CrossStitch", "functional", "with_params"]

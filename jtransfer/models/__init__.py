"""Flax NNX models and the functional adapter used at the model boundary.

See :mod:`jtransfer.models._functional` for how batch norm behaves in the pure form, and
:mod:`jtransfer.models._features` for cached, resumable feature extraction from an encoder
(:func:`extract_features`, :func:`params_hash`).
"""

from jtransfer.models._features import extract_features, params_hash
from jtransfer.models._functional import functional, with_params
from jtransfer.models._modules import MLP, Conv4, ConvBlock, DomainDiscriminator, LeNet

__all__ = ["MLP", "Conv4", "ConvBlock", "LeNet", "DomainDiscriminator", "extract_features",
           "functional", "params_hash", "with_params"]

"""Flax NNX models and the functional adapter used at the model boundary.

See :mod:`jtransfer.models._functional` for how batch norm behaves in the pure form,
:mod:`jtransfer.models._bert` / :mod:`jtransfer.models._pretrained` for the BERT-family text
encoder and how Hugging Face checkpoint folders are loaded, and
:mod:`jtransfer.models._features` for cached, resumable feature extraction from an encoder
(:func:`extract_features`, :func:`params_hash`, :func:`texts_hash`). ``HardSharingNet`` and
``CrossStitch`` are the module forms of :mod:`jtransfer.mtl`'s pure ``hard_sharing`` and
``cross_stitch`` (this file imports ``jtransfer.mtl``; ``mtl`` imports no model).
"""

from jtransfer.models._bert import BertConfig, BertEncoder, EncoderOutput, l2_normalize, mean_pool
from jtransfer.models._features import extract_features, params_hash, texts_hash
from jtransfer.models._functional import chunked, functional, with_params
from jtransfer.models._modules import MLP, Conv4, ConvBlock, DomainDiscriminator, LeNet
from jtransfer.models._multitask import CrossStitch, HardSharingNet
from jtransfer.models._pretrained import checkpoint_dir, load_pretrained, verify_checkpoint_files
from jtransfer.models._tokenizer import TextTokenizer, load_tokenizer

__all__ = [
    "MLP",
    "BertConfig",
    "BertEncoder",
    "Conv4",
    "ConvBlock",
    "CrossStitch",
    "DomainDiscriminator",
    "EncoderOutput",
    "HardSharingNet",
    "LeNet",
    "TextTokenizer",
    "checkpoint_dir",
    "chunked",
    "extract_features",
    "functional",
    "l2_normalize",
    "load_pretrained",
    "load_tokenizer",
    "mean_pool",
    "params_hash",
    "texts_hash",
    "verify_checkpoint_files",
    "with_params",
]

"""jtransfer: a functional JAX library for transfer learning.

Subpackages (see docs in each): ``align`` (MMD, CORAL, gradient reversal, DANN),
``weighting`` (density ratios for covariate shift), ``meta`` (MAML and relatives),
``lopt`` (learned optimizers as optax transforms), ``mtl`` (multi-task learning),
``select`` (transferability and model selection), ``ops`` (compute rewrites such as
convolutions as matmuls), ``models`` (Flax NNX models and the
functional adapter), ``data`` (TFDS builders, embedded datasets, samplers), ``train``
(checkpoints, metrics, progress, plots) and ``parallel`` (meshes and sharded steps).
"""

import importlib as _importlib

__version__ = "0.1.0"

_SUBPACKAGES = (
    "align", "weighting", "meta", "lopt", "mtl", "select",
    "ops", "models", "data", "train", "parallel",
)

__all__ = list(_SUBPACKAGES)


def __getattr__(name):  # lazy: `import jtransfer` stays cheap; `jtransfer.align` imports on use
    if name in _SUBPACKAGES:
        module = _importlib.import_module(f"jtransfer.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'jtransfer' has no attribute {name!r}")

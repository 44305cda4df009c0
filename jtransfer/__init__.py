"""jtransfer: a functional JAX library for transfer learning.

Subpackages (see docs in each): ``align`` (MMD, CORAL, gradient reversal, DANN),
``weighting`` (density ratios for covariate shift), ``meta`` (MAML and relatives),
``lopt`` (learned optimizers as optax transforms), ``mtl`` (multi-task learning),
``select`` (transferability and model selection), ``adapters`` (LoRA on params
pytrees), ``ops`` (compute rewrites such as convolutions as matmuls), ``models`` (Flax NNX
models, the functional adapter, the BERT-family encoder, feature extraction),
``data`` (TFDS builders, embedded datasets, samplers), ``train`` (checkpoints, metrics,
progress, plots), ``parallel`` (meshes and sharded steps) and ``recipes`` (end-to-end
domain adaptation on your own arrays).

Conventions shared by every subpackage (helpers in the private ``jtransfer._core``):

* **Random keys**: a function that draws randomness takes a keyword-only
  ``key: jax.Array | None = None``; ``None`` means the fixed ``jax.random.key(0)`` (as
  ott-jax's ``rng``), so calls are reproducible by default. Protocol callables whose only
  input is randomness keep a positional key (``init(key)``, ``task_family(key)``, a sampler's
  ``sample(key, n)``), as in optax/flax/learned_optimization.
* **Domains**: the two domains are ``source`` and ``target`` (``mmd2(source, target)``,
  ``coral(source, target)``); arrays of one domain take the suffix ``_source`` / ``_target``
  (``weights_source``, ``logits_target``).
* **Errors**: shape checks raise ``ValueError`` at trace time naming the argument and its
  shape; value checks (NaN/Inf, signs) run on concrete inputs and are skipped under ``jit``
  unless debug checks are on: :func:`debug_checks` (or ``JTRANSFER_DEBUG_CHECKS=1``) turns
  them into ``checkify`` checks, and :func:`checked` wraps a function so that they raise the
  same ``ValueError`` under ``jit``.
"""

import importlib as _importlib

__version__ = "0.1.0"

_SUBPACKAGES = (
    "align",
    "weighting",
    "meta",
    "lopt",
    "mtl",
    "select",
    "adapters",
    "ops",
    "models",
    "data",
    "train",
    "parallel",
    "recipes",
)

_CHECK_TOOLS = ("debug_checks", "checked")

__all__ = [*_SUBPACKAGES, *_CHECK_TOOLS]


def __getattr__(name):  # lazy: `import jtransfer` stays cheap; `jtransfer.align` imports on use
    if name in _SUBPACKAGES:
        module = _importlib.import_module(f"jtransfer.{name}")
        globals()[name] = module
        return module
    if name in _CHECK_TOOLS:
        value = getattr(_importlib.import_module("jtransfer._core.checks"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'jtransfer' has no attribute {name!r}")

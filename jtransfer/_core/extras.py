"""Optional dependencies: import one, or say which ``pip install 'jtransfer[extra]'`` brings it.

The core install (``pip install jtransfer``) has jax, flax, optax, chex, numpy and scipy: enough
for ``align``, ``weighting``, ``meta``, ``lopt``, ``mtl``, ``select``, ``adapters``, ``ops``,
``models`` and ``parallel``. The rest lives in extras (``pyproject.toml``):

* ``data``: tensorflow-datasets, array_record, importlib_resources, h5py, scikit-learn
  (``data.load``/``data.build``, the sklearn digits and two moons);
* ``train``: orbax-checkpoint, tensorboardX, matplotlib, tqdm, ml_collections, absl-py,
  scikit-learn (``jtransfer.train``, ``jtransfer.recipes``, ``lopt.save_theta``);
* ``lm``: safetensors, tokenizers (``models.load_pretrained``, ``models.load_tokenizer``).
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType


def import_extra(module: str, extra: str, what: str) -> ModuleType:
    """Import ``module``; if it (or a dependency of it) is missing, say which extra to install.

    Args:
      module: dotted module name, e.g. ``"tensorflow_datasets"`` or ``"sklearn.datasets"``.
      extra: the ``pyproject.toml`` extra that installs it (``"data"``, ``"train"``, ``"lm"``).
      what: the jtransfer feature that needs it, for the message (``"jtransfer.data.load"``).

    Returns:
      The imported module.

    Raises:
      ImportError: the module cannot be imported; the message names ``what``, the module and
        ``pip install 'jtransfer[<extra>]'`` (the original error is chained).

    Example:
      >>> from jtransfer._core.extras import import_extra
      >>> import_extra("math", "data", "an example").sqrt(4.0)
      2.0
    """
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(
            f"{what} needs the optional dependency {module!r}, which could not be imported "
            f"({e}). Install it with: pip install 'jtransfer[{extra}]' "
            f"(or 'jtransfer[all]' for everything)."
        ) from e


def require_extra(extra: str, what: str, *modules: str) -> None:
    """Check that ``modules`` are installed (without importing them), else say which extra.

    Args:
      extra: the ``pyproject.toml`` extra that installs them.
      what: the jtransfer feature that needs them, for the message.
      *modules: dotted module names.

    Raises:
      ImportError: the first module that cannot be imported, naming ``pip install
        'jtransfer[<extra>]'``.
    """
    for module in modules:
        try:
            found = importlib.util.find_spec(module) is not None  # cheap: nothing is executed
        except (ImportError, ValueError):
            found = False
        if not found:
            import_extra(module, extra, what)  # raises the ImportError naming the extra

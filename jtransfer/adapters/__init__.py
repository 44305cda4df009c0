"""jtransfer.adapters: parameter-efficient adapters as pure functions of params pytrees.

LoRA (Hu et al. 2021, https://arxiv.org/abs/2106.09685) on any pytree, ``nnx.State``
included, without importing Flax: an adapted kernel ``W`` (d_in, d_out), used as ``x @ W``,
becomes ``W + (alpha / r) * a @ b`` with ``a`` (d_in, r) random and ``b`` (r, d_out) zero at
initialisation, ``r (d_in + d_out)`` trainable numbers instead of ``d_in d_out``.

* Create and apply: :func:`lora_init`, :func:`lora_merge`, :func:`lora_apply`,
  :func:`lora_delta`, :func:`lora_targets`, :func:`lora_num_params`, :class:`LoraParams`,
  :class:`LoraFactors`, :func:`path_str`.
* One adapter per domain or task on a leading axis (``jax.vmap`` with ``in_axes=(None, 0)``):
  ``lora_init(..., num_adapters=T)``, :func:`lora_stack`, :func:`lora_unstack`.
* Freezing the body: differentiate the adapter alone (recommended), or
  :func:`lora_optimizer` / :func:`lora_labels` (``optax.multi_transform`` with
  ``set_to_zero`` on frozen leaves).
* Fine-tuning an encoder with a linear head on its pooled features:
  :func:`lora_classifier` (``init``/``step``/``logits``/``loss``), :func:`linear_head_init`,
  :class:`LoraTrainState`.

See :mod:`jtransfer.adapters._lora` for the layout, path and freezing conventions.
"""

from jtransfer.adapters._classifier import (
    LoraClassifier,
    LoraTrainState,
    linear_head_init,
    lora_classifier,
)
from jtransfer.adapters._lora import (
    DEFAULT_TARGETS,
    LoraFactors,
    LoraParams,
    lora_apply,
    lora_delta,
    lora_init,
    lora_labels,
    lora_merge,
    lora_num_params,
    lora_optimizer,
    lora_stack,
    lora_targets,
    lora_unstack,
    path_str,
)

__all__ = [
    "DEFAULT_TARGETS",
    "LoraClassifier",
    "LoraFactors",
    "LoraParams",
    "LoraTrainState",
    "linear_head_init",
    "lora_apply",
    "lora_classifier",
    "lora_delta",
    "lora_init",
    "lora_labels",
    "lora_merge",
    "lora_num_params",
    "lora_optimizer",
    "lora_stack",
    "lora_targets",
    "lora_unstack",
    "path_str",
]

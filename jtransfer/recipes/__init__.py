"""jtransfer.recipes: ready-made training recipes on top of the algorithms, models and train.

A layer above ``align``, ``select``, ``weighting``, ``models`` and ``train``: nothing in
those packages imports it. A recipe takes arrays and a config and returns trained parameters
with their pure ``apply_fn``.

Domain adaptation (an MLP classifier, labelled source + unlabelled target):

* :func:`fit_domain_adaptation` → :class:`DAResult` (``model``, ``params``, ``metrics``, ...) for
  the :data:`METHODS` ``source_only``, ``dann`` (gradient reversal), ``coral`` (Deep CORAL)
  and ``mmd`` (multi-bandwidth MMD²); :func:`predict`, :func:`accuracy`.
* Configuration: :func:`default_config`, :func:`check_config`, :func:`make_optimizer`.
* Pieces: :func:`build_model` → :class:`DAModel`, :func:`da_loss` (one batch's objective),
  :func:`task_loss`.
* Data: :func:`load_domains` reads two domains of a TFDS dataset (a jtransfer benchmark or a
  builder of your own) as :class:`Domains` ``(x_source, y_source, x_target, evals)``; the
  target's labels are only in ``evals`` (reporting).
* Label-free selection: :func:`reverse_validate` (``select.reverse_validation`` with the
  recipe as the method), :func:`importance_weights` (for ``select.iw_accuracy``),
  :func:`select_lam` (a λ grid fitted and chosen by importance-weighted accuracy on held-out
  source data → :class:`LamSelection`).

Example:
  >>> import numpy as np
  >>> from jtransfer import recipes
  >>> rng = np.random.default_rng(0)
  >>> xs = rng.normal(size=(64, 2)).astype(np.float32); ys = (xs[:, 0] > 0).astype(np.int32)
  >>> xt = xs + np.float32(0.5)
  >>> r = recipes.fit_domain_adaptation(xs, ys, xt, method="coral", num_steps=50,
  ...                                   eval_every=50, save_every=50)
  >>> recipes.predict(r, xt).shape, 0.0 <= recipes.accuracy(r, xs, ys) <= 1.0
  ((64,), True)
"""

from jtransfer._core.extras import require_extra

require_extra("train", "jtransfer.recipes", "orbax.checkpoint", "ml_collections", "sklearn")

from jtransfer.recipes._da import (
    METHODS,
    DAModel,
    DAResult,
    LamSelection,
    accuracy,
    build_model,
    check_config,
    da_loss,
    default_config,
    fit_domain_adaptation,
    importance_weights,
    make_optimizer,
    predict,
    reverse_validate,
    select_lam,
    task_loss,
)
from jtransfer.recipes._domains import Domains, load_domains

__all__ = [
    "METHODS",
    "DAModel",
    "DAResult",
    "Domains",
    "LamSelection",
    "accuracy",
    "build_model",
    "check_config",
    "da_loss",
    "default_config",
    "fit_domain_adaptation",
    "importance_weights",
    "load_domains",
    "make_optimizer",
    "predict",
    "reverse_validate",
    "select_lam",
    "task_loss",
]

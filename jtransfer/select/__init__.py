"""jtransfer.select: knowing when transfer helps.

* Transferability scores (higher = transfers better): :func:`logme`, :func:`leep`,
  :func:`nce`, :func:`hscore`, :func:`transrate`.
* Domain discrepancy (lower = closer): :func:`proxy_a_distance`,
  :func:`domain_classifier_error`, :func:`mmd_distance` (via ``jtransfer.align.mmd2``).
* Label-free model selection: :func:`domain_classifier_weights` (the one importance
  weighting for selection: logistic domain classifier, quantile clip, mean 1 on the
  validation set), :func:`select_by_risk` (→ :class:`Selection`: IWV / DEV / source risk,
  effective sample size, warnings, stated tie rule), :func:`iwv_risk` (importance-weighted
  validation), :func:`dev_risk` (deep embedded validation with its control variate),
  :func:`snd` (soft neighbourhood density), :func:`prediction_entropy`,
  :func:`iw_accuracy` (importance-weighted accuracy), :func:`reverse_validation`
  (→ :class:`ReverseValidation`).
* Negative transfer: :func:`negative_transfer_report` → :class:`NegativeTransferReport`.
"""

from jtransfer.select._discrepancy import domain_classifier_error, mmd_distance, proxy_a_distance
from jtransfer.select._negative import NegativeTransferReport, negative_transfer_report
from jtransfer.select._scores import hscore, leep, logme, nce, transrate
from jtransfer.select._selection import (
    DEFAULT_CLIP_QUANTILE,
    DEFAULT_ESS_WARNING,
    SELECTION_CRITERIA,
    Selection,
    dev_risk,
    domain_classifier_weights,
    iwv_risk,
    prediction_entropy,
    select_by_risk,
    snd,
)
from jtransfer.select._validation import ReverseValidation, iw_accuracy, reverse_validation

__all__ = [
    "DEFAULT_CLIP_QUANTILE",
    "DEFAULT_ESS_WARNING",
    "NegativeTransferReport",
    "ReverseValidation",
    "SELECTION_CRITERIA",
    "Selection",
    "dev_risk",
    "domain_classifier_error",
    "domain_classifier_weights",
    "hscore",
    "iw_accuracy",
    "iwv_risk",
    "leep",
    "logme",
    "mmd_distance",
    "nce",
    "negative_transfer_report",
    "prediction_entropy",
    "proxy_a_distance",
    "reverse_validation",
    "select_by_risk",
    "snd",
    "transrate",
]

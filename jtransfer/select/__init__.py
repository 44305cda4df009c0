"""jtransfer.select: knowing when transfer helps.

* Transferability scores (higher = transfers better): :func:`logme`, :func:`leep`,
  :func:`nce`, :func:`hscore`, :func:`transrate`.
* Domain discrepancy (lower = closer): :func:`proxy_a_distance`,
  :func:`domain_classifier_error`, :func:`mmd_distance` (via ``jtransfer.align.mmd2``).
* Label-free model selection: :func:`iwv_risk` (importance-weighted validation),
  :func:`dev_risk` (deep embedded validation with its control variate),
  :func:`domain_classifier_weights` (density ratios via ``jtransfer.weighting``),
  :func:`snd` (soft neighbourhood density), :func:`prediction_entropy`,
  :func:`iw_accuracy` (importance-weighted accuracy), :func:`reverse_validation`
  (→ :class:`ReverseValidation`).
* Negative transfer: :func:`negative_transfer_report` → :class:`NegativeTransferReport`.
"""

from jtransfer.select._discrepancy import domain_classifier_error, mmd_distance, proxy_a_distance
from jtransfer.select._negative import NegativeTransferReport, negative_transfer_report
from jtransfer.select._scores import hscore, leep, logme, nce, transrate
from jtransfer.select._selection import (
    dev_risk,
    domain_classifier_weights,
    iwv_risk,
    prediction_entropy,
    snd,
)
from jtransfer.select._validation import ReverseValidation, iw_accuracy, reverse_validation

__all__ = [
    "NegativeTransferReport",
    "ReverseValidation",
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
    "snd",
    "transrate",
]

"""Shim: the checks moved to ``jtransfer._core.checks`` (shim: removed after merge).

Kept so that modules of other branches (``align/_qp.py``) still import; new code imports
``jtransfer._core.checks``.
"""

from jtransfer._core.checks import (
    as_float,  # noqa: F401  shim: removed after merge
    check_choice,  # noqa: F401  shim: removed after merge
    check_finite,  # noqa: F401  shim: removed after merge
    check_pair,  # noqa: F401  shim: removed after merge
    check_positive,  # noqa: F401  shim: removed after merge
    check_samples,  # noqa: F401  shim: removed after merge
    check_weights,  # noqa: F401  shim: removed after merge
    is_concrete,  # noqa: F401  shim: removed after merge
)

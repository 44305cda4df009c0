"""Shim: the multi-task checks moved to ``jtransfer._core.checks`` (shim: removed after merge).

New code imports ``jtransfer._core.checks``.
"""

from jtransfer._core.checks import (
    check_losses,  # noqa: F401  shim: removed after merge
    check_matches_params,  # noqa: F401  shim: removed after merge
    check_positive,  # noqa: F401  shim: removed after merge
    num_tasks_of,  # noqa: F401  shim: removed after merge
)

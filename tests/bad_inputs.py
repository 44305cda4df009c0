"""The bad-input tables' shared runner (#17 item 8).

Each subpackage lists its bad inputs in ``tests/<pkg>/test_bad_inputs.py`` as :class:`Case`
rows; :func:`check_case` asserts the exception type and that the message names the argument,
eagerly and, depending on the kind of check,

* ``"value"`` (NaN, signs, sums, probabilities): also under ``jax.jit`` with debug checks on,
  through ``jtransfer.checked(fn)`` (a ``checkify`` check with the same message);
* ``"shape"`` (ranks, sizes, dtypes of arrays): also under a plain ``jax.jit``, at trace time;
* ``"static"`` (non-array arguments: names, ints, choices, pytree structure): eager only.

``fn(*args)`` is called with ``args`` as the traced arguments; everything static is closed
over in ``fn``. Keep arrays tiny: each row is one compile at most.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

import jax
import pytest

import jtransfer


@dataclasses.dataclass(frozen=True)
class Case:
    id: str  # "<function>: <what is wrong>"
    fn: Callable[..., Any]
    args: tuple  # the arguments traced under jit
    match: str  # a regex the message must contain; it names the argument
    kind: str = "value"  # "value", "shape" or "static" (see the module docstring)
    exc: type = ValueError


def check_case(case: Case) -> None:
    with pytest.raises(case.exc, match=case.match):
        case.fn(*case.args)
    if case.kind == "value":
        with pytest.raises(ValueError, match=case.match):
            jtransfer.checked(case.fn)(*case.args)
    elif case.kind == "shape":
        with pytest.raises(case.exc, match=case.match):
            jax.jit(case.fn)(*case.args)
    else:
        assert case.kind == "static", case.kind


def ids(cases: list[Case]) -> list[str]:
    return [re.sub(r"\s+", "_", c.id) for c in cases]


def count(cases: list[Case]) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in cases:
        out[c.kind] = out.get(c.kind, 0) + 1
    return out

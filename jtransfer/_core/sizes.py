"""Shape buckets: one compilation per bucket of sample sizes, not per size (private).

An eager call of a jitted function compiles once per new input shape, which for the quadratic
MMD sums is seconds per sample size. Functions whose result can ignore padded rows (zero
weights, validity masks) pad their samples to :func:`bucket` sizes, so all sizes of a bucket
share one compiled program.

The ladder has four steps per octave, :math:`2^e \\cdot \\{1, 1.25, 1.5, 1.75\\}` (at least
:data:`MIN_BUCKET`): at most 25 % of the rows are padding (about 56 % more work for an
:math:`O(n^2)` sum in the worst case, 20 % on average), and sizes from 1000 to 4000 share 9
programs instead of one per size.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

MIN_BUCKET = 8
"""Smallest bucket (every bucket is even, so consecutive pairs of rows never straddle it)."""


def bucket(n: int) -> int:
    """The smallest size ``>= n`` on the ladder ``2^e * {1, 1.25, 1.5, 1.75}``, ``>= 8``.

    Example:
      >>> [bucket(n) for n in (1, 8, 9, 1000, 1025, 1100, 4000)]
      [8, 8, 10, 1024, 1280, 1280, 4096]
    """
    n = int(n)
    if n <= MIN_BUCKET:
        return MIN_BUCKET
    e = (n - 1).bit_length() - 1  # 2^e < n <= 2^(e+1)
    base = 1 << e
    for q in (5, 6, 7, 8):  # 1.25, 1.5, 1.75, 2 times 2^e
        size = base * q // 4
        if size >= n:
            return size
    raise AssertionError(n)  # unreachable: 2^(e+1) >= n


def pad_rows(x: Any, size: int) -> np.ndarray:
    """``x`` as a NumPy array with zero rows appended up to ``size`` rows (no JAX op, so no
    compilation per input size)."""
    a = np.asarray(x)
    if a.shape[0] == size:
        return a
    pad = np.zeros((size - a.shape[0], *a.shape[1:]), a.dtype)
    return np.concatenate([a, pad], axis=0)


def row_mask(n: int, size: int, dtype: Any) -> np.ndarray:
    """``(size,)`` array with 1 on the first ``n`` entries and 0 on the padding."""
    m = np.zeros((size,), np.dtype(dtype))
    m[:n] = 1
    return m


def all_concrete(*xs: Any) -> bool:
    """True when no argument (or leaf of one) is a JAX tracer: an eager call whose input shapes
    are free to be padded (under a trace the shapes are fixed and padding would only add work)."""
    return not any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(xs))

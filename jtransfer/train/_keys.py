"""Explicit ``jax.random`` keys from a seed."""

from __future__ import annotations

import zlib

import jax


def keys(seed: int, *names: str):
    """Returns ``jax.random.key(seed)``, or one independent key per name.

    Each named key is ``fold_in(key(seed), crc32(name))``, so adding a name never changes the
    keys of the others and the same (seed, name) always gives the same key.

    Example:
      >>> init_key, data_key = keys(0, "init", "data")
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed must be an int, got {seed!r}")
    root = jax.random.key(seed)
    if not names:
        return root
    if len(set(names)) != len(names):
        raise ValueError(f"key names must be distinct, got {names}")
    out = tuple(jax.random.fold_in(root, zlib.crc32(n.encode()) & 0x7FFFFFFF) for n in names)
    return out[0] if len(out) == 1 else out

"""The library's random-key convention, resolved in one place (private).

Every library function that draws randomness takes a keyword-only
``key: jax.Array | None = None`` (as ott-jax's ``rng``): ``None`` means the fixed key
``jax.random.key(0)``, so a call is reproducible by default and controllable when a key is
given. Functions call :func:`default_key` once and split the result as they need.
"""

from __future__ import annotations

import jax

DEFAULT_SEED = 0
"""The seed of the key used when a caller passes ``key=None``."""


def default_key(key: jax.Array | None) -> jax.Array:
    """Returns ``key``, or ``jax.random.key(0)`` when it is ``None``.

    New-style (``jax.random.key``) and raw (``jax.random.PRNGKey``) keys pass through unchanged,
    so results for a given key do not depend on which form the caller used.

    Args:
      key: a ``jax.random`` key or ``None``.

    Returns:
      A ``jax.random`` key.

    Example:
      >>> import jax
      >>> from jtransfer._core.keys import default_key
      >>> bool(jax.random.key_data(default_key(None)).sum() == 0)
      True
    """
    return jax.random.key(DEFAULT_SEED) if key is None else key


__all__ = ["DEFAULT_SEED", "default_key"]

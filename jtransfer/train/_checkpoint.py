"""Orbax checkpointing: save every N steps, keep K, resume from the latest."""

from __future__ import annotations

import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

PyTree = Any


def _is_key(x) -> bool:
    return isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def _to_saveable(state: PyTree) -> PyTree:
    return jax.tree.map(lambda a: jax.random.key_data(a) if _is_key(a) else a, state)


def _from_saveable(restored: PyTree, template: PyTree) -> PyTree:
    return jax.tree.map(
        lambda r, t: jax.random.wrap_key_data(r, impl=jax.random.key_impl(t)) if _is_key(t)
        else r, restored, template)


class CheckpointManager:
    """A small wrapper around ``orbax.checkpoint.CheckpointManager``.

    * ``save(step, state)`` writes a checkpoint when ``step % save_every == 0`` (or
      ``force=True``) and keeps the ``keep`` most recent ones.
    * ``restore_or(init_state)`` returns ``(latest_state, latest_step)`` if a checkpoint
      exists, else ``(init_state, 0)``; ``init_state`` is the template for shapes, dtypes and
      shardings.
    * Saves are synchronous and atomic: orbax writes into a temporary directory and renames it
      only when complete, so a process killed during a save leaves the previous checkpoint as
      the latest one; half-written temporary directories are ignored and cleaned up.
    * New-style ``jax.random`` keys inside the state are stored as their key data and
      re-wrapped on restore.

    Example:
      >>> import jax.numpy as jnp, tempfile
      >>> mngr = CheckpointManager(tempfile.mkdtemp(), save_every=10, keep=2)
      >>> state, step = mngr.restore_or({"w": jnp.zeros(3)})
      >>> step
      0
    """

    def __init__(self, directory: str | os.PathLike, *, save_every: int = 100, keep: int = 2):
        if not isinstance(save_every, int) or save_every < 1:
            raise ValueError(f"save_every must be a positive int, got {save_every!r}")
        if not isinstance(keep, int) or keep < 1:
            raise ValueError(f"keep must be a positive int, got {keep!r}")
        self.directory = os.path.abspath(os.fspath(directory))
        self.save_every = save_every
        options = ocp.CheckpointManagerOptions(
            save_interval_steps=1,  # interval is enforced here so `force` works
            max_to_keep=keep,
            create=True,
            enable_async_checkpointing=False,
            cleanup_tmp_directories=True,
        )
        self._mngr = ocp.CheckpointManager(self.directory, options=options)

    def latest_step(self) -> int | None:
        return self._mngr.latest_step()

    def all_steps(self) -> list[int]:
        return list(self._mngr.all_steps())

    def save(self, step: int, state: PyTree, *, force: bool = False) -> bool:
        """Saves ``state`` at ``step`` if due (or forced). Returns whether it saved."""
        step = int(step)
        if not force and step % self.save_every != 0:
            return False
        if step in self._mngr.all_steps():
            return False
        self._mngr.save(step, args=ocp.args.StandardSave(_to_saveable(state)), force=True)
        self._mngr.wait_until_finished()
        return True

    def restore(self, step: int, template: PyTree) -> PyTree:
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, _to_saveable(template))
        restored = self._mngr.restore(step, args=ocp.args.StandardRestore(abstract))
        return _from_saveable(restored, template)

    def restore_or(self, init_state: PyTree) -> tuple[PyTree, int]:
        """Returns ``(state, step)`` of the latest checkpoint, or ``(init_state, 0)``."""
        step = self._mngr.latest_step()
        if step is None:
            return init_state, 0
        return self.restore(step, init_state), int(step)

    def close(self) -> None:
        self._mngr.wait_until_finished()
        self._mngr.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def tree_equal(a: PyTree, b: PyTree) -> bool:
    """Bit-for-bit equality of two pytrees of arrays (keys compared by key data)."""
    la, lb = jax.tree.leaves(_to_saveable(a)), jax.tree.leaves(_to_saveable(b))
    if jax.tree.structure(_to_saveable(a)) != jax.tree.structure(_to_saveable(b)):
        return False
    return all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(la, lb))

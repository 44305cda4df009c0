"""Orbax checkpointing: save every N steps, keep K, resume from the latest."""

from __future__ import annotations

import os
import shutil
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

PyTree = Any


class CheckpointCorruptError(RuntimeError):
    """A checkpoint folder exists but its files cannot be read (truncated or corrupted)."""


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:300]


def _is_key(x) -> bool:
    return isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def _to_saveable(state: PyTree) -> PyTree:
    return jax.tree.map(lambda a: jax.random.key_data(a) if _is_key(a) else a, state)


def _from_saveable(restored: PyTree, template: PyTree) -> PyTree:
    return jax.tree.map(
        lambda r, t: jax.random.wrap_key_data(r, impl=jax.random.key_impl(t)) if _is_key(t) else r,
        restored,
        template,
    )


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
        # the item handler is named so that reading a step's metadata in a new process needs
        # no restore first (and logs no "could not be restored" warning)
        self._mngr = ocp.CheckpointManager(
            self.directory, options=options, item_handlers=ocp.StandardCheckpointHandler()
        )

    def latest_step(self) -> int | None:
        return self._mngr.latest_step()

    def all_steps(self) -> list[int]:
        return list(self._mngr.all_steps())

    def save(
        self, step: int, state: PyTree, *, force: bool = False, metadata: dict | None = None
    ) -> bool:
        """Saves ``state`` at ``step`` if due (or forced). Returns whether it saved.

        ``metadata`` (a JSON-able dict) is stored inside the checkpoint, atomically with it, and
        read back by :meth:`metadata`.
        """
        step = int(step)
        if not force and step % self.save_every != 0:
            return False
        if step in self._mngr.all_steps():
            return False
        self._mngr.save(
            step,
            args=ocp.args.StandardSave(_to_saveable(state)),
            force=True,
            custom_metadata=dict(metadata or {}),
        )
        self._mngr.wait_until_finished()
        return True

    def metadata(self, step: int) -> dict:
        """The ``metadata`` saved with the checkpoint at ``step`` (``{}`` when none or
        unreadable)."""
        try:
            return dict(self._mngr.metadata(int(step)).custom_metadata or {})
        except Exception:  # an old or damaged checkpoint: callers fall back to a default
            return {}

    def restore(self, step: int, template: PyTree) -> PyTree:
        """Restores the checkpoint at ``step`` with ``template``'s structure, shapes and dtypes.

        Raises ``ValueError`` with one line per differing leaf when the checkpoint is intact but
        holds a different tree (another model or config), and ``CheckpointCorruptError`` when
        its files cannot be read.
        """
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, _to_saveable(template))
        try:
            restored = self._mngr.restore(step, args=ocp.args.StandardRestore(abstract))
        except Exception as err:  # orbax/tensorstore raise many types; classify below
            self._raise_mismatch_or_corrupt(step, abstract, err)
        return _from_saveable(restored, template)

    def _raise_mismatch_or_corrupt(self, step: int, abstract: PyTree, err: Exception):
        path = os.path.join(self.directory, str(step))
        try:  # restore as saved: if this works, the files are fine and the template differs
            saved = self._mngr.restore(step, args=ocp.args.StandardRestore())
        except Exception as err2:
            raise CheckpointCorruptError(
                f"checkpoint {path} cannot be read: {_first_line(err2)}"
            ) from err
        want = {
            jax.tree_util.keystr(k): (tuple(v.shape), str(v.dtype))
            for k, v in jax.tree_util.tree_leaves_with_path(abstract)
        }
        got = {
            jax.tree_util.keystr(k): (tuple(np.shape(v)), str(np.asarray(v).dtype))
            for k, v in jax.tree_util.tree_leaves_with_path(saved)
        }
        diffs = [
            f"{k}: saved {got.get(k, 'absent')}, expected {want.get(k, 'absent')}"
            for k in sorted(set(want) | set(got))
            if want.get(k) != got.get(k)
        ]
        if not diffs:  # same leaves, yet the restore failed: report orbax's reason
            diffs = [_first_line(err)]
        shown = "; ".join(diffs[:5]) + (
            f"; ... ({len(diffs)} differences)" if len(diffs) > 5 else ""
        )
        raise ValueError(
            f"checkpoint {path} holds a different state than this run expects ({shown}); "
            "it belongs to another model or config: use a new workdir or delete this one"
        )

    def restore_or(self, init_state: PyTree) -> tuple[PyTree, int]:
        """Returns ``(state, step)`` of the latest readable checkpoint, or ``(init_state, 0)``.

        A latest checkpoint whose files cannot be read (truncated or corrupted on disk) is
        reported with a warning naming its path and the reason, moved aside to
        ``<directory>.corrupt/<step>`` (so the resumed run can save that step again), and the
        previous intact one is used instead; a checkpoint that is intact but holds a different
        tree raises ``ValueError`` (see :meth:`restore`) rather than being skipped.
        """
        for step in sorted(self._mngr.all_steps(), reverse=True):
            try:
                return self.restore(step, init_state), int(step)
            except CheckpointCorruptError as err:
                aside = os.path.join(self.directory + ".corrupt", str(step))
                os.makedirs(os.path.dirname(aside), exist_ok=True)
                shutil.rmtree(aside, ignore_errors=True)
                os.replace(os.path.join(self.directory, str(step)), aside)
                self._mngr.reload()
                warnings.warn(
                    f"{err}; moved to {aside}, falling back to the previous checkpoint",
                    RuntimeWarning,
                    stacklevel=2,
                )
        return init_state, 0

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

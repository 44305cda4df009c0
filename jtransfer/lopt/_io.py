"""Saving meta-parameters with orbax and loading them back as an optax transform."""

from __future__ import annotations

import os

import jax
import optax

from jtransfer._core.extras import import_extra
from jtransfer.lopt._base import LearnedOptimizer, Theta


def _checkpointer():
    """A synchronous orbax checkpointer: a failed save raises in the caller and leaves no
    background thread behind (``StandardCheckpointer`` is asynchronous; after a failed save its
    thread kept the interpreter alive for about 300 s at exit)."""
    ocp = import_extra("orbax.checkpoint", "train", "jtransfer.lopt.save_theta/load_theta")

    return ocp.Checkpointer(ocp.StandardCheckpointHandler())


def save_theta(directory: str, theta: Theta) -> str:
    """Saves meta-parameters with orbax into ``directory`` (synchronously).

    ``directory`` must not exist yet; its parent folders are created. Raises ``ValueError``
    before anything is written when ``directory`` exists or lies under a regular file.
    Returns its absolute path.
    """
    ocp = import_extra("orbax.checkpoint", "train", "jtransfer.lopt.save_theta/load_theta")

    path = os.path.abspath(directory)
    if os.path.exists(path):
        raise ValueError(f"save_theta: {path} already exists; choose a new directory")
    parent = os.path.dirname(path)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise ValueError(f"save_theta: cannot create {path}: {parent} is a file, not a folder")
    with _checkpointer() as ckpt:
        ckpt.save(path, args=ocp.args.StandardSave(theta))
    return path


def load_theta(directory: str, lopt: LearnedOptimizer) -> Theta:
    """Restores meta-parameters saved by :func:`save_theta`, with the structure of
    ``lopt.init``; raises ``ValueError`` if the saved tree does not match."""
    ocp = import_extra("orbax.checkpoint", "train", "jtransfer.lopt.save_theta/load_theta")

    path = os.path.abspath(directory)
    if not os.path.isdir(path):
        raise ValueError(f"load_theta: no checkpoint folder at {path}")
    target = jax.eval_shape(lopt.init, jax.random.key(0))
    with _checkpointer() as ckpt:
        try:
            return ckpt.restore(path, args=ocp.args.StandardRestore(target))
        except (ValueError, KeyError) as err:
            raise ValueError(
                f"load_theta: checkpoint at {directory} does not match {lopt.name}'s theta: {err}"
            ) from err


def load_optimizer(directory: str, lopt: LearnedOptimizer) -> optax.GradientTransformationExtraArgs:
    """``lopt.optimizer(load_theta(directory, lopt))``: a trained learned optimizer as optax."""
    return lopt.optimizer(load_theta(directory, lopt))

"""Saving meta-parameters with orbax and loading them back as an optax transform."""

from __future__ import annotations

import os

import jax
import optax

from jtransfer.lopt._base import LearnedOptimizer, Theta


def save_theta(directory: str, theta: Theta) -> str:
    """Saves meta-parameters with orbax (``StandardCheckpointer``) into ``directory``.

    ``directory`` must not exist yet. Returns its absolute path.
    """
    import orbax.checkpoint as ocp

    path = os.path.abspath(directory)
    with ocp.StandardCheckpointer() as ckpt:
        ckpt.save(path, theta)
    return path


def load_theta(directory: str, lopt: LearnedOptimizer) -> Theta:
    """Restores meta-parameters saved by :func:`save_theta`, with the structure of
    ``lopt.init``; raises ``ValueError`` if the saved tree does not match."""
    import orbax.checkpoint as ocp

    target = jax.eval_shape(lopt.init, jax.random.key(0))
    with ocp.StandardCheckpointer() as ckpt:
        try:
            return ckpt.restore(os.path.abspath(directory), target)
        except (ValueError, KeyError) as err:
            raise ValueError(f"load_theta: checkpoint at {directory} does not match "
                             f"{lopt.name}'s theta: {err}") from err


def load_optimizer(directory: str, lopt: LearnedOptimizer
                   ) -> optax.GradientTransformationExtraArgs:
    """``lopt.optimizer(load_theta(directory, lopt))``: a trained learned optimizer as optax."""
    return lopt.optimizer(load_theta(directory, lopt))

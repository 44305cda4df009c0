"""Input checks shared by the multi-task modules (trace-time, raise ``ValueError``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def num_tasks_of(task_grads, name: str = "task_grads", *, minimum: int = 1) -> int:
    """Returns T, the common leading axis of every leaf of a stacked per-task gradient tree."""
    leaves = jax.tree.leaves(task_grads)
    if not leaves:
        raise ValueError(f"{name} has no array leaves")
    shapes = [jnp.shape(l) for l in leaves]
    if any(len(s) == 0 for s in shapes):
        raise ValueError(f"{name}: every leaf needs a leading task axis; got leaf shapes {shapes}")
    ts = {s[0] for s in shapes}
    if len(ts) != 1:
        raise ValueError(f"{name}: leaves disagree on the number of tasks (leading axis); "
                         f"got leaf shapes {shapes}")
    t = ts.pop()
    if t < minimum:
        raise ValueError(f"{name}: need at least {minimum} task(s), got leading axis {t} "
                         f"(leaf shapes {shapes})")
    return t


def check_matches_params(task_grads, params, name: str = "task_grads") -> None:
    """Checks that ``task_grads`` is ``params`` with one extra leading axis on every leaf."""
    if params is None:
        return
    gs, ps = jax.tree.structure(task_grads), jax.tree.structure(params)
    if gs != ps:
        raise ValueError(f"{name} tree structure {gs} does not match params structure {ps}")
    for g, p in zip(jax.tree.leaves(task_grads), jax.tree.leaves(params), strict=True):
        if jnp.shape(g)[1:] != jnp.shape(p):
            raise ValueError(f"{name} leaf shape {jnp.shape(g)} is not (T,) + params leaf shape "
                             f"{jnp.shape(p)}")


def check_losses(losses, name: str = "losses", *, num_tasks: int | None = None) -> int:
    shape = jnp.shape(losses)
    if len(shape) != 1 or shape[0] < 1:
        raise ValueError(f"{name} must be a non-empty vector of per-task losses, got shape {shape}")
    if num_tasks is not None and shape[0] != num_tasks:
        raise ValueError(f"{name} has {shape[0]} tasks, expected {num_tasks} (shape {shape})")
    return shape[0]


def check_positive(value, name: str) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be positive, got {value!r}")

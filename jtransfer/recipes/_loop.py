"""The recipe's training loop (private): restore, run jitted chunks between events, evaluate,
write metrics, save, resume. Kept small and separate so it can be swapped for
``jtransfer.train``'s loop without touching the recipe's maths."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Mapping
from typing import Any

import jax

from jtransfer import train

PyTree = Any


def run_chunks(run: Callable[[PyTree, int, int], tuple[PyTree, jax.Array]], state: PyTree, *,
               num_steps: int, eval_every: int, save_every: int,
               evaluate: Callable[[PyTree], Mapping[str, float]],
               workdir: str | None = None, keep: int = 2, kill_at_step: int = -1,
               place: Callable[[PyTree], PyTree] = lambda s: s) -> tuple[PyTree, float]:
    """Runs ``state = run(state, start, stop)`` from the latest checkpoint to ``num_steps``.

    Chunks end at every multiple of ``eval_every`` and ``save_every`` (and at
    ``kill_at_step``); after each chunk that ends on an evaluation step (or the last step)
    ``{"train_loss", **evaluate(state)}`` is appended to ``workdir/metrics.jsonl``, and a
    checkpoint is written on save steps and at the end. With ``workdir=None`` nothing is
    written and the run starts at step 0. ``place`` puts the (restored) state on devices.
    ``kill_at_step`` (debug only) SIGKILLs the process after that step.

    Returns:
      ``(state, seconds)``: the final state and the wall time of the stepping.
    """
    ckpt = writer = None
    step = 0
    if workdir is not None:
        os.makedirs(workdir, exist_ok=True)
        ckpt = train.CheckpointManager(os.path.join(workdir, "checkpoints"),
                                       save_every=save_every, keep=keep)
        state, step = ckpt.restore_or(state)
        writer = train.MetricWriter(workdir, tensorboard=False)
    state = place(state)
    t0 = time.perf_counter()
    while step < num_steps:
        stop = min(num_steps, (step // eval_every + 1) * eval_every,
                   (step // save_every + 1) * save_every)
        if step < kill_at_step < stop:
            stop = kill_at_step
        state, loss = run(state, step, stop)
        step = stop
        if writer is not None and (step % eval_every == 0 or step == num_steps):
            writer.write(step, {"train_loss": float(loss), **evaluate(state)})
        if ckpt is not None:
            ckpt.save(step, state, force=step == num_steps)
        if step == kill_at_step:
            if ckpt is not None:
                ckpt.close()
                writer.close()
            os.kill(os.getpid(), signal.SIGKILL)
    jax.block_until_ready(state)
    secs = time.perf_counter() - t0
    if ckpt is not None:
        ckpt.close()
        writer.close()
    return state, secs

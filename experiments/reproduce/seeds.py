"""The per-seed loop of a report's ``run``: one ``train_and_evaluate`` per seed, timed."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence


def run_seeds(
    train_and_evaluate: Callable[[object, str], dict],
    get_config: Callable[[], object],
    seeds: Sequence[int],
    workdir: str,
) -> tuple[dict[int, dict], dict[int, float], object]:
    """Runs ``train_and_evaluate(config, folder)`` for each seed, with ``config = get_config()``
    and ``config.seed = seed``; ``folder`` is ``workdir`` for the first seed (the report's
    plots come from it) and ``workdir/seed<seed>`` for the others.

    Returns:
      ``(metrics, walls, config)``: ``{seed: metrics}``, ``{seed: wall seconds}`` and the
      last seed's config.
    """
    metrics, walls = {}, {}
    for seed in seeds:
        config = get_config()
        config.seed = seed
        folder = workdir if seed == seeds[0] else os.path.join(workdir, f"seed{seed}")
        t = time.perf_counter()
        metrics[seed] = train_and_evaluate(config, folder)
        walls[seed] = time.perf_counter() - t
    return metrics, walls, config

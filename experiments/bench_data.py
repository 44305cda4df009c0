"""Benchmark of the data layer: time to build every TFDS dataset, episode-sampler throughput.

Goals (issue 3): all datasets built once in < 2 minutes on 2 cores; >= 10,000 5-way 1-shot
episodes per second after compilation.

Baseline, timed in the same process: a straightforward NumPy episode sampler
(``np.random.Generator.choice`` per episode and per class, then fancy indexing), the way a
PyTorch-style ``Dataset`` would draw episodes. Run:

    python -m experiments.bench_data [--manual_dir ../shared/data] [--skip_build]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import jax
import numpy as np

from jtransfer import data


def build_all(manual_dir, data_dir) -> dict[str, float]:
    import tensorflow_datasets as tfds

    tfds.disable_progress_bar()
    times = {}
    for name in data.DATASETS:
        configs = ["28x28", "105x105"] if name == "omniglot" else [None]
        for config in configs:
            t = time.perf_counter()
            data.build(name, config=config, manual_dir=manual_dir, data_dir=data_dir)
            times[name if config is None else f"{name}/{config}"] = time.perf_counter() - t
    return times


def numpy_episodes(rng, x, by_class, num_ways, num_shots, num_queries, num_episodes):
    classes = np.array(list(by_class))
    xs, xq = [], []
    for _ in range(num_episodes):
        chosen = rng.choice(classes, num_ways, replace=False)
        idx = np.stack(
            [rng.choice(by_class[c], num_shots + num_queries, replace=False) for c in chosen]
        )
        xs.append(x[idx[:, :num_shots].ravel()])
        xq.append(x[idx[:, num_shots:].ravel()])
    return np.stack(xs), np.stack(xq)


def episodes_per_second(sampler, batch, repeats) -> float:
    jax.block_until_ready(sampler(jax.random.key(0), batch))  # compile
    t = time.perf_counter()
    for i in range(repeats):
        out = sampler(jax.random.key(i + 1), batch)
    jax.block_until_ready(out)
    return batch * repeats / (time.perf_counter() - t)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manual_dir", default=None)
    parser.add_argument("--data_dir", default=None, help="default: a fresh temporary dir")
    parser.add_argument("--skip_build", action="store_true")
    parser.add_argument("--batch", type=int, default=1000, help="episodes per sampler call")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}, {os.cpu_count()} CPUs")

    tmp = tempfile.TemporaryDirectory()
    data_dir = args.data_dir or tmp.name
    have_omniglot = True
    if not args.skip_build:
        try:
            times = build_all(args.manual_dir, data_dir)
        except data.DataFileError as e:
            print(f"build skipped: {e}")
            have_omniglot = False
        else:
            for k, v in times.items():
                print(f"build {k:28s} {v:7.2f} s")
            print(f"build all datasets          {sum(times.values()):7.2f} s (goal < 120 s)")

    if have_omniglot:
        try:
            d = data.omniglot_few_shot(
                key=jax.random.key(0), dtype=np.uint8, manual_dir=args.manual_dir, data_dir=data_dir
            )["train"]
            label = "Omniglot MAML train (4800 classes, 28x28 uint8)"
        except data.DataFileError:
            have_omniglot = False
    if not have_omniglot:
        rng = np.random.default_rng(0)
        d = {
            "x": rng.integers(0, 256, (96000, 28, 28, 1), dtype=np.uint8),
            "y": np.repeat(np.arange(4800), 20),
        }
        label = "random stand-in (4800 classes x 20, 28x28 uint8)"
    print(f"episodes from: {label}")
    by_class = {int(c): np.flatnonzero(d["y"] == c) for c in np.unique(d["y"])}
    rng = np.random.default_rng(0)
    for queries in (1, 15):
        for dtype in (np.uint8, np.float32):
            x = d["x"].astype(dtype) if dtype is np.float32 else d["x"]
            sampler = data.episode_sampler(x, d["y"], num_ways=5, num_shots=1, num_queries=queries)
            ours = episodes_per_second(sampler, args.batch, args.repeats)
            t = time.perf_counter()
            n_base = 500
            numpy_episodes(rng, x, by_class, 5, 1, queries, n_base)
            base = n_base / (time.perf_counter() - t)
            print(
                f"5-way 1-shot {queries:2d}-query {np.dtype(dtype).name:7s}: "
                f"{ours:10,.0f} episodes/s (goal >= 10,000); NumPy loop {base:8,.0f}/s; "
                f"ratio {ours / base:6.1f}x"
            )
    tmp.cleanup()


if __name__ == "__main__":
    main()

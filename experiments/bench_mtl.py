"""Benchmark: one gradient-aggregation step for T = 2, 10, 139 tasks vs equal weighting.

For each T, stacked per-task gradients of a parameter tree with ``--params`` floats (split
over a few leaves like a small MLP) are aggregated by each method inside ``jax.jit``. Prints
the best (minimum) wall time of one step, its ratio to the mean-gradient baseline timed in the same
process, and the compiled peak temporary memory (``compiled.memory_analysis()``) next to the
size of the input gradients. The aggregators only form the T × T Gram matrix, so the extra
memory is O(T² + P), not O(T P).

LibMTL (PyTorch) is a peer only if it imports; it is not installed here.

Run: ``python -m experiments.bench_mtl [--params 200000] [--repeats 20]``
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

from jtransfer import mtl

METHODS = {
    "equal": mtl.equal_aggregate,
    "pcgrad": mtl.pcgrad,
    "mgda": mtl.mgda,
    "cagrad": lambda: mtl.cagrad(0.4),
    "imtl_g": mtl.imtl_g,
}


def make_grads(key, t, p):
    sizes = [p // 2, p // 4, p - p // 2 - p // 4]
    keys = jax.random.split(key, len(sizes))
    return {
        f"w{i}": jax.random.normal(k, (t, s))
        for i, (k, s) in enumerate(zip(keys, sizes, strict=True))
    }


def bench(method, grads, repeats):
    agg = METHODS[method]()
    params = jax.tree.map(lambda g: g[0], grads)
    state = agg.init(params)
    step = jax.jit(lambda g, s: agg.update(g, s, params)[0])
    compiled = step.lower(grads, state).compile()
    mem = compiled.memory_analysis()
    temp = getattr(mem, "temp_size_in_bytes", float("nan")) if mem is not None else float("nan")
    jax.block_until_ready(step(grads, state))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(step(grads, state))
        times.append(time.perf_counter() - t0)
    return float(np.min(times)), temp


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--params", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--tasks", type=int, nargs="*", default=[2, 10, 139])
    args = ap.parse_args()
    try:
        import LibMTL  # noqa: F401

        print("LibMTL imports, but no LibMTL comparison is wired up here.")
    except ImportError:
        print("LibMTL not installed: no peer comparison.")
    print(f"backend {jax.default_backend()}, {args.params} parameters, best of {args.repeats} runs")
    print(f"{'T':>4} {'method':>8} {'ms/step':>9} {'x equal':>8} {'temp MiB':>9} {'input MiB':>9}")
    for t in args.tasks:
        grads = make_grads(jax.random.key(t), t, args.params)
        in_mib = sum(g.size * g.dtype.itemsize for g in jax.tree.leaves(grads)) / 2**20
        base, _ = bench("equal", grads, args.repeats)
        for method in METHODS:
            ms, temp = bench(method, grads, args.repeats) if method != "equal" else (base, None)
            if method == "equal":
                _, temp = bench("equal", grads, 1)
            print(
                f"{t:>4} {method:>8} {1e3 * ms:>9.3f} {ms / base:>8.2f} "
                f"{temp / 2**20:>9.2f} {in_mib:>9.2f}"
            )


if __name__ == "__main__":
    main()

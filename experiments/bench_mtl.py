"""Benchmark: one gradient-aggregation step for T = 2, 10, 139 tasks vs equal weighting.

For each T, stacked per-task gradients of a parameter tree with ``--params`` floats (split
over a few leaves like a small MLP) are aggregated by each method inside ``jax.jit``. Prints
the median wall time of one step, its ratio to the mean-gradient baseline timed in the same
round, and the compiled peak temporary memory (``compiled.memory_analysis()``) next to the
size of the input gradients. The aggregators only form the T × T Gram matrix, so the extra
memory is O(T² + P), not O(T P).

LibMTL (PyTorch) is a peer only if it imports; it is not installed here.

Rows through ``experiments/_bench.py`` (``--json``, ``--only METHOD``, ``--rounds``; the
``equal`` row is checked against the NumPy mean, ratios are to ``equal`` in the same round).

Run: ``python -m experiments.bench_mtl [--params 200000] [--repeats 20] [--json]``
"""

from __future__ import annotations

import argparse
import os
import sys

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from experiments import _bench  # noqa: E402
from jtransfer import mtl  # noqa: E402

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


def compile_step(method, grads):
    agg = METHODS[method]()
    params = jax.tree.map(lambda g: g[0], grads)
    state = agg.init(params)
    step = jax.jit(lambda g, s: agg.update(g, s, params)[0])
    compiled = step.lower(grads, state).compile()
    mem = compiled.memory_analysis()
    temp = getattr(mem, "temp_size_in_bytes", float("nan")) if mem is not None else float("nan")
    return (lambda: compiled(grads, state)), temp


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser()
    ap.add_argument("--params", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=20, help="calls per round (median)")
    ap.add_argument("--tasks", type=int, nargs="*", default=[2, 10, 139])
    _bench.add_args(ap)
    return ap


def main(argv=None):
    args = build_parser().parse_args(argv)
    runner = _bench.Runner(args, device=jax.devices()[0].platform)
    try:
        import LibMTL  # noqa: F401

        runner.say("LibMTL imports, but no LibMTL comparison is wired up here.")
    except ImportError:
        runner.say("LibMTL not installed: no peer comparison.")
    runner.say(f"backend {jax.default_backend()}, {args.params} parameters")
    for t in args.tasks:
        grads = make_grads(jax.random.key(t), t, args.params)
        in_mib = sum(g.size * g.dtype.itemsize for g in jax.tree.leaves(grads)) / 2**20
        mean = np.concatenate([np.asarray(g, np.float64).mean(0).ravel() for g in grads.values()])
        impls, temps = {}, {}
        for method in METHODS:
            if not runner.wants(method):
                continue
            fn, temps[method] = compile_step(method, grads)
            flat = lambda out: np.concatenate(  # noqa: E731
                [np.ravel(out[k]) for k in sorted(out)]
            )
            impls[method] = _bench.Impl(
                fn,
                flat,
                jax.block_until_ready,
                check=None if method == "equal" else "not compared here (tests/mtl)",
                note=f"compiled temp {temps[method] / 2**20:.2f} MiB, input {in_mib:.2f} MiB",
            )
        runner.run(
            f"mtl_aggregate_T{t}_P{args.params}",
            impls,
            reference=mean,
            rtol=1e-5,
            atol=1e-6,
            n=args.repeats,
            baseline="equal",
        )
    return runner.finish()


if __name__ == "__main__":
    sys.exit(main())

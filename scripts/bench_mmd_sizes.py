"""Compile + run time of ``align.mmd2`` over varying sample sizes (issue #17 item 7).

For each size ``n`` (``m = n``; 1000, 1100, ..., 4000 by default; d = 32, float32, the default
unbiased estimator with the median bandwidth) it times, in the same process and interleaved so
that machine load hits both alike:

* ``old``: the unpadded jitted core (``_mmd2_jit``, one compilation per size), the path
  ``mmd2`` took before the shape buckets and still takes under a trace;
* ``new``: ``align.mmd2`` called eagerly (padded to the size bucket, one compilation per
  bucket).

``*_first_s`` is the first call at that size (compile if the shape is new, plus the run),
``*_second_s`` a repeat (run only). One JSON line per size, then the totals.

Usage: ``PYTHONPATH=. python scripts/bench_mmd_sizes.py [--start 1000 --stop 4000 --step 100]``.

Measured once (2026-12-06, the shared 2-core CPU under a load average of 20-25, ``nice 19``,
so every time is inflated several-fold; the ratio is what carries over): 31 sizes, first calls
**653 s new vs 1676 s old** in total, 9 compilations vs 31; a new bucket's first call costs
about what an old size did (37-113 s here), the other sizes of a bucket 0.3-5 s; repeat calls
55 s vs 56 s in total (the same work). Values agree to 4.1e-6 relative (2.9e-7 absolute).
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import numpy as np

from jtransfer import align
from jtransfer._core import sizes
from jtransfer.align import _mmd


def _old(x, y, estimator):
    return _mmd._mmd2_jit(x, y, None, None, estimator=estimator, plan=None)


def _new(x, y, estimator):
    return align.mmd2(x, y, estimator=estimator)


def _time(fn, x, y, estimator):
    t0 = time.perf_counter()
    v = float(fn(x, y, estimator))
    t1 = time.perf_counter()
    jax.block_until_ready(fn(x, y, estimator))
    t2 = time.perf_counter()
    return v, t1 - t0, t2 - t1


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--start", type=int, default=1000)
    p.add_argument("--stop", type=int, default=4000)
    p.add_argument("--step", type=int, default=100)
    p.add_argument("--dim", type=int, default=32)
    p.add_argument("--estimator", default="unbiased")
    p.add_argument("--modes", default="old,new")
    a = p.parse_args()
    modes = a.modes.split(",")
    fns = {"old": _old, "new": _new}
    rng = np.random.default_rng(0)
    totals = {m: 0.0 for m in modes}
    for n in range(a.start, a.stop + 1, a.step):
        x = rng.normal(size=(n, a.dim)).astype(np.float32)
        y = (rng.normal(size=(n, a.dim)) + 0.5).astype(np.float32)
        row = {"n": n, "m": n, "bucket": sizes.bucket(n)}
        for mode in modes:
            v, first, second = _time(fns[mode], x, y, a.estimator)
            totals[mode] += first
            row.update({f"{mode}_value": v, f"{mode}_first_s": round(first, 3)})
            row[f"{mode}_second_s"] = round(second, 3)
        print(json.dumps(row), flush=True)
    print(json.dumps({f"total_first_s_{m}": round(t, 2) for m, t in totals.items()}), flush=True)
    print(json.dumps({"compiles_new": _mmd._mmd2_padded_jit._cache_size()}), flush=True)


if __name__ == "__main__":
    main()

"""Compile + run time of CORAL and the density-ratio estimators over varying sample sizes
(issue #17 item 7), before and after the shape buckets.

For each size ``n`` (source and target both ``n`` rows; 500, 510, 520 by default: 500 and 510
share bucket 512, 520 is in bucket 640; d = 8, float32, default arguments) it times the first
call of ``align.coral``, ``align.coral_loss``, ``weighting.kde_ratio``, ``ulsif``, ``kmm`` and
``kliep`` in the same process, interleaved so that machine load hits both alike:

* ``old``: ``jtransfer._core.sizes.all_concrete`` patched to ``False``, i.e. the unpadded
  path (one compilation per size), as before the buckets and as under a trace;
* ``new``: the eager call as shipped (padded to the size bucket, one compilation per bucket).

``first_s`` is the first call at that size (compile if the shape is new, plus the run). One
JSON line per (function, size, mode). Usage:
``PYTHONPATH=. python scripts/bench_weighting_sizes.py [--sizes 500,510,520]``.

Measured once (2026-12-06, the shared 2-core CPU under a load average of 17-20, ``nice 19``,
so times are inflated and noisy; first calls in s, old -> new). n = 510, the second size of
bucket 512 (the case the buckets are for): coral 0.78 -> 0.11, coral_loss 0.39 -> 0.001,
kde_ratio 3.8 -> 0.81, ulsif 3.7 -> 0.67, kmm 4.3 -> 0.90, kliep 2.1 -> 0.56 (what remains
per size: the eager input checks, uLSIF/KLIEP's random centre and fold draws, the output
slice). The first size of a bucket (n = 500, 520) costs about what an old size did (compile of
the padded program: 0.4-14 s either way under this load). Values: max |old - new| 4e-7 to 1e-5
(|values| up to 10) except float32 KMM, 0.03-0.07 on weights up to 80: its QP is flat, so
float32 ADMM lands on different weights of the same objective (float64 agrees to 1e-10, see
tests/weighting/test_buckets.py).
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import numpy as np

from jtransfer import align, weighting
from jtransfer._core import sizes

FUNCS = {
    "coral": lambda x, y: align.coral(x, y),
    "coral_loss": lambda x, y: align.coral_loss(x, y),
    "kde_ratio": lambda x, y: weighting.kde_ratio(x, y).weights,
    "ulsif": lambda x, y: weighting.ulsif(x, y).weights,
    "kmm": lambda x, y: weighting.kmm(x, y).weights,
    "kliep": lambda x, y: weighting.kliep(x, y).weights,
}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", default="500,510,520")
    p.add_argument("--dim", type=int, default=8)
    p.add_argument("--funcs", default=",".join(FUNCS))
    a = p.parse_args()
    real = sizes.all_concrete
    rng = np.random.default_rng(0)
    totals: dict[str, float] = {}
    for n in (int(v) for v in a.sizes.split(",")):
        x = rng.normal(size=(n, a.dim)).astype(np.float32)
        y = (rng.normal(size=(n, a.dim)) * 0.8 + 0.5).astype(np.float32)
        for name in a.funcs.split(","):
            vals = {}
            for mode in ("old", "new"):
                sizes.all_concrete = (lambda *_: False) if mode == "old" else real
                try:
                    t0 = time.perf_counter()
                    vals[mode] = np.asarray(jax.block_until_ready(FUNCS[name](x, y)))
                    dt = time.perf_counter() - t0
                finally:
                    sizes.all_concrete = real
                totals[f"{name}_{mode}"] = totals.get(f"{name}_{mode}", 0.0) + dt
                row = {"func": name, "n": n, "bucket": sizes.bucket(n), "mode": mode}
                print(json.dumps(row | {"first_s": round(dt, 3)}), flush=True)
            diff = float(np.max(np.abs(vals["old"] - vals["new"])))
            scale = float(np.max(np.abs(vals["old"])))
            print(json.dumps({"func": name, "n": n, "max_abs_diff": diff, "max_abs": scale}))
    print(json.dumps({k: round(v, 2) for k, v in totals.items()}), flush=True)


if __name__ == "__main__":
    main()

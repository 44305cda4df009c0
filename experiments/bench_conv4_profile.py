"""Where the time of the Conv4 second-order MAML meta-step goes on XLA:CPU (issue 21 item 4).

Compiles the step of ``bench_meta.py`` (Conv4 5-way 1-shot, 1 query, meta-batch 32, one
inner step at 0.4, second order, Adam; ``jtransfer.ops.matmul_ops``), runs it ``--calls``
times under ``jax.profiler.trace`` and sums the XLA:CPU op events of the trace by HLO opcode
(dots listed by shape with their FLOPs and achieved GFLOP/s, fusions by the ops they fuse),
then prints the share of each category and the GEMM-rate bound of the dot FLOPs. Run::

    python experiments/bench_conv4_profile.py [--meta-batch 32] [--calls 3] [--json]

Measured 2026-12-06 (2 cores shared with other jobs, load average 21-23, so the GEMM rate
itself was 15 GFLOP/s instead of ~175 idle; the shares below are the point, not the times):
step 6.59 s for 38.4 GFLOP (36.8 GFLOP in dots) = 38 % of the GEMM bound at that rate. Op
time: dots 41.6 % (fused 33.8 + plain 7.8; on average 79 % of the GEMM rate, but the
per-task weight-gradient shapes run far below it: ``[32,980,576]`` patch gradients (K = 64)
8.5 GFLOP/s, the task-summed kernel gradient ``[3,3,64,64]`` 5.2, the first layer's
``[32,3920,64]`` (K = 9) 2.0), pads 18.8 % (the transpose of im2col's nine strided slices:
col2im), transposes 13.8 % (layout changes around the batched dots), reductions 11.0 % (batch
norm statistics and their derivatives), elementwise 9.5 %, concatenates 5.2 % (im2col). So
58 % of the time is memory-bound data movement that the matmul formulation adds or that
batch norm needs; with every dot at the full GEMM rate (2.45 s) and the rest unchanged
(58 % of 6.59 s = 3.85 s) the step would still take 2.5x the bound (~40 % of it): the
issue's 60 % goal needs a convolution path without the
im2col copies (a fused direct convolution, which XLA:CPU's native convolution is not under
second-order vmap), not faster GEMMs.

Tried 2026-12-06 (meta-batch 8, 9.61 GFLOP/step, CPU time of the process at load 17-20,
median of 3 steps; the square-GEMM rate in the same process 57-64 GFLOP per CPU-second) and
not adopted, since none moved the number:
today's ``matmul_ops`` (im2col + reshape/argmax pool) 382-397 ms CPU = 24-25 GFLOP/CPU-s, about
39 % of the GEMM rate; the same with a max-pool that keeps the window axes in place (a
constant first-max mask from a running ``>`` over strided views, pooled by ``sum(x * mask)``:
every derivative is a broadcast times the mask, no transposes; meta-gradients bitwise equal)
425 ms; a convolution without patch copies (one matmul ``x @ [w_0 .. w_8]`` into all taps,
then a sum of shifted slices; equal to ``conv_general_dilated`` to 1e-12 in float64 up to
the second derivative) 1600 ms, 4x slower: it moves 9x the output instead of 9x the input
and XLA:CPU emits its shifted sums and their transposes as separate pads; XLA:CPU flags
``--xla_cpu_use_xnnpack=true`` 397 ms and ``--xla_cpu_use_onednn=true`` 413 ms. Native
grouped convolutions (tasks as ``feature_group_count``) were not retried: XLA:CPU runs their
weight gradients as generic loops (tens of seconds per step, see ``bench_meta.py``).
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import numpy as np  # noqa: E402

from experiments import _bench, bench_meta  # noqa: E402
from jtransfer import ops  # noqa: E402

_INSTR = re.compile(r"^\s*(?:ROOT )?%?([\w.\-]+) = (\S+?)(?:\[[^\]]*\])?(?:\{[^}]*\})? ([\w\-]+)\(")


def _dims(shape: str) -> list[int]:
    m = re.match(r"\w+\[([\d,]*)\]", shape)
    return [int(v) for v in m.group(1).split(",") if v] if m else []


def hlo_ops(text: str) -> dict[str, dict]:
    """name -> {opcode, shape, line, calls, fused, flops} for every HLO instruction; ``flops``
    of a dot (or of a fusion: the dots in its fused computation) is 2 * |out| * |contracted|."""
    out: dict[str, dict] = {}
    comps: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line and not line.startswith(" ") and "{" in line and ("%" in line or "ENTRY" in line):
            current = line.split()[1] if line.startswith("ENTRY") else line.split()[0]
            current = current.lstrip("%")
            comps[current] = []
            continue
        m = re.match(r"^\s*(?:ROOT )?%?([\w.\-]+) = (.+?) ([\w\-]+)\((.*)$", line)
        if not m:
            continue
        name, shape, opcode, rest = m.groups()
        calls = re.search(r"calls=%?([\w.\-]+)", rest)
        out[name] = {
            "opcode": opcode,
            "shape": shape,
            "rest": rest,
            "line": line.strip(),
            "calls": calls and calls.group(1),
        }
        if current is not None:
            comps[current].append(name)
    for info in out.values():
        info["flops"] = dot_flops(info, out) if info["opcode"] == "dot" else 0.0
    for info in out.values():
        if info["calls"] in comps:
            members = [out[n] for n in comps[info["calls"]]]
            inner = collections.Counter(x["opcode"] for x in members)
            info["fused"] = {k: v for k, v in inner.items() if k not in ("parameter", "constant")}
            info["flops"] = sum(x["flops"] for x in members)
    return out


def dot_flops(info: dict, table: dict[str, dict]) -> float:
    """2 * prod(output dims) * prod(contracting dims) of an HLO dot."""
    operands = re.findall(r"%?([\w.\-]+)", info["rest"].split(")")[0])
    lhs = table.get(operands[0]) if operands else None
    cd = re.search(r"lhs_contracting_dims=\{([\d,]*)\}", info["rest"])
    if lhs is None or cd is None:
        return float("nan")
    ld = _dims(lhs["shape"])
    k = int(np.prod([ld[int(i)] for i in cd.group(1).split(",") if i]))
    return 2.0 * float(np.prod(_dims(info["shape"]))) * k


def category(info: dict) -> str:
    op = info["opcode"]
    if op == "fusion":
        fused = info.get("fused", {})
        for key in (
            "dot",
            "convolution",
            "reduce-window",
            "select-and-scatter",
            "reduce",
            "gather",
            "scatter",
            "concatenate",
            "pad",
            "transpose",
            "slice",
        ):
            if key in fused:
                return f"fusion({key})"
        return "fusion(elementwise)"
    return op


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--meta-batch", type=int, default=32)
    ap.add_argument("--calls", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--native-conv", action="store_true", help="profile the native-conv step")
    args = ap.parse_args(argv)
    loss_fn, params, tasks = bench_meta.omniglot_problem(args.meta_batch)
    fn = loss_fn if args.native_conv else ops.matmul_ops(loss_fn)
    run, compile_s, flops = bench_meta.jax_step(fn, params, tasks, inner_lr=0.4, num_steps=1)
    jax.block_until_ready(run())
    import jax.numpy as jnp  # noqa: F401

    # the compiled HLO of the same step (jax_step compiles ahead of time; lower it again)
    import optax

    from jtransfer import meta

    opt = optax.adam(1e-3)

    def step(p, s, t):
        loss, g = jax.value_and_grad(meta.maml_loss, argnums=1)(fn, p, t, inner_lr=0.4, num_steps=1)
        u, s = opt.update(g, s, p)
        return optax.apply_updates(p, u), s, loss, g

    hlo = jax.jit(step).lower(params, opt.init(params), tasks).compile().as_text()
    info = hlo_ops(hlo)
    walls = []
    with tempfile.TemporaryDirectory() as d:
        with jax.profiler.trace(d):
            for _ in range(args.calls):
                t = time.perf_counter()
                jax.block_until_ready(run())
                walls.append(time.perf_counter() - t)
        pb = glob.glob(os.path.join(d, "**", "*.xplane.pb"), recursive=True)
        data = jax.profiler.ProfileData.from_file(pb[0])
    by_name = collections.defaultdict(float)
    for plane in data.planes:
        for line in plane.lines:
            for ev in line.events:
                if ev.name in info:
                    by_name[ev.name] += ev.duration_ns * 1e-9 / args.calls
    cats = collections.defaultdict(float)
    dots = collections.defaultdict(lambda: [0.0, 0.0, 0])
    for name, sec in by_name.items():
        c = category(info[name])
        cats[c] += sec
        if c in ("dot", "fusion(dot)"):
            fl = info[name]["flops"]
            key = info[name]["shape"]
            dots[key][0] += sec
            dots[key][1] += 0.0 if np.isnan(fl) else fl
            dots[key][2] += 1
    total_ops = sum(cats.values())
    wall = float(np.median(walls))
    rate = _bench.gemm_rate()
    dot_fl = sum(v[1] for v in dots.values())
    res = {
        "workload": f"maml2_conv4_omniglot_5w1s1q_mb{args.meta_batch}_profile",
        "peer": "jtransfer_native_conv" if args.native_conv else "jtransfer",
        "median_s": wall,
        "n": args.calls,
        "load": _bench.load(),
        "compile_s": round(compile_s, 2),
        "gflop_xla": round(flops / 1e9, 3),
        "gflop_dots": round(dot_fl / 1e9, 3),
        "gemm_gflops": round(rate / 1e9, 1),
        "op_seconds_per_step": round(total_ops, 4),
        "categories_s": {k: round(v, 4) for k, v in sorted(cats.items(), key=lambda kv: -kv[1])},
    }
    if args.json:
        print(json.dumps(res))
        return 0
    print(
        f"step {wall * 1e3:.0f} ms wall (median of {args.calls}), load {_bench.load()}, "
        f"compile {compile_s:.1f} s"
    )
    print(
        f"XLA cost analysis {flops / 1e9:.2f} GFLOP; dots {dot_fl / 1e9:.2f} GFLOP; best GEMM "
        f"rate now {rate / 1e9:.0f} GFLOP/s -> bound {flops / rate * 1e3:.0f} ms = "
        f"{100 * flops / rate / wall:.0f} % of the step"
    )
    print(f"op events sum to {total_ops * 1e3:.0f} ms per step (2 threads may overlap ops)")
    for k, v in sorted(cats.items(), key=lambda kv: -kv[1]):
        print(f"  {k:28s} {v * 1e3:9.1f} ms  {100 * v / total_ops:5.1f} %")
    print("dots by output shape (time, FLOPs, achieved rate):")
    for k, (sec, fl, cnt) in sorted(dots.items(), key=lambda kv: -kv[1][0])[:15]:
        rate_s = f"{fl / sec / 1e9:6.1f} GFLOP/s" if fl and sec else ""
        print(f"  {k:40s} x{cnt:<3d} {sec * 1e3:8.1f} ms  {fl / 1e9:7.3f} GFLOP  {rate_s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

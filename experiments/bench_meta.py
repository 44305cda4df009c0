"""Memory and speed benchmark for jtransfer.meta (issue 6). A script, not a test.

1. Peak memory of a 20-step second-order MAML inner loop on Conv4 (Omniglot 28×28, 5-way
   1-shot, meta-batch 4), read from the compiled executable's ``memory_analysis()``, with and
   without ``remat`` (goal: remat ≤ 0.3× no remat).
2. Meta-training step time and compile time of one jitted meta-step (second order,
   value_and_grad + Adam) for Omniglot-shaped 5-way 1-shot meta-batch 32 (Conv4 with
   max-pool and transductive batch norm, 1 inner step, α = 0.4, 1 query per class) and for
   the sinusoid (MLP 1-40-40-1, meta-batch 25, K = 10, α = 0.01). Rows, all timed in this
   process on the same data:
   * ``jtransfer vmap``: ``maml_loss`` as is (native ``conv_general_dilated`` /
     ``reduce_window``; on XLA:CPU the vmapped second-order Conv4 step takes tens of seconds,
     so it is timed only with ``--native-conv``);
   * ``jtransfer vmap + matmul_ops``: the loss wrapped in :func:`jtransfer.ops.matmul_ops`
     (convolutions as patch matmuls, pools as reshape-max), tasks vmapped;
   * ``... lax.map``: the same with ``task_batch_size=1`` (tasks one at a time);
   * ``learn2learn`` ``MAML`` and ``higher`` ``innerloop_ctx`` (Python loop over tasks, the
     peers' documented usage) on the same torch network (``ConvBase(max_pool=True)`` + linear
     head, batch norm in training mode; MLP for the sinusoid), Adam, only when torch and the
     peer import (run with the peers venv: ``PYTHONPATH=. .peers/torch/bin/python
     experiments/bench_meta.py``).

Each row also prints the step's FLOPs (XLA ``cost_analysis``) and, per peer, the compute
bound: those FLOPs at this machine's best float32 GEMM rate (a 8192×256×8192 product) is the
fastest any implementation of the same maths can run, so it caps the possible speed-up.

Last run (2 idle CPU cores): Conv4 meta-step 803 ms (38.35 GFLOP, 48 GFLOP/s), learn2learn
871 ms (1.08x), higher 1016 ms (1.27x); GEMM rate 175 GFLOP/s, so even a step at the full
GEMM rate (220 ms) would be only 3.97x learn2learn: the 5x goal is beyond this CPU's compute
bound for this network. Sinusoid: 0.7 ms vs learn2learn 26.6 ms (36x), higher 49 ms (66x).

Run: ``python experiments/bench_meta.py`` (``--quick`` for fewer repetitions).
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jtransfer import meta, models, ops


def _ce(apply_fn):
    def loss_fn(params, batch):
        x, y = batch
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(apply_fn(params, x), y))

    return loss_fn


def _mse(apply_fn):
    def loss_fn(params, batch):
        x, y = batch
        return jnp.mean((apply_fn(params, x) - y) ** 2)

    return loss_fn


def omniglot_problem(meta_batch: int, ways: int = 5, shots: int = 1, queries: int = 1):
    apply_fn, params = models.functional(models.Conv4(1, ways, rngs=nnx.Rngs(0)), train=True)
    r = np.random.default_rng(0)

    def batch(n):
        x = r.uniform(size=(meta_batch, ways * n, 28, 28, 1)).astype(np.float32)
        y = np.broadcast_to(np.repeat(np.arange(ways, dtype=np.int32), n), (meta_batch, ways * n))
        return jnp.asarray(x), jnp.asarray(np.ascontiguousarray(y))

    return _ce(apply_fn), params, (batch(shots), batch(queries))


def sinusoid_problem(meta_batch: int = 25, k: int = 10):
    apply_fn, params = models.functional(models.MLP(1, (40, 40), 1, rngs=nnx.Rngs(0)))
    r = np.random.default_rng(0)

    def batch():
        x = r.uniform(-5, 5, size=(meta_batch, k, 1)).astype(np.float32)
        return jnp.asarray(x), jnp.asarray(np.sin(x))

    return _mse(apply_fn), params, (batch(), batch())


# ----------------------------------------------------------------------------- memory


def peak_bytes(loss_fn, params, tasks, *, num_steps, remat, inner_lr=0.1):
    f = jax.jit(
        jax.grad(
            functools.partial(
                meta.maml_loss, loss_fn, inner_lr=inner_lr, num_steps=num_steps, remat=remat
            )
        ),
    )
    compiled = f.lower(params, tasks).compile()
    ma = compiled.memory_analysis()
    total = (
        ma.temp_size_in_bytes
        + ma.argument_size_in_bytes
        + ma.output_size_in_bytes
        - ma.alias_size_in_bytes
    )
    return ma.temp_size_in_bytes, total


def bench_memory(num_steps: int = 20, meta_batch: int = 4, *, table: bool = True):
    loss_fn, params, tasks = omniglot_problem(meta_batch)
    print(
        f"\n== Peak memory: Conv4, {num_steps}-step second-order inner loop, 5-way 1-shot, "
        f"meta-batch {meta_batch} (compiled memory_analysis) =="
    )
    out = {}
    for remat in (False, True):
        temp, total = peak_bytes(loss_fn, params, tasks, num_steps=num_steps, remat=remat)
        out[remat] = total
        print(
            f"  remat={remat!s:5}: temp {temp / 2**20:9.1f} MiB   temp+args+outputs "
            f"{total / 2**20:9.1f} MiB"
        )
    print(f"  ratio remat / no remat: {out[True] / out[False]:.3f}   (goal <= 0.3)")
    for steps in (5, 10) if table else ():
        t = [
            peak_bytes(loss_fn, params, tasks, num_steps=steps, remat=r)[1] / 2**20
            for r in (False, True)
        ]
        print(f"  steps {steps:2d}: no remat {t[0]:8.1f} MiB   remat {t[1]:8.1f} MiB")
    if table:
        print(
            f"  steps {num_steps:2d}: no remat {out[False] / 2**20:8.1f} MiB   remat "
            f"{out[True] / 2**20:8.1f} MiB"
        )
    return out


# ----------------------------------------------------------------------------- speed


def _median_time(fn, reps):
    """(median wall seconds, median process CPU seconds) per call, after one warm-up call.

    On a shared machine the CPU time (all threads of this process) is the fairer comparison:
    wall time also counts the time other processes hold the cores."""
    fn()  # warm
    wall, cpu = [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return float(np.median(wall)), float(np.median(cpu))


def jax_step_time(loss_fn, params, tasks, *, inner_lr, num_steps, reps, task_batch_size=None):
    """((median wall s, median CPU s) per jitted meta-step, compile seconds) of MAML + Adam."""
    opt = optax.adam(1e-3)
    opt_state = opt.init(params)

    @jax.jit
    def step(params, opt_state, tasks):
        loss, g = jax.value_and_grad(meta.maml_loss, argnums=1)(
            loss_fn,
            params,
            tasks,
            inner_lr=inner_lr,
            num_steps=num_steps,
            task_batch_size=task_batch_size,
        )
        u, opt_state = opt.update(g, opt_state, params)
        return optax.apply_updates(params, u), opt_state, loss

    t0 = time.perf_counter()
    compiled = step.lower(params, opt_state, tasks).compile()
    compile_s = time.perf_counter() - t0
    times = _median_time(lambda: jax.block_until_ready(compiled(params, opt_state, tasks)), reps)
    return times, compile_s, _flops(compiled)


def _flops(compiled) -> float:
    ca = compiled.cost_analysis()
    ca = ca[0] if isinstance(ca, (list, tuple)) else ca
    return float((ca or {}).get("flops", float("nan")))


def matmul_rate(reps: int = 5, n: int = 4096, d: int = 256) -> float:
    """Best float32 GEMM rate (FLOP/s) of this machine under XLA: a (2n, d) x (d, 2n) product,
    the shape bench_align uses for its matmul bound."""
    z = jnp.asarray(np.random.default_rng(0).normal(size=(2 * n, d)).astype(np.float32))
    f = jax.jit(lambda z: z @ z.T)
    jax.block_until_ready(f(z))
    best = min(_timed(lambda: jax.block_until_ready(f(z))) for _ in range(reps))
    return 2.0 * (2 * n) ** 2 * d / best


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def torch_step_times(kind, tasks, *, inner_lr, reps):
    """Seconds per MAML meta-step of learn2learn and higher on the same network and data."""
    have = {n: importlib.util.find_spec(n) is not None for n in ("torch", "learn2learn", "higher")}
    out = {}
    if not have["torch"]:
        return {
            "learn2learn": "skipped: torch not installed",
            "higher": "skipped: torch not installed",
        }
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    (xs, ys), (xq, yq) = jax.tree.map(lambda a: np.array(a), tasks)
    if kind == "conv4":
        xs, xq = (
            torch.from_numpy(np.ascontiguousarray(a.transpose(0, 1, 4, 2, 3))) for a in (xs, xq)
        )
        ys, yq = (torch.from_numpy(a.astype(np.int64)) for a in (ys, yq))
        loss = F.cross_entropy
    else:
        xs, ys, xq, yq = (torch.from_numpy(a) for a in (xs, ys, xq, yq))
        loss = F.mse_loss

    def make_net():
        if kind == "conv4":
            from torch import nn

            blocks = []
            for cin in (1, 64, 64, 64):  # conv3x3 → BN (batch stats) → ReLU → max-pool 2
                blocks += [
                    nn.Conv2d(cin, 64, 3, padding=1),
                    nn.BatchNorm2d(64),
                    nn.ReLU(),
                    nn.MaxPool2d(2),
                ]
            return nn.Sequential(*blocks, nn.Flatten(), nn.Linear(64, 5))
        from torch import nn

        return nn.Sequential(
            nn.Linear(1, 40), nn.ReLU(), nn.Linear(40, 40), nn.ReLU(), nn.Linear(40, 1)
        )

    num_tasks = xs.shape[0]
    if have["learn2learn"]:
        import learn2learn as l2l

        maml = l2l.algorithms.MAML(make_net(), lr=inner_lr, first_order=False)
        opt = torch.optim.Adam(maml.parameters(), 1e-3)

        def l2l_step():
            opt.zero_grad()
            for i in range(num_tasks):
                learner = maml.clone()
                learner.adapt(loss(learner(xs[i]), ys[i]))
                (loss(learner(xq[i]), yq[i]) / num_tasks).backward()
            opt.step()

        out["learn2learn"] = _median_time(l2l_step, reps)
    else:
        out["learn2learn"] = "skipped: not installed"
    if have["higher"]:
        import higher

        net = make_net()
        opt = torch.optim.Adam(net.parameters(), 1e-3)
        inner = torch.optim.SGD(net.parameters(), lr=inner_lr)

        def higher_step():
            opt.zero_grad()
            for i in range(num_tasks):
                with higher.innerloop_ctx(net, inner, copy_initial_weights=False) as (f, d):
                    d.step(loss(f(xs[i]), ys[i]))
                    (loss(f(xq[i]), yq[i]) / num_tasks).backward()
            opt.step()

        out["higher"] = _median_time(higher_step, reps)
    else:
        out["higher"] = "skipped: not installed"
    return out


def bench_speed(name, kind, loss_fn, params, tasks, *, inner_lr, num_steps, reps, rows):
    num_tasks = jax.tree.leaves(tasks)[0].shape[0]
    rate = matmul_rate()
    print(
        f"\n== Meta-step time: {name} (meta-batch {num_tasks}, {num_steps} inner step(s), "
        "second order, + Adam) ==",
        flush=True,
    )
    ours, step_flops = {}, 0.0
    for label, fn, tbs in rows:
        (t, c), comp, flops = jax_step_time(
            fn,
            params,
            tasks,
            inner_lr=inner_lr,
            num_steps=num_steps,
            reps=reps,
            task_batch_size=tbs,
        )
        ours[label] = (t, c)
        if tbs is None:  # XLA's cost analysis counts a lax.map body once: vmapped rows only
            step_flops = max(step_flops, flops)
        print(
            f"  {label:32s} wall {1e3 * t:9.1f} ms/step  CPU {1e3 * c:9.1f} ms/step  "
            f"{num_tasks / t:7.1f} tasks/s  compile {comp:5.1f} s  "
            + (
                f"{flops / 1e9:.2f} GFLOP/step = {flops / t / 1e9:.0f} GFLOP/s"
                if tbs is None
                else "(FLOPs: XLA counts the lax.map body once)"
            ),
            flush=True,
        )
    peers = torch_step_times(kind, tasks, inner_lr=inner_lr, reps=reps)
    best_label = min(ours, key=lambda k: ours[k][0])
    best = ours[best_label]
    for peer, t in peers.items():
        if isinstance(t, str):
            print(f"  {peer:32s} {t}")
            continue
        print(
            f"  {peer:32s} wall {1e3 * t[0]:9.1f} ms/step  CPU {1e3 * t[1]:9.1f} ms/step  "
            f"{num_tasks / t[0]:7.1f} tasks/s  (Python loop over tasks)",
            flush=True,
        )
        print(
            f"    ratio {peer} / jtransfer ({best_label}): wall {t[0] / best[0]:.2f}x, "
            f"CPU {t[1] / best[1]:.2f}x  (goal >= 5x)"
        )
        # Roofline: the step's XLA-counted FLOPs at this machine's best GEMM rate is the
        # fastest any implementation of the same maths could run here.
        floor = step_flops / rate
        print(
            f"    compute bound: {step_flops / 1e9:.2f} GFLOP at the best GEMM rate "
            f"({rate / 1e9:.0f} GFLOP/s) takes >= {1e3 * floor:.1f} ms, so no implementation "
            f"can be more than {t[0] / floor:.2f}x {peer} here"
        )
    return ours, peers


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument(
        "--native-conv",
        action="store_true",
        help="also time vmapped Conv4 with native conv ops (tens of s per step on XLA:CPU)",
    )
    args = ap.parse_args()
    reps = 3 if args.quick else 7
    print(
        f"jax {jax.__version__}, backend {jax.default_backend()}, devices {jax.devices()}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    if not args.skip_memory:
        bench_memory(table=not args.quick)
    loss_fn, params, tasks = omniglot_problem(32)
    fast = ops.matmul_ops(loss_fn)
    rows = [
        ("jtransfer vmap + matmul_ops", fast, None),
        ("jtransfer lax.map + matmul_ops", fast, 1),
    ]
    if args.native_conv:
        rows.append(("jtransfer vmap (native conv)", loss_fn, None))
    bench_speed(
        "Omniglot-shaped Conv4 5-way 1-shot",
        "conv4",
        loss_fn,
        params,
        tasks,
        inner_lr=0.4,
        num_steps=1,
        reps=reps,
        rows=rows,
    )
    loss_fn, params, tasks = sinusoid_problem()
    bench_speed(
        "sinusoid MLP 1-40-40-1, K=10",
        "mlp",
        loss_fn,
        params,
        tasks,
        inner_lr=0.01,
        num_steps=1,
        reps=10 * reps,
        rows=[("jtransfer vmap", loss_fn, None), ("jtransfer lax.map", loss_fn, 1)],
    )
    print(
        f"\nload average at the end {os.getloadavg()[0]:.1f} (2 shared cores: absolute times "
        "vary with load; compare ratios)"
    )


if __name__ == "__main__":
    main()

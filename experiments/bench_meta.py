"""Memory and speed benchmark for jtransfer.meta (issue 6). A script, not a test.

1. Peak memory of a 20-step second-order MAML inner loop on Conv4 (Omniglot 28×28, 5-way
   1-shot, meta-batch 4), read from the compiled executable's ``memory_analysis()``, with and
   without ``remat`` (goal: remat ≤ 0.3× no remat).
2. Meta-training step time of one jitted meta-step (second order, value_and_grad + Adam) for
   Omniglot-shaped 5-way 1-shot meta-batch 32 (Conv4 with max-pool and transductive batch
   norm, 1 inner step, α = 0.4, 1 query per class; workload
   ``maml2_conv4_omniglot_5w1s1q_mb32``) and for the sinusoid (MLP 1-40-40-1, meta-batch 25,
   K = 10, α = 0.01; ``maml2_sinusoid_mlp40x40_k10_mb25``). Implementations, all on the same
   weights and data, each meta-gradient checked against the first row's before timing:
   * ``jtransfer``: ``maml_loss`` through :func:`jtransfer.ops.matmul_ops` (convolutions as
     patch matmuls, pools as reshape-max), tasks vmapped; ``jtransfer_laxmap``: the same with
     ``task_batch_size=1``; ``jtransfer_native_conv`` (``--native-conv``; always on a GPU):
     native ``conv_general_dilated`` / ``reduce_window``;
   * ``torch_loop``: plain PyTorch (functional forward, batch norm on batch statistics written
     out, ``autograd.grad(create_graph=True)`` per task); ``torch_func``:
     ``torch.func.vmap(grad(...))`` of the same loss; ``learn2learn`` ``MAML`` and ``higher``
     ``innerloop_ctx`` on an ``nn.Sequential`` (``nn.BatchNorm2d`` in training mode, which
     also updates running statistics) loaded with the same weights. torch uses ``--threads``
     (default: all CPUs, as XLA) and CUDA when it sees a GPU.

Each round times every implementation (``experiments/_bench.py``), so ratios come from one
round. Why the old in-process and alternating Conv4 ratios differed (1.08-2.47x vs 0.93x):
(a) threads: on a loaded 2-core machine PyTorch's OpenMP pool with 2 threads collapses (the
plain sinusoid loop measured 74-85 ms/step with 1 thread and 1.7-3.9 s with 2, torch alone in
its process at load 24), so any ratio against torch depends on the load and thread count more
than on the code; (b) order: the old script timed all jtransfer reps, then all peer reps,
so a change of load between the blocks entered the ratio; (c) what each side computes: the
peers' ``nn.BatchNorm2d`` also updates running statistics, torch's max-pool backward differs
from ``matmul_ops``' one-hot selection, and the old peers started from other random weights.
Rows are now checked against each other and interleaved per round; pin ``--threads`` and
compare processes with ``--only`` when the machine is shared.

Measured 2026-12-06, 2 cores at load average 23 (GEMM rate 15 GFLOP/s instead of ~175 idle;
rerun on an idle machine before quoting): Conv4 mb 32, torch 1 thread, XLA default threads,
3 rounds: jtransfer 7.28 s/step (compile 45 s; 35 % of the GEMM bound at that rate),
torch_loop / jtransfer 0.84x [0.79, 0.99], torch_func / jtransfer 1.04x [0.83, 1.06]; their
meta-gradients equal jtransfer's to 5.3e-5 and 3.2e-5 (max|g|-relative bound 2e-3).

Issue 21 second pass (custom-VJP convolution in ``matmul_ops``, see
``bench_conv4_profile.py``): Conv4 mb 32 in one process, 7 alternating rounds over two runs
at load 10-19, CPU time per step: previous ``matmul_ops`` 1473-1660 ms, now 1351-1396 ms
(per round 5-17 % less; 27.4-28.4 GFLOP per CPU-second against 62-68 for a square GEMM).
Reference checks with the torch peers (``/work/.peers/torch`` interpreter, mb 8, torch 1
thread, 1 round, load 8): torch_loop and torch_func meta-gradients equal jtransfer's to
6.3e-6 and 6.1e-6; wall per step jtransfer 717 ms, torch_loop 1.19x, torch_func 1.13x.

Run: ``python experiments/bench_meta.py [--json] [--only jtransfer --only torch_loop]
[--rounds 3] [--threads 1] [--quick] [--skip-memory] [--skip-sinusoid]``.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from experiments import _bench  # noqa: E402
from jtransfer import meta, models, ops  # noqa: E402


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


def _flops(compiled) -> float:
    ca = compiled.cost_analysis()
    ca = ca[0] if isinstance(ca, (list, tuple)) else ca
    return float((ca or {}).get("flops", float("nan")))


def canonical(params, kind) -> list[np.ndarray]:
    """jtransfer params as a flat list in the order the torch side uses (checks only)."""
    p = nnx.to_pure_dict(params) if isinstance(params, nnx.State) else params
    p = jax.tree.map(np.asarray, p)
    if kind == "conv4":
        out = []
        for b in range(4):
            blk = p["blocks"][b]
            out += [
                blk["conv"]["kernel"],
                blk["conv"]["bias"],
                blk["norm"]["scale"],
                blk["norm"]["bias"],
            ]
        return out + [p["head"]["kernel"], p["head"]["bias"]]
    return [a for la in range(3) for a in (p["layers"][la]["kernel"], p["layers"][la]["bias"])]


def _flat(arrays) -> np.ndarray:
    return np.concatenate([np.ravel(np.asarray(a, np.float64)) for a in arrays])


def jax_step(loss_fn, params, tasks, *, inner_lr, num_steps, task_batch_size=None):
    """(jitted MAML + Adam meta-step returning (params, opt_state, loss, grads), compile s, FLOPs).

    The step is the same for every jtransfer row; the rows differ in ``loss_fn`` (native ops
    or :func:`jtransfer.ops.matmul_ops`) and ``task_batch_size`` (vmap or ``lax.map``)."""
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
        return optax.apply_updates(params, u), opt_state, loss, g

    t0 = time.perf_counter()
    compiled = step.lower(params, opt_state, tasks).compile()
    compile_s = time.perf_counter() - t0
    return (lambda: compiled(params, opt_state, tasks)), compile_s, _flops(compiled)


# ----------------------------------------------------------------------------- torch peers


def torch_impls(kind, params, tasks, *, inner_lr, threads):
    """The PyTorch peers on the same weights and data, each returning its meta-gradient in
    :func:`canonical` order (HWIO conv kernels, (in, out) linear weights) after one meta-step.

    * ``torch_loop``: plain PyTorch, the loop a researcher writes without a MAML library:
      functional forward (``F.conv2d``, batch norm on batch statistics written out, ``F.relu``,
      ``F.max_pool2d``), per task ``torch.autograd.grad(create_graph=True)`` for the inner step,
      query losses averaged, one ``backward``, ``torch.optim.Adam``.
    * ``torch_func``: ``torch.func.vmap`` over tasks of ``torch.func.grad`` of the same
      functional MAML loss (inner step by ``torch.func.grad``), then Adam.
    * ``learn2learn`` / ``higher``: their documented loops on an ``nn.Sequential`` with
      ``nn.BatchNorm2d`` in training mode (which also updates running statistics: extra work
      jtransfer's functional batch norm does not do), loaded with the same weights.
    Peers that do not import are left out (their absence is reported)."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    (xs, ys), (xq, yq) = jax.tree.map(np.asarray, tasks)
    conv = kind == "conv4"
    if conv:
        xs, xq = (np.ascontiguousarray(a.transpose(0, 1, 4, 2, 3)) for a in (xs, xq))
        ys, yq = (a.astype(np.int64) for a in (ys, yq))
        loss = F.cross_entropy
    else:
        loss = F.mse_loss
    xs, ys, xq, yq = (torch.from_numpy(np.array(a)).to(dev) for a in (xs, ys, xq, yq))
    num_tasks = xs.shape[0]
    can = canonical(params, kind)

    def to_torch(a, i):  # canonical (HWIO / (in, out)) -> torch layout
        a = np.asarray(a)
        if conv and i % 4 == 0 and i < 16:
            a = a.transpose(3, 2, 0, 1)  # HWIO -> OIHW
        elif a.ndim == 2:
            a = a.T  # (in, out) -> (out, in)
        return torch.tensor(np.ascontiguousarray(a), device=dev, requires_grad=True)

    def from_torch(ts):
        out = []
        for i, t in enumerate(ts):
            a = t.detach().cpu().numpy()
            if conv and i % 4 == 0 and i < 16:
                a = a.transpose(2, 3, 1, 0)
            elif a.ndim == 2:
                a = a.T
            out.append(a)
        return _flat(out)

    def forward(w, x):
        if conv:
            h = x
            for b in range(4):
                k, bias, scale, shift = w[4 * b : 4 * b + 4]
                h = F.conv2d(h, k, bias, padding=1)
                mu = h.mean((0, 2, 3), keepdim=True)
                var = ((h - mu) ** 2).mean((0, 2, 3), keepdim=True)
                h = (h - mu) * torch.rsqrt(var + 1e-5) * scale[:, None, None] + shift[:, None, None]
                h = F.max_pool2d(F.relu(h), 2)
            return F.linear(h.flatten(1), w[16], w[17])
        h = F.relu(F.linear(x, w[0], w[1]))
        h = F.relu(F.linear(h, w[2], w[3]))
        return F.linear(h, w[4], w[5])

    impls = {}
    w_loop = [to_torch(a, i) for i, a in enumerate(can)]
    opt_loop = torch.optim.Adam(w_loop, 1e-3)

    def loop_step():
        opt_loop.zero_grad()
        total = 0.0
        for t in range(num_tasks):
            g = torch.autograd.grad(loss(forward(w_loop, xs[t]), ys[t]), w_loop, create_graph=True)
            fast = [p - inner_lr * gi for p, gi in zip(w_loop, g, strict=True)]
            total = total + loss(forward(fast, xq[t]), yq[t])
        (total / num_tasks).backward()
        grads = [p.grad.clone() for p in w_loop]
        opt_loop.step()
        return grads

    impls["torch_loop"] = (loop_step, from_torch)

    try:
        from torch.func import grad, vmap

        w_func = [to_torch(a, i) for i, a in enumerate(can)]
        opt_func = torch.optim.Adam(w_func, 1e-3)

        def task_loss(w, a, b, c, d):
            g = grad(lambda v: loss(forward(v, a), b))(w)
            return loss(forward([p - inner_lr * gi for p, gi in zip(w, g, strict=True)], c), d)

        meta_grad = vmap(grad(task_loss), in_dims=(None, 0, 0, 0, 0))

        def func_step():
            opt_func.zero_grad()
            w = [p.detach() for p in w_func]
            g = [gi.mean(0) for gi in meta_grad(w, xs, ys, xq, yq)]
            for p, gi in zip(w_func, g, strict=True):
                p.grad = gi
            opt_func.step()
            return g

        impls["torch_func"] = (func_step, from_torch)
    except ImportError:
        pass

    def make_net():
        from torch import nn

        if conv:
            blocks = []
            for cin in (1, 64, 64, 64):
                blocks += [
                    nn.Conv2d(cin, 64, 3, padding=1),
                    nn.BatchNorm2d(64),
                    nn.ReLU(),
                    nn.MaxPool2d(2),
                ]
            net = nn.Sequential(*blocks, nn.Flatten(), nn.Linear(64, 5))
        else:
            net = nn.Sequential(
                nn.Linear(1, 40), nn.ReLU(), nn.Linear(40, 40), nn.ReLU(), nn.Linear(40, 1)
            )
        with torch.no_grad():
            for p, a in zip(
                net.parameters(), [to_torch(a, i) for i, a in enumerate(can)], strict=True
            ):
                p.copy_(a)
        return net.to(dev)

    if importlib.util.find_spec("learn2learn") is not None:
        import learn2learn as l2l

        maml = l2l.algorithms.MAML(make_net(), lr=inner_lr, first_order=False)
        opt_l2l = torch.optim.Adam(maml.parameters(), 1e-3)

        def l2l_step():
            opt_l2l.zero_grad()
            for i in range(num_tasks):
                learner = maml.clone()
                learner.adapt(loss(learner(xs[i]), ys[i]))
                (loss(learner(xq[i]), yq[i]) / num_tasks).backward()
            grads = [p.grad.clone() for p in maml.parameters()]
            opt_l2l.step()
            return grads

        impls["learn2learn"] = (l2l_step, from_torch)
    if importlib.util.find_spec("higher") is not None:
        import higher

        net = make_net()
        opt_h = torch.optim.Adam(net.parameters(), 1e-3)
        inner = torch.optim.SGD(net.parameters(), lr=inner_lr)

        def higher_step():
            opt_h.zero_grad()
            for i in range(num_tasks):
                with higher.innerloop_ctx(net, inner, copy_initial_weights=False) as (f, d):
                    d.step(loss(f(xs[i]), ys[i]))
                    (loss(f(xq[i]), yq[i]) / num_tasks).backward()
            grads = [p.grad.clone() for p in net.parameters()]
            opt_h.step()
            return grads

        impls["higher"] = (higher_step, from_torch)
    sync = (lambda out: (torch.cuda.synchronize(), out)[1]) if dev == "cuda" else (lambda out: out)
    return impls, sync, dev


def bench_speed(runner, workload, kind, rows, params, tasks, *, inner_lr, num_steps, reps, rtol):
    """Checks every implementation's meta-gradient against the first jtransfer row's and times
    all of them in alternating rounds (``experiments/_bench.py``)."""
    num_tasks = jax.tree.leaves(tasks)[0].shape[0]
    impls, step_flops = {}, float("nan")
    jflat = lambda out: _flat(canonical(out[3], kind))  # noqa: E731
    for label, fn, tbs in rows:
        if not runner.wants(label):
            continue
        run, comp, flops = jax_step(
            fn, params, tasks, inner_lr=inner_lr, num_steps=num_steps, task_batch_size=tbs
        )
        if tbs is None:  # XLA's cost analysis counts a lax.map body once: vmapped rows only
            step_flops = flops if np.isnan(step_flops) else max(step_flops, flops)
        impls[label] = _bench.Impl(run, jflat, jax.block_until_ready, compile_s=comp)
    threads = os.cpu_count() if runner.threads is None else runner.threads
    if importlib.util.find_spec("torch") is not None:
        peers, sync, dev = torch_impls(kind, params, tasks, inner_lr=inner_lr, threads=threads)
        for name, (fn, conv) in peers.items():
            if runner.wants(name):
                impls[name] = _bench.Impl(fn, conv, sync, note=f"torch on {dev}, {threads} threads")
    else:
        runner.say("  torch not importable: PyTorch peers skipped")
    # the reference meta-gradient: the first jtransfer row (computed even under --only)
    if rows[0][0] in impls:
        ref = None
    else:
        run0, _, _ = jax_step(
            rows[0][1],
            params,
            tasks,
            inner_lr=inner_lr,
            num_steps=num_steps,
            task_batch_size=rows[0][2],
        )
        ref = jflat(jax.block_until_ready(run0()))
    if not impls:
        return {}
    res = runner.run(
        workload,
        impls,
        reference=ref,
        rtol=rtol,
        n=reps,
        gflop=None if np.isnan(step_flops) else step_flops / 1e9,
        baseline=rows[0][0],
    )
    if not np.isnan(step_flops) and runner.json:
        # the GEMM rate in the same process, for the share of the bound (bench_tables.py)
        rate = _bench.gemm_rate()
        runner.probe(workload, "xla_gemm_rate", gemm_gflop_per_s=round(rate / 1e9, 3))
    elif not np.isnan(step_flops):
        rate = _bench.gemm_rate()
        floor = step_flops / rate
        print(
            f"  {step_flops / 1e9:.2f} GFLOP/step (XLA cost analysis of the vmapped step); best "
            f"GEMM rate now {rate / 1e9:.0f} GFLOP/s -> bound {floor * 1e3:.1f} ms/step"
        )
        for name, row in res.items():
            print(
                f"  {name:30s} {num_tasks / row['median_s']:8.1f} tasks/s, "
                f"{100 * floor / row['median_s']:5.1f} % of the GEMM bound"
            )
    return res


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--meta-batch", type=int, default=32)
    ap.add_argument("--skip-sinusoid", action="store_true")
    ap.add_argument("--skip-conv4", action="store_true")
    ap.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: all CPUs, as XLA)"
    )
    ap.add_argument(
        "--native-conv",
        action="store_true",
        help="also time vmapped Conv4 with native conv ops (tens of s per step on XLA:CPU)",
    )
    _bench.add_args(ap)
    return ap


def main(argv=None):
    args = build_parser().parse_args(argv)
    runner = _bench.Runner(args, device=f"{jax.default_backend()}:{jax.devices()[0].device_kind}")
    runner.threads = args.threads
    reps = 3 if args.quick else 5
    runner.say(
        f"jax {jax.__version__}, backend {jax.default_backend()}, devices {jax.devices()}, "
        f"{os.cpu_count()} CPUs, load average {_bench.load()}"
    )
    if not args.skip_memory and not args.json:
        bench_memory(table=not args.quick)
    if not args.skip_conv4:
        loss_fn, params, tasks = omniglot_problem(args.meta_batch)
        fast = ops.matmul_ops(loss_fn)
        rows = [("jtransfer", fast, None)]
        if jax.default_backend() == "cpu":
            rows.append(("jtransfer_laxmap", fast, 1))
        if args.native_conv or jax.default_backend() != "cpu":
            rows.append(("jtransfer_native_conv", loss_fn, None))
        bench_speed(
            runner,
            f"maml2_conv4_omniglot_5w1s1q_mb{args.meta_batch}",
            "conv4",
            rows,
            params,
            tasks,
            inner_lr=0.4,
            num_steps=1,
            reps=reps,
            # float32 second-order meta-gradients, max|diff| / max|g|; on a GPU both libraries
            # may use TF32 convolutions by default (10-bit mantissa), hence the wider bound there
            rtol=2e-3 if jax.default_backend() == "cpu" else 2e-2,
        )
    if not args.skip_sinusoid:
        loss_fn, params, tasks = sinusoid_problem()
        bench_speed(
            runner,
            "maml2_sinusoid_mlp40x40_k10_mb25",
            "mlp",
            [("jtransfer", loss_fn, None), ("jtransfer_laxmap", loss_fn, 1)],
            params,
            tasks,
            inner_lr=0.01,
            num_steps=1,
            reps=10 * reps,
            rtol=1e-4,
        )
    runner.say(f"load average at the end {_bench.load()}")
    return runner.finish()


if __name__ == "__main__":
    sys.exit(main())

"""Memory and speed benchmark for jtransfer.meta (issue 6). A script, not a test.

1. Peak memory of a 20-step second-order MAML inner loop on Conv4 (Omniglot 28×28, 5-way
   1-shot, meta-batch 4), read from the compiled executable's ``memory_analysis()``, with and
   without ``remat`` (goal: remat ≤ 0.3× no remat).
2. Meta-training throughput (tasks/s) and compile time of one jitted meta-step (second order,
   value_and_grad + Adam) for Omniglot-shaped 5-way 1-shot meta-batch 32 (Conv4, 1 inner step,
   α = 0.4) and for the sinusoid (MLP 1-40-40-1, meta-batch 25, K = 10), against baselines
   timed in the same process:
   * ``lax.map``: the same jitted step with ``task_batch_size=1`` (tasks one at a time inside
     the program; on CPU vmapped per-task conv weights become slow grouped convolutions);
   * ``loop``: a Python loop over the tasks calling a jitted per-task meta-gradient and
     averaging the gradients on the host side (no vmap: what a per-task port does);
   * ``learn2learn``: its MAML on the same network, only when learn2learn and torch import
     (not installed in this environment: reported as such).

Run: ``python experiments/bench_meta.py`` (``--quick`` for fewer repetitions).
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jtransfer import meta, models


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
    f = jax.jit(jax.grad(functools.partial(meta.maml_loss, loss_fn, inner_lr=inner_lr,
                                           num_steps=num_steps, remat=remat)),)
    compiled = f.lower(params, tasks).compile()
    ma = compiled.memory_analysis()
    total = (ma.temp_size_in_bytes + ma.argument_size_in_bytes + ma.output_size_in_bytes
             - ma.alias_size_in_bytes)
    return ma.temp_size_in_bytes, total


def bench_memory(num_steps: int = 20, meta_batch: int = 4, *, table: bool = True):
    loss_fn, params, tasks = omniglot_problem(meta_batch)
    print(f"\n== Peak memory: Conv4, {num_steps}-step second-order inner loop, 5-way 1-shot, "
          f"meta-batch {meta_batch} (compiled memory_analysis) ==")
    out = {}
    for remat in (False, True):
        temp, total = peak_bytes(loss_fn, params, tasks, num_steps=num_steps, remat=remat)
        out[remat] = total
        print(f"  remat={remat!s:5}: temp {temp / 2**20:9.1f} MiB   temp+args+outputs "
              f"{total / 2**20:9.1f} MiB")
    print(f"  ratio remat / no remat: {out[True] / out[False]:.3f}   (goal <= 0.3)")
    for steps in (5, 10) if table else ():
        t = [peak_bytes(loss_fn, params, tasks, num_steps=steps, remat=r)[1] / 2**20
             for r in (False, True)]
        print(f"  steps {steps:2d}: no remat {t[0]:8.1f} MiB   remat {t[1]:8.1f} MiB")
    if table:
        print(f"  steps {num_steps:2d}: no remat {out[False] / 2**20:8.1f} MiB   remat "
              f"{out[True] / 2**20:8.1f} MiB")
    return out


# ----------------------------------------------------------------------------- speed

def _time(fn, reps):
    fn()  # warm
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) / reps


def bench_speed(name, loss_fn, params, tasks, *, inner_lr, num_steps, reps, vmap=True):
    opt = optax.adam(1e-3)
    opt_state = opt.init(params)
    num_tasks = jax.tree.leaves(tasks)[0].shape[0]

    @jax.jit
    def vmap_step(params, opt_state, tasks):
        loss, g = jax.value_and_grad(meta.maml_loss, argnums=1)(
            loss_fn, params, tasks, inner_lr=inner_lr, num_steps=num_steps)
        u, opt_state = opt.update(g, opt_state, params)
        return optax.apply_updates(params, u), opt_state, loss

    compile_s = float("nan")
    if vmap:
        t0 = time.perf_counter()
        compiled = vmap_step.lower(params, opt_state, tasks).compile()
        compile_s = time.perf_counter() - t0

    def run_vmap():
        jax.block_until_ready(compiled(params, opt_state, tasks))

    @jax.jit
    def map_step(params, opt_state, tasks):
        loss, g = jax.value_and_grad(meta.maml_loss, argnums=1)(
            loss_fn, params, tasks, inner_lr=inner_lr, num_steps=num_steps, task_batch_size=1)
        u, opt_state = opt.update(g, opt_state, params)
        return optax.apply_updates(params, u), opt_state, loss

    t0 = time.perf_counter()
    compiled_map = map_step.lower(params, opt_state, tasks).compile()
    map_compile_s = time.perf_counter() - t0

    def run_map():
        jax.block_until_ready(compiled_map(params, opt_state, tasks))

    def one_task_loss(p, s, q):
        phi = meta.adapt(loss_fn, p, s, inner_lr=inner_lr, num_steps=num_steps)
        return loss_fn(phi, q)

    task_grad = jax.jit(jax.value_and_grad(one_task_loss))
    apply = jax.jit(lambda p, g, s: (lambda u, s2: (optax.apply_updates(p, u), s2))(
        *opt.update(g, s, p)))
    support, query = tasks
    per_task = [(jax.tree.map(lambda a: a[i], support), jax.tree.map(lambda a: a[i], query))
                for i in range(num_tasks)]
    t0 = time.perf_counter()
    jax.block_until_ready(task_grad(params, *per_task[0]))
    loop_compile_s = time.perf_counter() - t0

    def run_loop():
        acc = None
        for s, q in per_task:
            _, g = task_grad(params, s, q)
            acc = g if acc is None else jax.tree.map(jnp.add, acc, g)
        g = jax.tree.map(lambda a: a / num_tasks, acc)
        jax.block_until_ready(apply(params, g, opt_state))

    t_vmap = _time(run_vmap, reps) if vmap else float("nan")
    t_loop = _time(run_loop, max(1, reps // 2))
    t_map = _time(run_map, reps)
    print(f"\n== Throughput: {name} (meta-batch {num_tasks}, {num_steps} inner step(s), "
          "second order) ==")
    print(f"  jtransfer vmap+jit : {num_tasks / t_vmap:9.1f} tasks/s  ({1e3 * t_vmap:8.1f} ms/step)"
          f"  compile {compile_s:.2f} s")
    print(f"  jtransfer lax.map  : {num_tasks / t_map:9.1f} tasks/s  ({1e3 * t_map:8.1f} ms/step)"
          f"  compile {map_compile_s:.2f} s (task_batch_size=1)")
    print(f"  Python task loop   : {num_tasks / t_loop:9.1f} tasks/s  ({1e3 * t_loop:8.1f} ms/step)"
          f"  compile {loop_compile_s:.2f} s (per-task fn)")
    print(f"  speed-up vs loop: vmap {t_loop / t_vmap:.2f}x, lax.map {t_loop / t_map:.2f}x")
    if importlib.util.find_spec("learn2learn") and importlib.util.find_spec("torch"):
        print("  learn2learn is installed but not benchmarked by this script version.")
    else:
        print("  learn2learn: not installed (torch/learn2learn do not import) -> not compared")
    return {"tasks_per_s": num_tasks / t_vmap, "loop_tasks_per_s": num_tasks / t_loop,
            "map_tasks_per_s": num_tasks / t_map, "compile_s": compile_s,
            "speedup": t_loop / t_vmap}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--skip-conv-vmap", action="store_true",
                    help="do not time the vmapped Conv4 step (minutes per step on XLA:CPU)")
    args = ap.parse_args()
    reps = 3 if args.quick else 10
    print(f"jax {jax.__version__}, backend {jax.default_backend()}, devices {jax.devices()}")
    if not args.skip_memory:
        bench_memory(table=not args.quick)
    bench_speed("Omniglot-shaped Conv4 5-way 1-shot", *omniglot_problem(32), inner_lr=0.4,
                num_steps=1, reps=reps, vmap=not args.skip_conv_vmap)
    bench_speed("sinusoid MLP 1-40-40-1, K=10", *sinusoid_problem(), inner_lr=0.01,
                num_steps=1, reps=10 * reps)


if __name__ == "__main__":
    main()

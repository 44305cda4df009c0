"""Benchmark: learned optimizers as optax transforms, and meta-training throughput.

1. Per-step wall time of a ~100k-parameter MLP (784-128-10, batch 128) with each learned
   optimizer vs ``optax.adam``, timed in the same process (goal: learned / adam <= 2), both
   for the full training step (forward, backward, update, apply) and for the optimizer update
   alone (fixed gradients). Next to the times, XLA's own FLOP count of each compiled step
   (``compiled.cost_analysis()``): the arithmetic the optimizer needs, which bounds the
   ratio from below on a compute-bound machine.
2. Meta-training throughput in inner steps per second (every particle's step counts) for
   truncated BPTT (8 tasks) and PES (population 8 antithetic pairs = 16 particles), LSTM
   optimizer on the digits MLP (64-20-10 sigmoid, batch 128), truncations of 20 steps.

Run: ``python experiments/bench_lopt.py [--steps 200] [--meta-calls 20]``
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402

from jtransfer import lopt  # noqa: E402


def _mlp_problem(key):
    k1, k2, k3, k4 = jax.random.split(key, 4)
    params = {
        "w1": jax.random.normal(k1, (784, 128)) / 28.0,
        "b1": jnp.zeros(128),
        "w2": jax.random.normal(k2, (128, 10)) / 11.3,
        "b2": jnp.zeros(10),
    }
    x = jax.random.normal(k3, (128, 784))
    y = jax.random.randint(k4, (128,), 0, 10)

    def loss(p):
        h = jax.nn.relu(x @ p["w1"] + p["b1"][None])
        logits = h @ p["w2"] + p["b2"][None]
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    return params, loss


def _best_time(fn, args, steps, carry):
    """Best of seven repeats of ``steps`` calls of ``fn``, feeding ``carry(out, args)`` back."""
    args = carry(jax.block_until_ready(fn(*args)), args)  # compile
    best = float("inf")
    for _ in range(7):  # best of seven repeats (the machine may be shared)
        t0 = time.perf_counter()
        for _ in range(steps):
            out = fn(*args)
            args = carry(out, args)
        jax.block_until_ready(out)
        best = min(best, (time.perf_counter() - t0) / steps)
    return best


def _flops(jitted, *args):
    try:
        cost = jitted.lower(*args).compile().cost_analysis()
        cost = cost[0] if isinstance(cost, (list, tuple)) else cost
        return float(cost.get("flops", float("nan")))
    except Exception:  # noqa: BLE001 - cost analysis is best effort
        return float("nan")


def time_train_step(opt, params, loss, steps):
    """(seconds per full training step, its XLA flop count)."""

    @jax.jit
    def step(p, s):
        g = jax.grad(loss)(p)
        u, s = opt.update(g, s, p)
        return optax.apply_updates(p, u), s

    state = opt.init(params)
    return (
        _best_time(step, (params, state), steps, lambda out, args: out),
        _flops(step, params, state),
    )


def time_update_only(opt, params, loss, steps):
    """(seconds per optimizer update on fixed gradients, its XLA flop count)."""
    grads = jax.jit(jax.grad(loss))(params)

    @jax.jit
    def update(g, s, p):
        return opt.update(g, s, p)

    state = opt.init(params)
    return (
        _best_time(
            update, (grads, state, params), steps, lambda out, args: (args[0], out[1], args[2])
        ),
        _flops(update, grads, state, params),
    )


def meta_throughput(estimator, theta, calls, particles, truncation):
    state = estimator.init(theta, key=jax.random.key(0))
    grad = jax.jit(lambda th, s, k: estimator.update(th, s, key=k))
    out = grad(theta, state, jax.random.key(1))
    jax.block_until_ready(out)
    state = out[2]
    t0 = time.perf_counter()
    for i in range(calls):
        _, g, state = grad(theta, state, jax.random.key(2 + i))
    jax.block_until_ready(g)
    sec = time.perf_counter() - t0
    return particles * truncation * calls / sec, sec / calls


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--meta-calls", type=int, default=20)
    parser.add_argument("--skip-meta", action="store_true", help="only part 1")
    args = parser.parse_args()
    print(f"backend: {jax.default_backend()} ({jax.devices()[0].device_kind})")
    params, loss = _mlp_problem(jax.random.key(0))
    n = sum(x.size for x in jax.tree.leaves(params))
    print(f"\n1) {n:,}-parameter MLP, batch 128: full train step (fwd+bwd+update) and update only")
    print(
        f"  {'':36s} {'train step':>12s} {'ratio':>7s} {'GFLOP':>7s} | "
        f"{'update only':>12s} {'ratio':>7s} {'GFLOP':>7s}"
    )
    candidates = {
        "optax.adam": None,
        "lstm_optimizer (20 units, 2 layers)": lopt.lstm_optimizer(),
        "mlp_optimizer (hidden 32)": lopt.mlp_optimizer(),
        "mlp_optimizer (hidden 8)": lopt.mlp_optimizer(hidden=8),
        "learned_hyperparams (Adam schedule)": lopt.learned_hyperparams(horizon=100),
    }
    ref = None
    for name, lo in candidates.items():
        opt = optax.adam(1e-3) if lo is None else lo.optimizer(lo.init(jax.random.key(0)))
        steps = args.steps if lo is None or "hyper" in name else max(args.steps // 10, 5)
        (t, ft), (u, fu) = (
            time_train_step(opt, params, loss, steps),
            time_update_only(opt, params, loss, steps),
        )
        ref = ref or (t, u)
        print(
            f"  {name:36s} {t * 1e3:9.3f} ms {t / ref[0]:6.1f}x {ft / 1e9:7.3f} | "
            f"{u * 1e3:9.3f} ms {u / ref[1]:6.1f}x {fu / 1e9:7.3f}"
        )

    if args.skip_meta:
        return
    print(
        "\n2) meta-training throughput, LSTM optimizer on the digits MLP (64-20-10), "
        "truncation 20, horizon 100"
    )
    lo = lopt.lstm_optimizer()
    theta = lo.init(jax.random.key(0))
    task = lopt.digits_mlp_task()
    family = lambda k: task  # noqa: E731
    ests = {
        "tbptt, 8 tasks": (
            lopt.tbptt(
                lo, family, num_steps=100, truncation_length=20, num_tasks=8, second_order=False
            ),
            8,
        ),
        "tbptt, 8 tasks, second order": (
            lopt.tbptt(lo, family, num_steps=100, truncation_length=20, num_tasks=8),
            8,
        ),
        "pes, population 8 (16 particles)": (
            lopt.pes(lo, family, num_steps=100, truncation_length=20, sigma=0.01, population=8),
            16,
        ),
    }
    for name, (est, particles) in ests.items():
        rate, per_call = meta_throughput(est, theta, args.meta_calls, particles, 20)
        print(f"  {name:34s} {rate:10.0f} inner steps/s   {per_call * 1e3:8.1f} ms/meta-step")


if __name__ == "__main__":
    main()

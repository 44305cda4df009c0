"""Benchmark: learned optimizers as optax transforms, and meta-training throughput.

1. Per-step wall time of a ~100k-parameter MLP (784-128-10, batch 128) with each learned
   optimizer and ``optax.adam``, both for the full training step (forward, backward, update,
   apply: workload ``mlp101k_b128_train_step``) and for the optimizer update alone on fixed
   gradients (``mlp101k_b128_update_only``). Every round times Adam and all transforms
   together (``experiments/_bench.py``), so each ratio to Adam comes from one round. The LSTM's
   update is checked against a float64 NumPy reference (``np_lstm_update``) before timing.
   Profile rows: ``lstm_gemms_only`` (the LSTM's two gate matmuls alone, same shapes) and the
   best XLA GEMM rate, which give the arithmetic floor (1.01 GFLOP of gate matmuls per update).
2. Meta-training throughput in inner steps per second (every particle's step counts) for
   truncated BPTT (8 tasks) and PES (population 8 antithetic pairs = 16 particles), LSTM
   optimizer on the digits MLP (64-20-10 sigmoid, batch 128), truncations of 20 steps
   (human-readable mode only).

Measured 2026-12-06 on the shared 2-core machine (load average 17-20; CPU time of the
process, ``cpu_median_s``, 20 steps per call, 3 rounds; wall times at that load are not
meaningful), LSTM before (one ``(4H, N)`` product per layer) and after (``lax.map`` over
4096-coordinate chunks) issue 21 item 5: update alone 67.6 -> 39.2 ms CPU per step (1.7x;
44.1 in a second run); training step 71.6 -> 48.7 ms against ``optax.adam``'s 0.83 / 1.12 ms
in the same processes, 87x -> 43x (52x in the second run). Caveat: in a stand-alone timing of
``jit(opt.update)`` on one ``(N,)`` leaf with a zero state and N(0, 0.01) gradients, old and
new both took ~90 ms CPU per call; not explained yet (data-dependent slow paths such as
denormals are a guess, not checked). The two gate matmuls alone take ~38 ms CPU
at full size (27 GFLOP per CPU-second against ~64 for a square GEMM: K = 22 and 40 are too
small for the GEMM kernel); chunking keeps their outputs in cache rather than making them
faster. What remains: ~1.0 GFLOP of skinny matmuls and ~20M transcendental gate functions
per update.

Issue 21 second pass (2026-12-06, load 10-12, CPU time of one process, 10 steps per call, 3
calls per round, 2 processes x 3 alternating rounds): the input and hidden matmuls were
already one ``[W_x; W_h]^T [x; h]`` product per layer and chunk. Training step, ``chunk_size``
4096: 35.0-37.2 ms (36-43x ``optax.adam`` in the same rounds); 8192: 31.9-39.4 ms; 16384:
30.9-36.7 ms (32-42x), 1-12 % below 4096 in each of the 6 rounds, now the default; 32768:
31.3-36.2 ms; 1024: 38.1-41.3 ms. Sigmoid as ``0.5 tanh(x / 2) + 0.5`` (16384): 29.4-35.7 ms,
0-5 % below the logistic, max|diff| to the float64 reference 1.7e-9 (vs 1.2e-9), not adopted:
it changes the rounding of every update, so the lopt experiments' numbers would move. bf16
not measured: its 8-bit mantissa (relative rounding 2^-9 = 2e-3 on every gate input) cannot
keep the 1e-6 check on updates of size ~1e-2 (this AMD EPYC does have avx512_bf16).
``--json --rounds 1`` after the change: 38.6 ms CPU per step, 40x Adam.

Run: ``python experiments/bench_lopt.py [--json] [--only optax_adam --only lstm_optimizer]
[--rounds 3] [--steps 20] [--skip-meta]``
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from experiments import _bench  # noqa: E402
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


def np_lstm_update(theta, g, h, c, k=10.0, scale=0.1):
    """float64 NumPy reference of one ``lopt.lstm_optimizer`` update (rows = features)."""
    g = np.asarray(g, np.float64)
    big = np.abs(g) >= np.exp(-k)
    safe = np.where(big, np.abs(g), 1.0)
    x = np.stack([np.where(big, np.log(safe) / k, -1.0), np.where(big, np.sign(g), np.exp(k) * g)])
    sig = lambda v: 1.0 / (1.0 + np.exp(-v))  # noqa: E731
    for layer, hl, cl in zip(theta["layers"], h, c, strict=True):
        w = np.concatenate([np.asarray(layer["x"]["w"]), np.asarray(layer["h"])]).astype(float)
        z = w.T @ np.concatenate([x, np.asarray(hl, float)]) + np.asarray(layer["x"]["b"])[:, None]
        i, f, o, u = np.split(z, 4)
        cl = sig(f) * np.asarray(cl, float) + sig(i) * np.tanh(u)
        x = sig(o) * np.tanh(cl)
    out = np.asarray(theta["out"]["w"], float).T @ x + np.asarray(theta["out"]["b"])[:, None]
    return scale * out[0]


def _flops(jitted, *args):
    try:
        cost = jitted.lower(*args).compile().cost_analysis()
        cost = cost[0] if isinstance(cost, (list, tuple)) else cost
        return float(cost.get("flops", float("nan")))
    except Exception:  # noqa: BLE001 - cost analysis is best effort
        return float("nan")


class _Stepper:
    """Runs ``steps`` jitted calls feeding the state back (one timed call = ``steps`` steps)."""

    def __init__(self, fn, args, carry, steps):
        self.fn, self.args, self.carry, self.steps = fn, args, carry, steps

    def __call__(self):
        for _ in range(self.steps):
            out = self.fn(*self.args)
            self.args = self.carry(out, self.args)
        return jax.block_until_ready(out)


def train_stepper(opt, params, loss, steps):
    @jax.jit
    def step(p, s):
        g = jax.grad(loss)(p)
        u, s = opt.update(g, s, p)
        return optax.apply_updates(p, u), s

    state = opt.init(params)
    return _Stepper(step, (params, state), lambda out, args: out, steps), _flops(
        step, params, state
    )


def update_stepper(opt, params, loss, steps):
    grads = jax.jit(jax.grad(loss))(params)

    @jax.jit
    def update(g, s, p):
        return opt.update(g, s, p)

    state = opt.init(params)
    carry = lambda out, args: (args[0], out[1], args[2])  # noqa: E731
    return _Stepper(update, (grads, state, params), carry, steps), _flops(
        update, grads, state, params
    )


def check_lstm(lo, theta, params, loss) -> str:
    """One LSTM update from a random state against :func:`np_lstm_update` (float64)."""
    from jtransfer.lopt._base import flatten_tree

    opt = lo.optimizer(theta)
    state = opt.init(params)
    n = sum(x.size for x in jax.tree.leaves(params))
    hidden = state.h[0][0].shape[1]
    ks = jax.random.split(jax.random.key(5), 4)
    cols = [0.3 * jax.random.normal(k, (hidden, n)) for k in ks]  # (H, N): h1, h2, c1, c2

    def layout(a):  # (H, N) columns -> the state's (chunks, tail) pair (n >= chunk size here)
        b = state.h[0][0].shape
        nb = b[0] * b[2]
        return a[:, :nb].reshape(hidden, b[0], b[2]).transpose(1, 0, 2), (
            None if nb == n else a[:, nb:]
        )

    state = type(state)(h=tuple(map(layout, cols[:2])), c=tuple(map(layout, cols[2:])))
    g = jax.grad(loss)(params)
    u, _ = jax.jit(opt.update)(g, state, params)
    ref = np_lstm_update(theta, flatten_tree(g, jnp.float32), cols[:2], cols[2:])
    err = float(np.max(np.abs(np.asarray(flatten_tree(u, jnp.float32)) - ref)))
    tol = 1e-6
    verdict = "ok" if err <= tol else "FAILED"
    return f"{verdict}: update vs float64 NumPy max|diff| {err:.1e} (atol {tol:g})"


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20, help="steps per timed call")
    parser.add_argument("--meta-calls", type=int, default=20)
    parser.add_argument("--skip-meta", action="store_true", help="only part 1")
    _bench.add_args(parser)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    runner = _bench.Runner(args, device=jax.devices()[0].platform)
    runner.say(f"backend: {jax.default_backend()} ({jax.devices()[0].device_kind})")
    params, loss = _mlp_problem(jax.random.key(0))
    n = sum(x.size for x in jax.tree.leaves(params))
    candidates = {
        "optax_adam": None,
        "lstm_optimizer": lopt.lstm_optimizer(),
        "mlp_optimizer_h32": lopt.mlp_optimizer(),
        "mlp_optimizer_h8": lopt.mlp_optimizer(hidden=8),
        "learned_hyperparams": lopt.learned_hyperparams(horizon=100),
    }
    lstm_check = check_lstm(
        candidates["lstm_optimizer"],
        candidates["lstm_optimizer"].init(jax.random.key(0)),
        params,
        loss,
    )
    for kind, make in (("train_step", train_stepper), ("update_only", update_stepper)):
        impls, flops = {}, {}
        for name, lo in candidates.items():
            if not runner.wants(name):
                continue
            opt = optax.adam(1e-3) if lo is None else lo.optimizer(lo.init(jax.random.key(0)))
            stepper, flops[name] = make(opt, params, loss, args.steps)
            impls[name] = _bench.Impl(
                stepper,
                jit=True,
                check=lstm_check if name == "lstm_optimizer" else "not compared (optax/own maths)",
                note=f"{args.steps} steps per call; XLA flops/step {flops[name] / 1e9:.4f} GFLOP",
            )
        if kind == "update_only" and runner.wants("lstm_gemms_only"):
            # profile row: the LSTM's matmuls alone (same shapes, no gate maths)
            theta = candidates["lstm_optimizer"].init(jax.random.key(0))
            xs = jnp.ones((22, n)), jnp.ones((40, n))
            ws = [
                jnp.concatenate([la["x"]["w"], la["h"]]).T for la in theta["layers"]
            ]  # (80, 22), (80, 40)
            gemms = jax.jit(lambda a, b, ws=ws: (ws[0] @ a, ws[1] @ b))
            impls["lstm_gemms_only"] = _bench.Impl(
                _Stepper(gemms, xs, lambda out, a: a, args.steps),
                jit=True,
                check="not comparable: profile row (the two gate matmuls only)",
                note=f"{2 * 80 * (22 + 40) * n / 1e9:.3f} GFLOP/step",
            )
        rows = runner.run(f"mlp{n // 1000}k_b128_{kind}", impls, reference=np.zeros(1), n=3)
        if "optax_adam" in rows and not runner.json:
            for name in rows:
                if name != "optax_adam":
                    r = _bench.round_ratios(rows, name, "optax_adam")
                    print(f"  {name}/adam per round: " + ", ".join(f"{v:.1f}x" for v in r))
    if "lstm_optimizer" in candidates and runner.wants("lstm_optimizer"):
        rate = _bench.gemm_rate()
        lstm_flops = 2 * 80 * (22 + 40) * n + 2 * 20 * n
        runner.say(
            f"  LSTM gate matmuls {lstm_flops / 1e9:.3f} GFLOP/update: at the best GEMM rate "
            f"({rate / 1e9:.0f} GFLOP/s, load {_bench.load()[0]}) take "
            f">= {lstm_flops / rate * 1e3:.2f} ms"
        )

    if args.skip_meta or args.json:
        return runner.finish()
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
    return runner.finish()


if __name__ == "__main__":
    sys.exit(main())

"""Scale-out benchmark: task-parallel MAML meta-gradient throughput on 1/2/4/8 devices.

    python experiments/bench_parallel.py                 # simulated CPU devices (subprocesses)
    python experiments/bench_parallel.py --devices all   # every real device (e.g. a GPU host)

On CPU, N simulated devices share the same cores, so the ratio to 1 device measures the
*overhead* of sharding (partitioning, collectives), not a speed-up; on a multi-GPU host the
same command measures real scaling. Each configuration: Conv4-sized MAML (sinusoid MLP by
default, ``--model conv4`` for Omniglot-shaped 5-way 1-shot), second order, one inner step,
meta-batch sharded over a ``task`` mesh axis.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def _worker(model: str, meta_batch: int, iters: int) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np
    from flax import nnx
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    from jtransfer import meta, models, parallel

    mesh = parallel.mesh_from_shape((-1,), ("task",))
    rng = np.random.default_rng(0)
    if model == "conv4":
        net = models.Conv4(1, 5, rngs=nnx.Rngs(0))
        apply_fn, params = models.functional(net)
        xs = rng.normal(size=(meta_batch, 5, 28, 28, 1)).astype(np.float32)
        xq = rng.normal(size=(meta_batch, 75, 28, 28, 1)).astype(np.float32)
        ys = np.tile(np.arange(5), (meta_batch, 1))
        yq = np.tile(np.repeat(np.arange(5), 15), (meta_batch, 1))

        def loss_fn(p, batch):
            x, y = batch
            logits = apply_fn(p, x)
            return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], 1))

        inner_lr = 0.4
    else:
        net = models.MLP(1, (40, 40), 1, rngs=nnx.Rngs(0))
        apply_fn, params = models.functional(net)
        xs = rng.uniform(-5, 5, size=(meta_batch, 10, 1)).astype(np.float32)
        xq = rng.uniform(-5, 5, size=(meta_batch, 10, 1)).astype(np.float32)
        ys, yq = np.sin(xs), np.sin(xq)

        def loss_fn(p, batch):
            x, y = batch
            return jnp.mean((apply_fn(p, x) - y) ** 2)

        inner_lr = 0.01

    step = jax.jit(
        jax.grad(lambda p, t: meta.maml_loss(loss_fn, p, t, inner_lr=inner_lr, num_steps=1)),
        out_shardings=NamedSharding(mesh, P()),
    )
    tasks = parallel.shard_batch(((xs, ys), (xq, yq)), mesh, axis_name="task")
    params = parallel.replicate(params, mesh)
    t0 = time.perf_counter()
    jax.block_until_ready(step(params, tasks))
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(iters):
        g = step(params, tasks)
    jax.block_until_ready(g)
    per_step = (time.perf_counter() - t0) / iters
    return {
        "devices": jax.device_count(),
        "compile_s": compile_s,
        "step_s": per_step,
        "tasks_per_s": meta_batch / per_step,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", choices=("mlp", "conv4"), default="mlp")
    parser.add_argument("--meta_batch", type=int, default=32)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument(
        "--devices", default="1,2,4,8", help="comma list of simulated CPU device counts, or 'all'"
    )
    parser.add_argument("--_worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._worker:
        print(json.dumps(_worker(args.model, args.meta_batch, args.iters)))
        return
    if args.devices == "all":
        r = _worker(args.model, args.meta_batch, args.iters)
        print(
            f"{r['devices']} devices: {r['tasks_per_s']:.1f} tasks/s "
            f"(step {1e3 * r['step_s']:.2f} ms, compile {r['compile_s']:.1f} s)"
        )
        return
    rows = []
    for n in (int(s) for s in args.devices.split(",")):
        env = {
            **os.environ,
            "PYTHONPATH": ROOT,
            "JAX_PLATFORMS": "cpu",
            "XLA_FLAGS": f"--xla_force_host_platform_device_count={n}",
        }
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--_worker",
                "--model",
                args.model,
                "--meta_batch",
                str(args.meta_batch),
                "--iters",
                str(args.iters),
            ],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    base = rows[0]["step_s"]
    print(
        f"MAML ({args.model}) meta-gradient, meta-batch {args.meta_batch}, second order, "
        f"simulated CPU devices sharing {os.cpu_count()} cores"
    )
    print("| devices | tasks/s | step ms | compile s | step time vs 1 device |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['devices']} | {r['tasks_per_s']:.1f} | {1e3 * r['step_s']:.2f} | "
            f"{r['compile_s']:.1f} | {r['step_s'] / base:.2f}× |"
        )


if __name__ == "__main__":
    main()

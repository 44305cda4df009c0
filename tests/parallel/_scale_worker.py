"""Computes the sharded quantities of the scale-out tests on however many devices it sees.

Run alone (1 device), with ``XLA_FLAGS=--xla_force_host_platform_device_count=8`` (8 simulated
devices) or under ``jtransfer.parallel.launch`` (several processes). Process 0 writes JSON.
"""

import json
import sys

from jtransfer import parallel

parallel.initialize()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from jax.sharding import NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

from jtransfer import align, lopt, meta, mtl  # noqa: E402


def mlp(params, x):
    h = jnp.tanh(x @ params["w1"] + params["b1"])
    return h, h @ params["w2"] + params["b2"]


def init(rng, d_in, d_h, d_out):
    return {
        "w1": rng.normal(size=(d_in, d_h)).astype(np.float32) / np.sqrt(d_in),
        "b1": np.zeros(d_h, np.float32),
        "w2": rng.normal(size=(d_h, d_out)).astype(np.float32) / np.sqrt(d_h),
        "b2": np.zeros(d_out, np.float32),
    }


def global_batch(arrays, mesh, axis):
    """Each process contributes its slice of the (identical) full arrays."""
    n = jax.tree.leaves(arrays)[0].shape[0]
    sl = parallel.process_slice(n)
    return parallel.host_local_to_global(jax.tree.map(lambda a: a[sl], arrays), mesh, axis)


def dann_step(mesh, rng):
    params = {
        "f": init(rng, 5, 8, 2),
        "d": {"w": rng.normal(size=(8, 1)).astype(np.float32), "b": np.zeros(1, np.float32)},
    }
    xs = rng.normal(size=(32, 5)).astype(np.float32)
    ys = rng.integers(0, 2, size=32)
    xt = (rng.normal(size=(32, 5)) + 1.0).astype(np.float32)

    def loss_fn(p, batch):
        bxs, bys, bxt = batch
        fs, logits = mlp(p["f"], bxs)
        ft, _ = mlp(p["f"], bxt)
        task = optax.softmax_cross_entropy_with_integer_labels(logits, bys).mean()
        disc = lambda f: (align.gradient_reversal(f, 0.5) @ p["d"]["w"] + p["d"]["b"])[:, 0]
        return task + align.domain_adversarial_loss(disc(fs), disc(ft))

    opt = optax.sgd(0.1, momentum=0.9)
    params = parallel.replicate(jax.tree.map(jnp.asarray, params), mesh)
    opt_state = parallel.replicate(opt.init(params), mesh)
    step = parallel.data_parallel_step(loss_fn, opt, mesh)
    batch = global_batch((xs, ys, xt), mesh, "data")
    losses = []
    for _ in range(5):
        params, opt_state, loss = step(params, opt_state, batch)
        losses.append(float(loss))
    return {
        "losses": losses,
        "params": [np.asarray(jax.device_get(a)).ravel().tolist() for a in jax.tree.leaves(params)],
    }


def maml_grad(mesh, rng):
    params = jax.tree.map(jnp.asarray, init(rng, 1, 16, 1))
    t = 8
    amp = rng.uniform(0.1, 5.0, size=(t, 1, 1)).astype(np.float32)
    phase = rng.uniform(0, np.pi, size=(t, 1, 1)).astype(np.float32)
    xs = rng.uniform(-5, 5, size=(t, 10, 1)).astype(np.float32)
    xq = rng.uniform(-5, 5, size=(t, 10, 1)).astype(np.float32)
    tasks = ((xs, amp * np.sin(xs + phase)), (xq, amp * np.sin(xq + phase)))

    def loss_fn(p, batch):
        x, y = batch
        return jnp.mean((mlp(p, x)[1] - y) ** 2)

    def meta_loss(p, tasks):
        return meta.maml_loss(loss_fn, p, tasks, inner_lr=0.01, num_steps=2)

    tasks = global_batch(tasks, mesh, "task")
    grad = jax.jit(jax.value_and_grad(meta_loss), out_shardings=NamedSharding(mesh, P()))(
        parallel.replicate(params, mesh), tasks
    )
    return {
        "loss": float(grad[0]),
        "grad": [np.asarray(jax.device_get(a)).ravel().tolist() for a in jax.tree.leaves(grad[1])],
    }


def mtl_update(mesh, rng):
    """Task-parallel per-task gradients (tasks over ``task``) aggregated by IMTL-G, CAGrad, MGDA."""
    t = 8
    params = jax.tree.map(jnp.asarray, init(rng, 3, 6, 1))
    x = rng.normal(size=(t, 12, 3)).astype(np.float32)
    y = x @ rng.normal(size=(t, 3, 1)).astype(np.float32)

    def loss_fn(p, batch):
        bx, by = batch
        return jnp.mean((mlp(p, bx)[1] - by) ** 2)

    tasks = global_batch((x, y), mesh, "task")
    grads = jax.jit(
        lambda p, t: mtl.per_task_grads(loss_fn, p, t), out_shardings=NamedSharding(mesh, P("task"))
    )(parallel.replicate(params, mesh), tasks)
    from jax.experimental import multihost_utils

    grads = multihost_utils.process_allgather(grads, tiled=True)  # sharded over processes
    out = {"grads": [np.asarray(a).ravel().tolist() for a in jax.tree.leaves(grads)]}
    for name, agg in (
        ("imtl_g", mtl.imtl_g()),
        ("cagrad", mtl.cagrad(c=0.4)),
        ("mgda", mtl.mgda()),
    ):

        def step(p, tasks, agg=agg):
            g = mtl.per_task_grads(loss_fn, p, tasks)
            update, _ = agg.update(g, agg.init(p), p)
            return update

        update = jax.jit(step, out_shardings=NamedSharding(mesh, P()))(
            parallel.replicate(params, mesh), tasks
        )
        out[name] = [
            np.asarray(jax.device_get(a)).ravel().tolist() for a in jax.tree.leaves(update)
        ]
    return out


def es_grads(mesh):
    """Population-parallel ES and PES meta-gradients (population over ``pop``)."""
    opt = lopt.lstm_optimizer(hidden=8)
    theta = opt.init(jax.random.key(0))
    family = lambda k: lopt.quadratic_task(k, dim=4)
    out = {}
    for name, make in (
        ("es", lambda m: lopt.es(opt, family, num_steps=5, sigma=0.1, population=8, mesh=m)),
        (
            "pes",
            lambda m: lopt.pes(
                opt, family, num_steps=6, truncation_length=3, sigma=0.1, population=8, mesh=m
            ),
        ),
    ):
        est = make(mesh)
        state = est.init(parallel.replicate(theta, mesh), key=jax.random.key(1))
        grad = jax.jit(lambda th, s, k, est=est: est.update(th, s, key=k))
        for i in range(2):  # PES: two consecutive truncations through the persistent state
            loss, g, state = grad(parallel.replicate(theta, mesh), state, jax.random.key(2 + i))
        out[name] = {
            "loss": float(loss),
            "grad": [np.asarray(jax.device_get(a)).ravel().tolist() for a in jax.tree.leaves(g)],
        }
        if name == "pes":  # the persistent particles really are split over the devices
            out[name]["accum_spec"] = str(jax.tree.leaves(state.accum)[0].sharding.spec)
    return out


def checkpoints(mesh, write_dir, read_dir):
    """Saves a state sharded over the mesh; restores one (written elsewhere) onto the mesh."""
    from jtransfer.train import CheckpointManager

    sharded = NamedSharding(mesh, P("data"))
    state = {
        "w": jax.device_put(jnp.arange(64.0).reshape(16, 4), sharded),
        "b": parallel.replicate(jnp.ones(3), mesh),
    }
    with CheckpointManager(write_dir, save_every=1) as mngr:
        mngr.save(7, state)
    template = {
        "w": jax.device_put(jnp.zeros((16, 4)), sharded),
        "b": parallel.replicate(jnp.zeros(3), mesh),
    }
    with CheckpointManager(read_dir, save_every=1) as mngr:
        restored, step = mngr.restore_or(template)
    return {
        "step": step,
        "w": np.asarray(jax.device_get(restored["w"])).tolist(),
        "b": np.asarray(jax.device_get(restored["b"])).tolist(),
        "w_sharding": str(restored["w"].sharding.spec),
    }


def main(out_path, write_dir=None, read_dir=None):
    results = {"process_count": jax.process_count(), "device_count": jax.device_count()}
    if write_dir:
        results["ckpt"] = checkpoints(
            parallel.mesh_from_shape((-1,), ("data",)), write_dir, read_dir
        )
    data_mesh = parallel.mesh_from_shape((-1,), ("data",))
    task_mesh = parallel.mesh_from_shape((-1,), ("task",))
    results["dann"] = dann_step(data_mesh, np.random.default_rng(0))
    results["maml"] = maml_grad(task_mesh, np.random.default_rng(1))
    results["mtl"] = mtl_update(task_mesh, np.random.default_rng(2))
    results["es"] = es_grads(parallel.mesh_from_shape((-1,), ("pop",)))
    if jax.process_index() == 0:
        with open(out_path, "w") as f:
            json.dump(results, f)


if __name__ == "__main__":
    main(*sys.argv[1:])

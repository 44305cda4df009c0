"""Worker for the multi-process tests: run under jtransfer.parallel.launch (or alone)."""

import json
import sys

from jtransfer import parallel

parallel.initialize()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402


def loss(w, batch):
    x, y = batch
    return jnp.mean((jnp.tanh(x @ w) - y) ** 2)


def main(out_path):
    mesh = parallel.mesh_from_shape((-1,), ("task",))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 4)).astype(np.float32)
    y = rng.normal(size=(16,)).astype(np.float32)
    w = jnp.asarray(rng.normal(size=(4,)).astype(np.float32))
    sl = parallel.process_slice(16)
    batch = parallel.host_local_to_global((x[sl], y[sl]), mesh, "task")
    grad = jax.jit(jax.grad(loss), out_shardings=jax.sharding.NamedSharding(
        mesh, jax.sharding.PartitionSpec()))(parallel.replicate(w, mesh), batch)
    result = {"process_count": jax.process_count(), "device_count": jax.device_count(),
              "grad": np.asarray(jax.device_get(grad)).tolist()}
    if jax.process_index() == 0:
        with open(out_path, "w") as f:
            json.dump(result, f)


if __name__ == "__main__":
    main(sys.argv[1])

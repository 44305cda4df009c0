"""Meshes, sharding helpers, sharded steps and multi-process start-up.

One code path from a laptop to a pod: ``jax.jit`` with ``NamedSharding`` over a
``jax.make_mesh`` mesh (explicit axis types), ``jax.distributed.initialize`` across processes.
No ``pmap``.
"""

from jtransfer.parallel._distributed import host_local_to_global, initialize, process_slice
from jtransfer.parallel._mesh import (
    check_mesh_shape,
    constrain,
    data_parallel_step,
    make_mesh,
    mesh_from_config,
    mesh_from_shape,
    replicate,
    shard_batch,
    sharded_jit,
)

__all__ = [
    "check_mesh_shape",
    "constrain",
    "data_parallel_step",
    "host_local_to_global",
    "initialize",
    "make_mesh",
    "mesh_from_config",
    "mesh_from_shape",
    "process_slice",
    "replicate",
    "shard_batch",
    "sharded_jit",
]

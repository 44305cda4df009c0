"""Meshes, sharding helpers and sharded training steps (``jax.jit`` + ``NamedSharding``)."""

from jtransfer.parallel._mesh import data_parallel_step, make_mesh, replicate, shard_batch

__all__ = ["data_parallel_step", "make_mesh", "replicate", "shard_batch"]

"""Multi-process start-up and host-local ↔ global arrays.

One process per host (or, for tests, several processes on one machine) calls
:func:`initialize`, which wraps ``jax.distributed.initialize``. On CPU the cross-process
collectives use gloo. Launch N local processes with::

    python -m jtransfer.parallel.launch --num_processes 2 -- python my_script.py ...

which sets ``JTRANSFER_COORDINATOR``, ``JTRANSFER_NUM_PROCESSES`` and ``JTRANSFER_PROCESS_ID``
for each child. On a TPU pod or a SLURM/Open MPI GPU cluster call ``initialize()`` with no
environment set: ``jax.distributed.initialize()`` then discovers the cluster itself.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

ENV_COORDINATOR = "JTRANSFER_COORDINATOR"
ENV_NUM_PROCESSES = "JTRANSFER_NUM_PROCESSES"
ENV_PROCESS_ID = "JTRANSFER_PROCESS_ID"
ENV_LOCAL_DEVICES = "JTRANSFER_LOCAL_DEVICES"


def initialize(
    *,
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    auto: bool = False,
) -> bool:
    """Joins a multi-process JAX job; returns True if one was joined.

    Arguments default to the ``JTRANSFER_*`` variables set by :mod:`jtransfer.parallel.launch`.
    With none given and ``auto=False`` this is a no-op (single process). With ``auto=True``
    ``jax.distributed.initialize()`` auto-detects the cluster (TPU pods, SLURM, Open MPI).
    Must be called before any JAX computation.
    """
    coordinator_address = coordinator_address or os.environ.get(ENV_COORDINATOR)
    if num_processes is None and ENV_NUM_PROCESSES in os.environ:
        num_processes = int(os.environ[ENV_NUM_PROCESSES])
    if process_id is None and ENV_PROCESS_ID in os.environ:
        process_id = int(os.environ[ENV_PROCESS_ID])
    if coordinator_address is None:
        if auto:
            jax.distributed.initialize()
            return True
        return False
    if num_processes is None or process_id is None:
        raise ValueError("num_processes and process_id are required with a coordinator address")
    if not 0 <= process_id < num_processes:
        raise ValueError(f"process_id must be in [0, {num_processes}), got {process_id}")
    if jax.config.jax_platforms in (None, "", "cpu") or os.environ.get("JAX_PLATFORMS") == "cpu":
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=coordinator_address, num_processes=num_processes, process_id=process_id
    )
    return True


def host_local_to_global(local: Any, mesh: jax.sharding.Mesh, axis_name: str) -> Any:
    """Builds global arrays whose leading axis is split over ``axis_name`` from each process's
    own slice (``jax.make_array_from_process_local_data``). In one process this equals
    :func:`jtransfer.parallel.shard_batch`."""

    def put(x):
        x = np.asarray(x)
        spec = P(axis_name, *([None] * (x.ndim - 1)))
        return jax.make_array_from_process_local_data(NamedSharding(mesh, spec), x)

    return jax.tree.map(put, local)


def process_slice(n: int) -> slice:
    """This process's contiguous share of ``n`` items (``n`` divisible by the process count).

    Raises:
      ValueError: ``n`` is not an int ``>= 0`` or not divisible by the process count.
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise ValueError(f"n must be a number of items, an int >= 0, got {n!r}")
    count, index = jax.process_count(), jax.process_index()
    if n % count:
        raise ValueError(f"{n} items cannot be split evenly over {count} processes")
    per = n // count
    return slice(index * per, (index + 1) * per)

"""Start N local processes of one command as a multi-process JAX job (CPU collectives).

    python -m jtransfer.parallel.launch --num_processes 2 [--local_devices 4] -- CMD ARGS...

Each child gets ``JTRANSFER_COORDINATOR=127.0.0.1:<free port>``, ``JTRANSFER_NUM_PROCESSES``,
``JTRANSFER_PROCESS_ID`` and (with ``--local_devices``) an ``XLA_FLAGS`` that simulates that
many CPU devices per process; the command must call ``jtransfer.parallel.initialize()`` first.
The launcher waits for all children, kills the rest if one fails, and exits with the first
non-zero status. Outputs go to the terminal prefixed by nothing (children share stdout).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time

from jtransfer.parallel._distributed import (
    ENV_COORDINATOR,
    ENV_LOCAL_DEVICES,
    ENV_NUM_PROCESSES,
    ENV_PROCESS_ID,
)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(
    command: list[str],
    num_processes: int,
    *,
    local_devices: int | None = None,
    timeout: float | None = None,
    capture: bool = False,
) -> list[subprocess.CompletedProcess]:
    """Runs ``command`` as ``num_processes`` cooperating processes; returns their results."""
    if num_processes < 1:
        raise ValueError(f"num_processes must be >= 1, got {num_processes}")
    if not command:
        raise ValueError("command is empty")
    port = _free_port()
    procs = []
    for pid in range(num_processes):
        env = {
            **os.environ,
            ENV_COORDINATOR: f"127.0.0.1:{port}",
            ENV_NUM_PROCESSES: str(num_processes),
            ENV_PROCESS_ID: str(pid),
            "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu"),
        }
        if local_devices:
            env[ENV_LOCAL_DEVICES] = str(local_devices)
            env["XLA_FLAGS"] = (
                env.get("XLA_FLAGS", "")
                + f" --xla_force_host_platform_device_count={local_devices}"
            )
        out = subprocess.PIPE if capture else None
        procs.append(subprocess.Popen(command, env=env, stdout=out, stderr=out, text=True))
    deadline = None if timeout is None else time.monotonic() + timeout
    results: list[subprocess.CompletedProcess | None] = [None] * num_processes
    failed = False
    while any(r is None for r in results):
        for i, p in enumerate(procs):
            if results[i] is None and p.poll() is not None:
                so, se = p.communicate() if capture else (None, None)
                results[i] = subprocess.CompletedProcess(p.args, p.returncode, so, se)
                failed |= p.returncode != 0
        if failed or (deadline is not None and time.monotonic() > deadline):
            for i, p in enumerate(procs):
                if results[i] is None:
                    p.kill()
                    so, se = p.communicate() if capture else (None, None)
                    results[i] = subprocess.CompletedProcess(p.args, -9, so, se)
            break
        time.sleep(0.05)
    return results  # type: ignore[return-value]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--num_processes", "-n", type=int, required=True)
    parser.add_argument("--local_devices", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=None)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    results = launch(
        command, args.num_processes, local_devices=args.local_devices, timeout=args.timeout
    )
    codes = [r.returncode for r in results]
    return next((c for c in codes if c != 0), 0)


if __name__ == "__main__":
    sys.exit(main())

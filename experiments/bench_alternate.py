"""Alternating-process benchmark harness (issue 21 items 3 and "Done when", issue 22).

Runs the ``experiments/bench_*.py`` benchmarks with **one implementation per process**
(``--only``), for ``--rounds`` rounds, the order of the implementations reversed every other
round, and appends every JSON row the processes print (``experiments/_bench.py``) to one JSONL
file, each row with the round, the harness's label of the implementation (``impl``), the
interpreter, ``os.getloadavg()`` before and after its process, the CPU model, the thread
settings and the git commit. ``python -m experiments.reproduce tables`` renders the README's
benchmark tables from that file (``experiments/reproduce/bench_tables.py``): ratios are formed
within a round, then their median and range over rounds are shown.

Every row of a workload runs under the same interpreter: the peers' one (``--peer-python``,
``$JTRANSFER_PEER_PYTHON``, default ``.peers/torch/bin/python`` of the repository or of its
parent folder), which holds jax and the project's dependencies beside torch, learn2learn,
higher, skada, pytorch-adapt, transformers and peft (``scripts/setup_peers.sh``). When that
interpreter is missing or cannot import jtransfer's dependencies, every process runs under
this interpreter and the jobs whose peer libraries do not import are skipped (listed).

The idle-machine run the README's tables come from (21 processes a round; ``--list`` estimates
14.7 minutes on 2 idle cores, from the CPU seconds each process took in a 1-round run at load
average ~10 divided by 1.5; ADAPT's process is the largest, ``--no-adapt`` drops it)::

    python -m experiments.bench_alternate --rounds 3
    python -m experiments.reproduce tables        # then commit the JSONL and README.md

``--only-workloads conv4,lopt`` runs some groups (``--list`` shows the plan and the time
estimate), ``--smoke`` runs every group tiny (one round, small sizes, output in a temporary
folder unless ``--out``), ``--dry-run`` prints the commands without running them.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time

from experiments.reproduce import results

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "experiments", "benchmarks", "results")
DEFAULT_OUT = os.path.join(RESULTS, "alternating_cpu.jsonl")
OMNIGLOT_NPZ = os.path.join("omniglot", "images_background.npz")
SMOKE_SCALE = 0.7  # a --smoke process costs about this share of a full one (start-up dominates)


@dataclasses.dataclass(frozen=True)
class Job:
    """One process: ``argv`` after the interpreter; its rows get ``impl`` (``rename`` maps a
    script's ``peer`` name to another label, e.g. the 2-thread torch row); ``needs``: modules
    the interpreter must import (else the job is skipped); ``est_s``: expected seconds on an
    idle 2-core machine (for the estimate); ``threads``: what the row's thread settings are."""

    group: str
    impl: str
    argv: tuple[str, ...]
    needs: tuple[str, ...] = ()
    rename: tuple[tuple[str, str], ...] = ()
    est_s: float = 20.0
    threads: str = "XLA: all cores"
    env: tuple[tuple[str, str], ...] = ()


GROUPS = ("conv4", "sinusoid", "align", "lopt", "episodes", "lm")


def plan(
    *,
    smoke: bool = False,
    data_dir: str = "../shared/data",
    adapt_python: str | None = None,
    torch_2threads: bool = False,
) -> list[Job]:
    """The jobs of one round, grouped (``GROUPS`` order); see the module docstring.

    Sizes (full run, chosen so 3 rounds fit in about 15 minutes on 2 idle cores): Conv4 MAML
    at meta-batch 32 (the issue's workload) with 3 timed steps per process (``--quick``), the
    sinusoid with 30 steps (jtransfer, learn2learn, the plain torch loop); bench_align's full
    sizes (MMD 4096 x 256, KMM 2000 x 20, CORAL 5000 x 800) with 3 calls (skada only for MMD:
    its KMM weights fail the correlation check and its CORAL is not comparable); the learned
    optimizers 20 steps per call, 3 calls; episodes batch 100, 15 queries, 5 calls; the LM
    encoder forward at 64 x 128 tokens (2 calls) and a LoRA step at 8 x 32 tokens (1 call).
    Most of a process's cost is fixed (imports, the reference it checks against), so fewer
    calls would not save much; the shared compilation and reference caches do."""
    meta = ["experiments/bench_meta.py", "--json", "--skip-memory", "--rounds", "1", "--quick"]
    if smoke:
        meta += ["--meta-batch", "2"]
    conv = [*meta, "--skip-sinusoid"]
    sin = [*meta, "--skip-conv4"]
    t1 = "torch: 1 thread; XLA: all cores"
    jobs = [Job("conv4", "jtransfer", (*conv, "--only", "jtransfer"), est_s=20)]
    for peer, mods in (
        ("learn2learn", ("torch", "learn2learn")),
        ("higher", ("torch", "higher")),
        ("torch_func", ("torch",)),
        ("torch_loop", ("torch",)),
    ):
        jobs.append(
            Job(
                "conv4", peer, (*conv, "--only", peer, "--threads", "1"), mods, est_s=12, threads=t1
            )
        )
    if torch_2threads:
        for peer in ("torch_func", "torch_loop"):
            jobs.append(
                Job(
                    "conv4",
                    f"{peer}_2t",
                    (*conv, "--only", peer, "--threads", "2"),
                    ("torch",),
                    rename=((peer, f"{peer}_2t"),),
                    est_s=12,
                    threads="torch: 2 threads; XLA: all cores",
                )
            )
    # sinusoid: the peer (learn2learn) and the plain loop; higher and torch.func add
    # two processes per round for a workload where every peer is far behind
    jobs.append(Job("sinusoid", "jtransfer", (*sin, "--only", "jtransfer"), est_s=9))
    for peer, mods in (("learn2learn", ("torch", "learn2learn")), ("torch_loop", ("torch",))):
        jobs.append(
            Job(
                "sinusoid",
                peer,
                (*sin, "--only", peer, "--threads", "1"),
                mods,
                est_s=6,
                threads=t1,
            )
        )

    align = ["experiments/bench_align.py", "--json", "--rounds", "1", "--repeats", "3"]
    if smoke:
        align += ["--small", "--repeats", "1"]
    tall = "torch: all cores; XLA: all cores; NumPy: its BLAS default"
    jobs += [
        Job(
            "align",
            "jtransfer",
            (*align, "--no-adapt", "--only", "jtransfer", "--only", "xla_gemm_pooled"),
            est_s=22,
        ),
        Job("align", "numpy", (*align, "--no-adapt", "--only", "numpy"), est_s=16, threads=tall),
        Job(
            "align",
            "torch_tllib",
            (*align, "--no-adapt", "--only", "torch_tllib"),
            ("torch",),
            est_s=15,
            threads=tall,
        ),
        Job(
            "align",
            "pytorch_adapt",
            (*align, "--no-adapt", "--only", "pytorch_adapt"),
            ("torch", "pytorch_adapt"),
            est_s=16,
            threads=tall,
        ),
        Job(
            "align",
            "skada",
            (*align, "--no-adapt", "--only", "skada_dan"),
            ("torch", "skada"),
            est_s=14,
            threads=tall,
        ),
    ]
    if adapt_python:
        jobs.append(
            Job(
                "align",
                "adapt",
                (*align, "--only", "adapt"),
                ("<adapt>",),
                est_s=40,
                threads="ADAPT (TensorFlow / cvxopt) in its own interpreter: defaults",
                env=(("ADAPT_PYTHON", adapt_python),),
            )
        )

    lopt = ["experiments/bench_lopt.py", "--json", "--skip-meta", "--rounds", "1"]
    lopt += ["--steps", "2"] if smoke else ["--steps", "20"]
    jobs += [
        Job("lopt", name, (*lopt, "--only", name), est_s=est)
        for name, est in (("optax_adam", 8), ("lstm_optimizer", 14))
    ]

    npz = os.path.join(data_dir, OMNIGLOT_NPZ)
    data = ["experiments/bench_data.py", "--json", "--omniglot_npz", npz, "--rounds", "1"]
    data += ["--batch", "100", "--queries", "15", "--repeats", "1" if smoke else "5"]
    jobs += [
        Job("episodes", name, (*data, "--only", name), needs=("<omniglot>",), est_s=est)
        for name, est in (("jtransfer", 12), ("jtransfer_refill", 8), ("numpy_loop", 4))
    ]

    lm = ["-m", "experiments.bench_lm", "--json", "--rounds", "1", "--lora"]
    lm += ["--model-dir", os.path.join(data_dir, "minilm_l6_v2")]
    if smoke:
        lm += ["--batch", "2", "--length", "16", "--calls", "1"]
        lm += ["--lora-batch", "2", "--lora-length", "16"]
    else:
        lm += ["--batch", "64", "--length", "128", "--calls", "2"]
        lm += ["--lora-batch", "8", "--lora-length", "32"]
    lm_mods = ("torch", "transformers", "peft", "<minilm>")
    tlm = "torch: 1 thread; XLA: all cores"
    jobs += [
        Job(
            "lm",
            "jtransfer",
            (*lm, "--only", "jtransfer", "--torch-threads", "1"),
            lm_mods,
            est_s=18,
        ),
        Job(
            "lm",
            "torch",
            (*lm, "--only", "transformers", "--only", "peft", "--torch-threads", "1"),
            lm_mods,
            est_s=18,
            threads=tlm,
        ),
    ]
    return jobs


def round_order(jobs: list[Job], r: int) -> list[Job]:
    """Round ``r`` (0-based): the groups in their order, the implementations inside each
    group in plan order on even rounds and reversed on odd ones."""
    out = []
    for g in dict.fromkeys(j.group for j in jobs):
        members = [j for j in jobs if j.group == g]
        out += members if r % 2 == 0 else members[::-1]
    return out


def _peers_python(env_var: str, venv: str) -> str | None:
    """``$env_var`` if set, else ``.peers/<venv>/bin/python`` in the repository or its parent."""
    env = os.environ.get(env_var)
    if env:
        return env
    for base in (ROOT, os.path.dirname(ROOT)):
        p = os.path.join(base, ".peers", venv, "bin", "python")
        if os.path.exists(p):
            return p
    return None


def default_peer_python() -> str | None:
    return _peers_python("JTRANSFER_PEER_PYTHON", "torch")


def default_adapt_python() -> str | None:
    return _peers_python("ADAPT_PYTHON", "adapt")


_PROBE = (
    "import importlib.util, json, sys\n"
    "mods = sys.argv[1:]\n"
    "out = {m: importlib.util.find_spec(m) is not None for m in mods}\n"
    "try:\n"
    "    import jax, optax, flax, scipy, jtransfer  # what every bench script imports\n"
    "    out['<jax>'] = jax.__version__\n"
    "except Exception as e:\n"
    "    out['<jax>'] = None; out['<error>'] = repr(e)\n"
    "try:\n"
    "    import torch; out['<torch>'] = torch.__version__\n"
    "except Exception:\n"
    "    out['<torch>'] = None\n"
    "out['<python>'] = sys.version.split()[0]\n"
    "print(json.dumps(out))\n"
)


def probe(python: str, modules: list[str]) -> dict:
    """What ``python`` imports (``find_spec`` of ``modules``; jax and torch versions)."""
    try:
        r = subprocess.run(
            [python, "-c", _PROBE, *modules],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=ROOT,
            env=_env(),
        )
        return json.loads(r.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, IndexError, json.JSONDecodeError) as e:
        return {"<jax>": None, "<error>": repr(e)}


def _env(extra: tuple[tuple[str, str], ...] = ()) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": ROOT, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.update(dict(extra))
    return env


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _thread_env() -> dict[str, str]:
    keys = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "XLA_FLAGS")
    return {k: os.environ[k] for k in keys if k in os.environ}


def available(job: Job, info: dict, data_dir: str) -> str | None:
    """Why ``job`` cannot run here (None: it can)."""
    for m in job.needs:
        if m == "<omniglot>":
            if not os.path.exists(os.path.join(data_dir, OMNIGLOT_NPZ)):
                return f"missing {os.path.join(data_dir, OMNIGLOT_NPZ)}"
        elif m == "<minilm>":
            if not os.path.isdir(os.path.join(data_dir, "minilm_l6_v2")):
                return f"missing {os.path.join(data_dir, 'minilm_l6_v2')}"
        elif m == "<adapt>":
            p = dict(job.env).get("ADAPT_PYTHON")
            if not p or not os.path.exists(p):
                return f"no ADAPT interpreter at {p}"
        elif not info.get(m):
            return f"{m} does not import under {info.get('<interpreter>')}"
    return None


def _cache_env(cache: str | None) -> tuple[tuple[str, str], ...]:
    if not cache:
        return ()
    refs = os.path.join(cache, "references")
    os.makedirs(refs, exist_ok=True)
    return (("JAX_COMPILATION_CACHE_DIR", cache), ("JTRANSFER_BENCH_REF_CACHE", refs))


def run_job(
    job: Job, python: str, timeout: float, cache: str | None = None
) -> tuple[list[dict], dict]:
    """Runs one process; returns its JSON rows and a status record.

    ``cache``: a JAX persistent compilation cache shared by the run's processes, so a peer's
    process loads the jtransfer reference it checks against instead of compiling it again
    (the timed calls are the same executables either way; a jtransfer row's ``compile_s`` is
    a cache load when an earlier process compiled it: the tables show the largest over
    rounds, and the first round runs jtransfer first in every group), and a folder for the
    float64 reference values ``bench_align.py`` checks every row against
    (``$JTRANSFER_BENCH_REF_CACHE``: computed by the first process, loaded by the others)."""
    load0, t0 = os.getloadavg(), time.perf_counter()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        r = subprocess.run(
            [python, *job.argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
            env=_env(job.env + _cache_env(cache)),
        )
        status, out, err = (
            ("ok" if r.returncode == 0 else f"exit {r.returncode}"),
            r.stdout,
            r.stderr,
        )
    except subprocess.TimeoutExpired as e:
        status = f"timeout after {timeout:.0f} s"
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    rows = []
    for line in out.splitlines():
        if line.startswith("{"):
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if "workload" in row and "peer" in row:
                rows.append(row)
    rec = {
        "status": status,
        "process_s": round(wall, 2),
        "process_cpu_s": round(cpu, 2),  # its CPU time, all threads (the load-free cost)
        "load_before": [round(v, 2) for v in load0],
        "load_after": [round(v, 2) for v in os.getloadavg()],
    }
    if status != "ok" or not rows:
        rec["tail"] = (out + "\n" + err).strip().splitlines()[-12:]
    return rows, rec


def _fmt_s(s: float) -> str:
    return f"{s / 60:.1f} min" if s >= 90 else f"{s:.0f} s"


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3, help="rounds (default %(default)s)")
    ap.add_argument(
        "--only-workloads",
        default=None,
        help=f"comma-separated groups to run, of {','.join(GROUPS)} (default: all)",
    )
    ap.add_argument("--out", default=None, help=f"JSONL file (default {DEFAULT_OUT})")
    ap.add_argument("--append", action="store_true", help="append to --out instead of replacing")
    ap.add_argument("--peer-python", default=None, help="interpreter for every process")
    ap.add_argument("--adapt-python", default=None, help="ADAPT's interpreter (bench_align)")
    ap.add_argument("--no-adapt", action="store_true", help="no ADAPT process (KMM, CORAL)")
    ap.add_argument("--data_dir", default=os.path.join(os.path.dirname(ROOT), "shared", "data"))
    ap.add_argument(
        "--torch-2threads",
        action="store_true",
        help="also time torch_func / torch_loop on Conv4 with 2 torch threads (2 more processes)",
    )
    ap.add_argument(
        "--no-compile-cache",
        action="store_true",
        help="no shared JAX compilation cache (every process compiles its reference itself)",
    )
    ap.add_argument("--timeout", type=float, default=240.0, help="seconds per process")
    ap.add_argument("--smoke", action="store_true", help="everything tiny, 1 round")
    ap.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    ap.add_argument("--list", action="store_true", help="print the plan and estimate, exit")
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    rounds = 1 if args.smoke else max(1, args.rounds)
    data_dir = os.path.abspath(args.data_dir)
    adapt = None if args.no_adapt else (args.adapt_python or default_adapt_python())
    jobs = plan(
        smoke=args.smoke,
        data_dir=data_dir,
        adapt_python=adapt,
        torch_2threads=args.torch_2threads,
    )
    if args.only_workloads:
        want = [g.strip() for g in args.only_workloads.split(",") if g.strip()]
        unknown = set(want) - set(GROUPS)
        if unknown:
            raise SystemExit(f"--only-workloads: unknown {sorted(unknown)}; known {GROUPS}")
        jobs = [j for j in jobs if j.group in want]
    scale = SMOKE_SCALE if args.smoke else 1.0
    estimate = scale * rounds * sum(j.est_s for j in jobs)
    if args.list or args.dry_run:
        for r in range(rounds):
            for j in round_order(jobs, r):
                cmd = " ".join(["<python>", *j.argv])
                print(f"round {r + 1} {j.group:9s} {j.impl:16s} ~{j.est_s:4.0f} s  {cmd}")
        print(f"{len(jobs)} processes x {rounds} rounds, estimate {_fmt_s(estimate)} (idle)")
        return 0

    peer = args.peer_python or default_peer_python()
    modules = sorted({m for j in jobs for m in j.needs if not m.startswith("<")})
    python, info = sys.executable, None
    if peer and os.path.exists(peer):
        info = probe(peer, modules)
        if info.get("<jax>"):
            python = peer
        else:
            print(
                f"[bench_alternate] {peer} cannot run the benchmarks ({info.get('<error>')}); "
                f"every process runs under {sys.executable}",
                flush=True,
            )
    if python == sys.executable:
        info = probe(python, modules)
    info["<interpreter>"] = python
    out = args.out or (
        os.path.join(tempfile.mkdtemp(prefix="bench_smoke_"), "smoke.jsonl")
        if args.smoke
        else DEFAULT_OUT
    )
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    run_id = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    header = {
        "record": "run",
        "run_id": run_id,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "rounds": rounds,
        "smoke": args.smoke,
        "groups": list(dict.fromkeys(j.group for j in jobs)),
        "interpreter": python,
        "python": info.get("<python>"),
        "jax": info.get("<jax>"),
        "torch": info.get("<torch>"),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "thread_env": _thread_env(),
        "git": results.git_state(exclude=("*.jsonl",)),
        "argv": list(sys.argv if argv is None else argv),
        "load": [round(v, 2) for v in os.getloadavg()],
    }
    skipped = {j.impl + "@" + j.group: why for j in jobs if (why := available(j, info, data_dir))}
    header["skipped"] = skipped
    print(
        f"[bench_alternate] {len(jobs) - len(skipped)} processes x {rounds} rounds under "
        f"{python} (jax {info.get('<jax>')}, torch {info.get('<torch>')}); estimate "
        f"{_fmt_s(estimate)} on an idle 2-core machine; writing {out}",
        flush=True,
    )
    for k, why in skipped.items():
        print(f"[bench_alternate] skip {k}: {why}", flush=True)
    cache = None if args.no_compile_cache else tempfile.mkdtemp(prefix="bench_jax_cache_")
    header["compile_cache"] = cache is not None
    t_all = time.perf_counter()
    total = scale * rounds * sum(j.est_s for j in jobs if j.impl + "@" + j.group not in skipped)
    done_est = 0.0
    failures = 0
    with open(out, "a" if args.append else "w") as f:
        f.write(json.dumps(header) + "\n")
        f.flush()
        for r in range(rounds):
            for job in round_order(jobs, r):
                if job.impl + "@" + job.group in skipped:
                    continue
                rows, rec = run_job(job, python, args.timeout, cache)
                done_est += scale * job.est_s
                common = {
                    "run_id": run_id,
                    "round": r + 1,
                    "group": job.group,
                    "impl_job": job.impl,
                    "interpreter": python,
                    "threads": job.threads,
                    "cpu_model": header["cpu_model"],
                    "commit": header["git"]["commit"],
                    **rec,
                }
                common.pop("tail", None)
                renames = dict(job.rename)
                for row in rows:
                    row = {**row, "record": "row", "impl": renames.get(row["peer"], row["peer"])}
                    f.write(json.dumps({**row, **common}) + "\n")
                if rec["status"] != "ok" or not rows:
                    failures += 1
                    f.write(
                        json.dumps({"record": "failed", **common, "tail": rec.get("tail")}) + "\n"
                    )
                f.flush()
                spent = time.perf_counter() - t_all
                left = spent / done_est * (total - done_est) if done_est else total
                print(
                    f"[bench_alternate] round {r + 1}/{rounds} {job.group}/{job.impl}: "
                    f"{rec['status']}, {len(rows)} rows, {rec['process_s']:.1f} s "
                    f"({rec['process_cpu_s']:.1f} CPU-s), load "
                    f"{rec['load_after'][0]:.1f}; elapsed {_fmt_s(spent)}, about "
                    f"{_fmt_s(left)} left",
                    flush=True,
                )
                if rec.get("tail") and rec["status"] != "ok":
                    print("    " + "\n    ".join(rec["tail"]), flush=True)
    if cache:
        shutil.rmtree(cache, ignore_errors=True)
    print(
        f"[bench_alternate] done in {_fmt_s(time.perf_counter() - t_all)}; {failures} "
        f"processes failed or printed no row; rows in {out}",
        flush=True,
    )
    try:
        from experiments.reproduce import bench_tables

        print(bench_tables.render(bench_tables.read_jsonl(out)))
    except Exception as e:  # noqa: BLE001 - the table is a courtesy; the JSONL is the result
        print(f"[bench_alternate] could not render the table: {e!r}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    sys.exit(main())

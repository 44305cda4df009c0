"""One command for a machine with an NVIDIA GPU: the benchmarks with PyTorch peers on the same
GPU, the LM encoder benchmark and a short Omniglot 5-way 1-shot MAML run, in under 8 minutes.

It has **not run on a GPU yet** (no GPU was lent while it was written); ``--smoke`` dry-runs it
on the CPU in seconds (``tests/experiments/test_gpu_check.py``).

Needs: JAX with CUDA, torch (CUDA), transformers and peft installed; no network. learn2learn is
not needed: the MAML peers are ``torch_loop`` (plain PyTorch autograd loop) and ``torch_func``
(``torch.func.vmap(grad(...))``), both in ``bench_meta.py``, which put torch on ``cuda`` when
``torch.cuda.is_available()``. Run from the repository root::

    python -m experiments.gpu_check --data_dir ../shared/data --out gpu_check_out

``--data_dir`` holds ``omniglot/images_background.npz`` (and ``images_evaluation.npz``) and
``minilm_l6_v2/``; a missing folder skips only the steps that need it. Each step runs in its
own process with a time limit (``STEPS``; the sum stays under 480 s) and its stdout is kept;
the JSON lines of the ``bench_*.py`` scripts (``experiments/_bench.py``) are collected into
``<out>/summary.json`` and a Markdown table ``<out>/summary.md`` with the GPU's name, the
software versions and, per workload, each implementation's median time, its ratio to
``jtransfer`` from the same rounds, and its correctness check. A step that fails or times out
is listed with the end of its output; the others still run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUDGET_S = 460.0  # all steps together (< 8 minutes with start-up and the summary)
ENV = {**os.environ, "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}


def steps(data_dir: str, out: str, *, smoke: bool) -> list[dict]:
    """The plan: ``name``, ``argv`` (after the interpreter), ``timeout_s``, ``needs`` (paths)."""
    omni = os.path.join(data_dir, "omniglot")
    minilm = os.path.join(data_dir, "minilm_l6_v2")
    maml_dir = os.path.join(out, "maml_omniglot_run")
    maml_cfg = [
        "--config=experiments/maml_omniglot/configs/default.py:5w1s",
        f"--workdir={maml_dir}",
        "--overwrite",
        f"--config.manual_dir={data_dir}",
        "--config.num_iterations=3000",
        "--config.max_train_seconds=60",
        "--config.eval_every=1000",
        "--config.save_every=1000",
        "--config.eval_tasks=200",
        "--config.eval_tasks_during=50",
    ]
    return [
        {
            "name": "bench_meta",  # Conv4 + sinusoid MAML, jtransfer (native conv too) vs torch
            "argv": ["experiments/bench_meta.py", "--json", "--skip-memory", "--rounds", "3"],
            "timeout_s": 150,
            "needs": [],
        },
        {
            "name": "bench_align",
            "argv": ["experiments/bench_align.py", "--json", "--no-adapt", "--rounds", "3"],
            "timeout_s": 60,
            "needs": [],
        },
        {
            "name": "bench_lopt",
            "argv": ["experiments/bench_lopt.py", "--json", "--skip-meta", "--rounds", "3"],
            "timeout_s": 40,
            "needs": [],
        },
        {
            "name": "bench_data",
            "argv": [
                "experiments/bench_data.py",
                "--json",
                "--omniglot_npz",
                os.path.join(omni, "images_background.npz"),
                "--batch",
                "100",
                "1000",
                "--rounds",
                "3",
            ],
            "timeout_s": 40,
            "needs": [os.path.join(omni, "images_background.npz")],
        },
        {
            "name": "bench_lm",
            "argv": [
                "-m",
                "experiments.bench_lm",
                "--json",
                "--rounds",
                "3",
                "--model-dir",
                minilm,
            ],
            "timeout_s": 60,
            "needs": [minilm],
        },
        {
            "name": "maml_omniglot_short",
            "argv": ["-m", "experiments.maml_omniglot.main", *maml_cfg],
            "timeout_s": 110,
            "needs": [os.path.join(omni, "images_background.npz")],
        },
    ]


def _stub(step: dict) -> list[str]:
    """``--smoke``: a process that prints one row shaped like a benchmark's."""
    row = {
        "workload": f"smoke_{step['name']}",
        "peer": "jtransfer",
        "median_s": 0.001,
        "n": 1,
        "load": [0.0, 0.0, 0.0],
        "check": "ok: smoke",
        "argv": step["argv"],
    }
    peer = dict(row, peer="torch_loop", median_s=0.002)
    code = (
        f"import json; print({json.dumps(json.dumps(row))}); print({json.dumps(json.dumps(peer))})"
    )
    return ["-c", code]


def validate(plan: list[dict]) -> list[str]:
    """Problems with the plan that would only show on the GPU machine: every bench script must
    accept its flags (``build_parser``), and the MAML config must have every overridden field."""
    problems = []
    sys.path.insert(0, ROOT)
    import importlib

    for step in plan:
        argv = step["argv"]
        if argv[0].startswith("experiments/bench_") and argv[0] != "experiments/bench_lm.py":
            mod = importlib.import_module("experiments." + os.path.basename(argv[0])[:-3])
            try:
                mod.build_parser().parse_args(argv[1:])
            except SystemExit:
                problems.append(f"{step['name']}: flags not accepted: {argv[1:]}")
        if step["name"].startswith("maml"):
            from experiments.maml_omniglot.configs import default

            cfg = default.get_config("5w1s")
            for a in argv:
                if a.startswith("--config."):
                    field = a[len("--config.") :].split("=")[0]
                    if field not in cfg:
                        problems.append(f"{step['name']}: config has no field {field!r}")
    return problems


def environment(smoke: bool) -> dict:
    info = {"python": sys.version.split()[0], "smoke": smoke}
    try:
        r = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        info["nvidia_smi"] = r.stdout.strip() or r.stderr.strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        info["nvidia_smi"] = f"unavailable: {e}"
    if smoke:
        return info
    probe = (
        "import json, jax; d = jax.devices()[0]; out = {'jax': jax.__version__, "
        "'jax_device': f'{d.platform}:{d.device_kind}'}\n"
        "try:\n import torch; out['torch'] = torch.__version__; "
        "out['torch_cuda'] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None\n"
        "except ImportError: out['torch'] = None\n"
        "print(json.dumps(out))"
    )
    r = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=ENV,
    )
    try:
        info.update(json.loads(r.stdout.strip().splitlines()[-1]))
    except (IndexError, json.JSONDecodeError):
        info["probe_error"] = r.stderr.strip()[-500:]
    return info


def run_plan(plan: list[dict], out: str, *, smoke: bool) -> list[dict]:
    results, t_start = [], time.perf_counter()
    # JAX would take 75 % of the GPU's memory at start-up and leave torch too little
    env = {**ENV, "PYTHONUNBUFFERED": "1", "PYTHONPATH": ROOT}
    for step in plan:
        left = BUDGET_S - (time.perf_counter() - t_start)
        missing = [p for p in step["needs"] if not os.path.exists(p)]
        res = {"name": step["name"], "argv": step["argv"]}
        if missing and not smoke:
            res.update(status="skipped", reason=f"missing {missing}")
        elif left < 10:
            res.update(status="skipped", reason="time budget spent")
        else:
            argv = _stub(step) if smoke else step["argv"]
            timeout = min(step["timeout_s"], left)
            t0 = time.perf_counter()
            try:
                r = subprocess.run(
                    [sys.executable, *argv],
                    capture_output=True,
                    text=True,
                    timeout=timeout,
                    cwd=ROOT,
                    env=env,
                )
                status, stdout, stderr = (
                    ("ok" if r.returncode == 0 else f"exit {r.returncode}"),
                    (r.stdout),
                    r.stderr,
                )
            except subprocess.TimeoutExpired as e:
                status = f"timeout after {timeout:.0f} s"
                stdout = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else e.stdout
                stderr = (e.stderr or b"").decode() if isinstance(e.stderr, bytes) else e.stderr
            res.update(status=status, wall_s=round(time.perf_counter() - t0, 1))
            stdout, stderr = stdout or "", stderr or ""
            with open(os.path.join(out, f"{step['name']}.log"), "w") as f:
                f.write(stdout + "\n--- stderr ---\n" + stderr)
            rows = []
            for line in stdout.splitlines():
                if line.startswith("{"):
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError:
                        pass
            res["rows"] = rows
            if not rows:
                res["tail"] = (stdout + stderr).strip().splitlines()[-15:]
        results.append(res)
        print(f"[gpu_check] {step['name']}: {res['status']}", flush=True)
    return results


def markdown(info: dict, results: list[dict]) -> str:
    lines = [
        "# GPU check",
        "",
        f"- GPU: {info.get('nvidia_smi')}; JAX device {info.get('jax_device')}; "
        f"torch {info.get('torch')} on {info.get('torch_cuda')}",
        f"- jax {info.get('jax')}, Python {info.get('python')}, smoke={info.get('smoke')}",
        "",
        "| step | workload | implementation | median ms | vs jtransfer/adam (same rounds) | "
        "compile s | check |",
        "|---|---|---|---|---|---|---|",
    ]
    for res in results:
        rows = res.get("rows") or []
        if not rows:
            lines.append(f"| {res['name']} | ({res['status']}) | | | | | |")
            continue
        by_wl: dict[str, dict] = {}
        for row in rows:
            by_wl.setdefault(row["workload"], {})[row["peer"]] = row
        for wl, impls in by_wl.items():
            bname = next((b for b in ("jtransfer", "optax_adam") if b in impls), None)
            base = impls.get(bname)
            for peer, row in impls.items():
                ratio = ""
                if base is not None and peer != bname:
                    a, b = row.get("rounds_s"), base.get("rounds_s")
                    if a and b and len(a) == len(b):
                        rs = [x / y for x, y in zip(a, b, strict=True)]
                        ratio = f"{statistics.median(rs):.2f}x [{min(rs):.2f}, {max(rs):.2f}]"
                    else:
                        ratio = f"{row['median_s'] / base['median_s']:.2f}x"
                comp = row.get("compile_s", "")
                lines.append(
                    f"| {res['name']} | {wl} | {peer} | {row['median_s'] * 1e3:.3f} | {ratio} | "
                    f"{comp} | {row.get('check', '')} |"
                )
    for res in results:
        if res.get("tail"):
            lines += ["", f"## {res['name']} ({res['status']})", "", "```", *res["tail"], "```"]
        elif res["status"] != "ok":
            lines += ["", f"- {res['name']}: {res['status']} {res.get('reason', '')}"]
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data_dir", default="../shared/data", help="holds omniglot/, minilm_l6_v2/")
    ap.add_argument("--out", default="gpu_check_out")
    ap.add_argument(
        "--smoke", action="store_true", help="CPU dry run: validate the plan, stub the steps"
    )
    ap.add_argument("--only", action="append", default=None, help="run only these steps")
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    t0 = time.perf_counter()
    plan = steps(os.path.abspath(args.data_dir), os.path.abspath(args.out), smoke=args.smoke)
    if args.only:
        plan = [s for s in plan if s["name"] in args.only]
    assert sum(s["timeout_s"] for s in plan) <= BUDGET_S, "step limits exceed the budget"
    problems = validate(plan) if args.smoke else []
    info = environment(args.smoke)
    results = run_plan(plan, args.out, smoke=args.smoke)
    info["total_s"] = round(time.perf_counter() - t0, 1)
    info["plan_problems"] = problems
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump({"environment": info, "steps": results}, f, indent=1)
    with open(os.path.join(args.out, "summary.md"), "w") as f:
        f.write(markdown(info, results))
    print(f"[gpu_check] wrote {args.out}/summary.json and summary.md in {info['total_s']} s")
    for p in problems:
        print(f"[gpu_check] PLAN PROBLEM {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

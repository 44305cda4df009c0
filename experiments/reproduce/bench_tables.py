"""README benchmark tables generated from the alternating harness's JSONL (issues 21, 22).

``python -m experiments.bench_alternate`` writes
``experiments/benchmarks/results/<name>.jsonl`` (one ``{"record": "run"}`` header per run, one
``{"record": "row"}`` per JSON row a benchmark process printed, ``{"record": "failed"}`` per
process that failed). ``python -m experiments.reproduce tables`` (through
:func:`experiments.reproduce.results.update_tables`) rewrites every block

.. code-block:: markdown

    <!-- bench:NAME -->            (all groups)  or  <!-- bench:NAME:lm -->  (one group)
    (generated: do not edit)
    <!-- /bench:NAME -->                            <!-- /bench:NAME:lm -->

of the repository's README from ``results/NAME.jsonl``; ``--check`` fails when a block
differs. A missing file renders as "not measured yet" with the command to run.

Ratios: for each workload, every implementation's time is divided by the *base* row's (
``jtransfer``; ``optax_adam`` for the learned-optimizer workloads) **timed in the same round**,
then the median and the range over rounds are shown; a goal from the issues is met when every
round meets it ("median only" when only the median does). Bounds (the share of the XLA GEMM
rate measured in the same process) and throughputs (episodes/s) are tabled the same way.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import math
import re
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "Goal",
    "GOALS",
    "read_jsonl",
    "ratio_rows",
    "bound_rows",
    "throughput_rows",
    "render",
    "render_readme",
    "update_readme",
    "IDLE_COMMAND",
]

IDLE_COMMAND = (
    "python -m experiments.bench_alternate --rounds 3 && python -m experiments.reproduce tables"
)
_BLOCK = re.compile(
    r"(<!-- bench:([A-Za-z0-9_.-]+)(?::([a-z0-9_,]+))? -->)\n(.*?)(<!-- /bench:"
    r"\2(?::\3)? -->)",
    re.S,
)
# rows that are measurements of the machine, not implementations of the workload
PROBES = {"xla_gemm_rate", "xla_gemm_pooled"}


@dataclasses.dataclass(frozen=True)
class Goal:
    """A goal on ``value`` of the row ``impl`` of the workloads matching ``workload``
    (``fnmatch``): ``">="`` or ``"<="`` ``target``. ``kind``: ``"ratio"`` (impl time / base
    time), ``"bound"`` (share of the GEMM bound) or ``"items_per_s"``."""

    workload: str
    impl: str
    op: str
    target: float
    source: str
    kind: str = "ratio"

    def met(self, v: float) -> bool:
        return v >= self.target if self.op == ">=" else v <= self.target

    def text(self) -> str:
        if self.kind == "bound":
            return f"{self.op} {100 * self.target:.0f} %"
        if self.kind == "items_per_s":
            return f"{self.op} {self.target:,.0f}/s"
        return f"{self.op} {self.target:g}x"


GOALS: tuple[Goal, ...] = (
    Goal("maml2_conv4_*_mb32", "learn2learn", ">=", 2.0, "#21.4"),
    Goal("maml2_conv4_*_mb32", "torch_func", ">=", 1.5, "#21.4"),
    Goal("maml2_conv4_*_mb32", "jtransfer", ">=", 0.60, "#21.4", kind="bound"),
    Goal("maml2_sinusoid_*", "learn2learn", ">=", 5.0, "#6"),
    # issue 4: MMD >= 5x the fastest peer, so >= 5x each peer
    Goal("mmd2_unbiased_n4096_*", "torch_tllib", ">=", 5.0, "#4"),
    Goal("mmd2_unbiased_n4096_*", "pytorch_adapt", ">=", 5.0, "#4"),
    Goal("mmd2_unbiased_n4096_*", "skada_dan", ">=", 5.0, "#4"),
    Goal("mmd2_unbiased_n4096_*", "jtransfer", ">=", 0.50, "#4", kind="bound"),
    Goal("kmm_n2000_d20_*", "adapt", ">=", 10.0, "#4"),
    Goal("mlp101k_b128_train_step", "lstm_optimizer", "<=", 44.0, "#21.5"),
    Goal("episodes_omniglot_5w1s15q_f32_*", "jtransfer*", ">=", 10000.0, "#21.6", "items_per_s"),
    Goal("bert_minilm_l6_forward_b64_l128_f32", "transformers", ">=", 1.5, "#16.9"),
    Goal("lora_step_minilm_*", "peft", ">=", 1.5, "#16.9"),
)
BASES = (("mlp*_update_only", "optax_adam"), ("mlp*_train_step", "optax_adam"))
# workloads whose GEMM-bound share is tabled (a tiny step such as the sinusoid's has a rate
# probe too, but its share of a large GEMM's rate says nothing)
BOUNDS = ("maml2_conv4_*", "mmd2_*", "bert_*_forward_*")


def base_of(workload: str) -> str:
    for pat, base in BASES:
        if fnmatch.fnmatch(workload, pat):
            return base
    return "jtransfer"


def goals_for(workload: str, impl: str, kind: str) -> list[Goal]:
    return [
        g
        for g in GOALS
        if g.kind == kind
        and fnmatch.fnmatch(workload, g.workload)
        and fnmatch.fnmatch(impl, g.impl)
    ]


def read_jsonl(path: str | Path) -> dict[str, list[dict]]:
    """``{"runs": [headers], "rows": [rows], "failed": [failed processes]}`` of a JSONL file."""
    out: dict[str, list[dict]] = {"runs": [], "rows": [], "failed": []}
    for line in Path(path).read_text().splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        kind = rec.get("record", "row")
        out["runs" if kind == "run" else "failed" if kind == "failed" else "rows"].append(rec)
    return out


def _impl(row: Mapping[str, Any]) -> str:
    return row.get("impl") or row["peer"]


def _round(row: Mapping[str, Any]) -> tuple[str, int]:
    return (str(row.get("run_id", "")), int(row.get("round", 1)))


def _by_workload(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, dict[tuple, list]]]:
    """workload -> impl -> round -> [rows] (implementation rows only, no probes)."""
    out: dict[str, dict[str, dict[tuple, list]]] = {}
    for row in rows:
        if row.get("probe") or _impl(row) in PROBES:
            continue
        out.setdefault(row["workload"], {}).setdefault(_impl(row), {}).setdefault(
            _round(row), []
        ).append(row)
    return out


def _med(rows: Sequence[Mapping[str, Any]], key: str = "median_s") -> float | None:
    vals = [float(r[key]) for r in rows if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def _verdict(goal: Goal | None, values: Sequence[float]) -> str:
    if goal is None or not values:
        return "–"
    if all(goal.met(v) for v in values):
        return "met"
    if goal.met(statistics.median(values)):
        return "median only"
    return "not met"


def ratio_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One entry per (workload, implementation): ``median_s`` (median over rounds of each
    process's median), ``ratios`` (impl time / base time, one per round in which both ran),
    ``goal`` and ``verdict``, ``compile_s`` (the largest over rounds: the cold compile when
    later processes loaded it from the harness's cache), ``check``, ``load``, ``rounds``,
    ``base``."""
    table = []
    for wl, impls in _by_workload(rows).items():
        base = base_of(wl)
        base_t = {rk: _med(rs) for rk, rs in impls.get(base, {}).items()}
        order = ([base] if base in impls else []) + [k for k in impls if k != base]
        for impl in order:
            per_round = impls[impl]
            times = {rk: _med(rs) for rk, rs in per_round.items()}
            ratios = [
                times[rk] / base_t[rk]
                for rk in sorted(times)
                if impl != base and base_t.get(rk) and times[rk] is not None
            ]
            goals = goals_for(wl, impl, "ratio")
            goal = goals[0] if goals else None
            all_rows = [r for rs in per_round.values() for r in rs]
            checks = {str(r.get("check", "")).split(":")[0] for r in all_rows}
            comps = [float(r["compile_s"]) for r in all_rows if r.get("compile_s") is not None]
            comp = max(comps) if comps else None  # the cold one (bench_alternate's cache)
            loads = [float(r["load"][0]) for r in all_rows if r.get("load")]
            load = (
                "–"
                if not loads
                else f"{min(loads):.1f}" + (f"-{max(loads):.1f}" if max(loads) > min(loads) else "")
            )
            table.append(
                {
                    "workload": wl,
                    "impl": impl,
                    "base": base,
                    "median_s": statistics.median([t for t in times.values() if t is not None]),
                    "rounds": len(times),
                    "ratios": ratios,
                    "goal": goal,
                    "verdict": _verdict(goal, ratios) if impl != base else "–",
                    "compile_s": comp,
                    "check": ", ".join(sorted(c for c in checks if c)) or "–",
                    "load": load,
                }
            )
    # goals whose implementation never produced a row
    present = {(t["workload"], t["impl"]) for t in table}
    for g in GOALS:
        if g.kind != "ratio":
            continue
        for wl in {t["workload"] for t in table}:
            if fnmatch.fnmatch(wl, g.workload) and not any(
                fnmatch.fnmatch(i, g.impl) for w, i in present if w == wl
            ):
                table.append(
                    {
                        "workload": wl,
                        "impl": g.impl,
                        "base": base_of(wl),
                        "median_s": None,
                        "rounds": 0,
                        "ratios": [],
                        "goal": g,
                        "verdict": "not measured",
                        "compile_s": None,
                        "check": "–",
                        "load": "–",
                    }
                )
    order = list(dict.fromkeys(t["workload"] for t in table))
    return sorted(table, key=lambda t: order.index(t["workload"]))  # stable: base row first


def _pooled_gemm_flops(workload: str) -> float | None:
    m = re.search(r"_n(\d+)_d(\d+)_", workload)
    if not m:
        return None
    n, d = int(m.group(1)), int(m.group(2))
    return 2.0 * (2 * n) ** 2 * d  # bench_align's xla_gemm_pooled: (2n, d) x (d, 2n)


def bound_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Share of the GEMM bound per round, from rows of **one process** (same run, round,
    workload and harness job): the implementation row's ``gflop`` (its own FLOPs) over
    (the GEMM rate of that process x its ``median_s``). The rate comes from a probe row
    ``xla_gemm_rate`` (``gemm_gflop_per_s``) or from ``xla_gemm_pooled``'s time on the
    pooled ``(2n, d) x (d, 2n)`` product. Entries: ``workload``, ``impl``, ``shares``,
    ``gflop``, ``gemm_gflop_per_s`` (per round), ``goal``, ``verdict``."""
    procs: dict[tuple, dict[str, Mapping[str, Any]]] = {}
    for row in rows:
        key = (*_round(row), row["workload"], row.get("impl_job"))
        procs.setdefault(key, {})[_impl(row)] = row
    acc: dict[tuple[str, str], dict[str, list]] = {}
    for (_, _, wl, _), members in sorted(procs.items(), key=lambda kv: str(kv[0])):
        rate = None
        if "xla_gemm_rate" in members:
            rate = float(members["xla_gemm_rate"]["gemm_gflop_per_s"]) * 1e9
        elif "xla_gemm_pooled" in members and _pooled_gemm_flops(wl):
            rate = _pooled_gemm_flops(wl) / float(members["xla_gemm_pooled"]["median_s"])
        if rate is None or not any(fnmatch.fnmatch(wl, p) for p in BOUNDS):
            continue
        for impl, row in members.items():
            if impl in PROBES or not row.get("gflop") or not row.get("median_s"):
                continue
            e = acc.setdefault((wl, impl), {"shares": [], "rates": [], "gflop": []})
            e["shares"].append(float(row["gflop"]) * 1e9 / rate / float(row["median_s"]))
            e["rates"].append(rate / 1e9)
            e["gflop"].append(float(row["gflop"]))
    out = []
    for (wl, impl), e in acc.items():
        goals = goals_for(wl, impl, "bound")
        goal = goals[0] if goals else None
        out.append(
            {
                "workload": wl,
                "impl": impl,
                "shares": e["shares"],
                "gemm_gflop_per_s": e["rates"],
                "gflop": statistics.median(e["gflop"]),
                "goal": goal,
                "verdict": _verdict(goal, e["shares"]),
            }
        )
    return out


def throughput_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows that carry ``items_per_s`` (episodes): per (workload, impl) the per-round wall
    and CPU-time rates, ``goal`` and ``verdict`` (on the wall rate)."""
    out = []
    for wl, impls in _by_workload(rows).items():
        for impl, per_round in impls.items():
            rs = [r for rows_ in per_round.values() for r in rows_]
            if not any("items_per_s" in r for r in rs):
                continue
            wall = [float(r["items_per_s"]) for r in rs if "items_per_s" in r]
            cpu = [float(r["cpu_items_per_s"]) for r in rs if "cpu_items_per_s" in r]
            goals = goals_for(wl, impl, "items_per_s")
            goal = goals[0] if goals else None
            out.append(
                {
                    "workload": wl,
                    "impl": impl,
                    "items_per_s": wall,
                    "cpu_items_per_s": cpu,
                    "goal": goal,
                    "verdict": _verdict(goal, wall),
                }
            )
    return out


def _mr(values: Sequence[float], fmt: str) -> str:
    """``median [min, max]`` (just the value for one round)."""
    if not values:
        return "–"
    med = statistics.median(values)
    if len(values) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} [{fmt.format(min(values))}, {fmt.format(max(values))}]"


def _secs(s: float | None) -> str:
    if s is None or (isinstance(s, float) and math.isnan(s)):
        return "–"
    return f"{s * 1e3:.3g} ms" if s < 1 else f"{s:.3g} s"


def _header(data: Mapping[str, list], rows: Sequence[Mapping[str, Any]]) -> list[str]:
    runs = data["runs"]
    ids = {r.get("run_id") for r in rows}
    runs = [r for r in runs if r.get("run_id") in ids] or runs[-1:]
    loads = [float(r["load"][0]) for r in rows if r.get("load")]
    lines = []
    for h in runs:
        git = h.get("git") or {}
        smoke = ", SMOKE: tiny sizes, not results" if h.get("smoke") else ""
        commit = (git.get("commit") or "unknown")[:10] + (
            " (dirty tree)" if git.get("dirty") else ""
        )
        lines.append(
            f"Run {h.get('run_id')} ({h.get('date', '?')[:10]}{smoke}): "
            f"{h.get('cpu_model', '?')}, {h.get('cpu_count', '?')} CPUs; commit {commit}; "
            f"{h.get('rounds', '?')} rounds, one implementation per process; interpreter "
            f"`{h.get('interpreter', '?')}` (Python {h.get('python')}, jax {h.get('jax')}, "
            f"torch {h.get('torch')})"
            + (f"; thread environment {h['thread_env']}" if h.get("thread_env") else "")
            + "."
        )
    if loads:
        lines.append(
            f"Load average (1 min) seen by the benchmark processes: {min(loads):.1f}-"
            f"{max(loads):.1f}."
        )
    threads: dict[str, set[str]] = {}
    for r in rows:
        if r.get("threads") and not r.get("probe"):
            threads.setdefault(r["threads"], set()).add(_impl(r))
    if threads:
        lines.append(
            "Threads: "
            + "; ".join(f"{', '.join(sorted(v))}: {k}" for k, v in sorted(threads.items()))
            + "."
        )
    return lines


def render(data: Mapping[str, list], groups: Sequence[str] | None = None) -> str:
    """The Markdown of one JSONL file (optionally only some harness groups)."""
    rows = [r for r in data["rows"] if not groups or r.get("group") in groups]
    failed = [r for r in data["failed"] if not groups or r.get("group") in groups]
    if not rows:
        return (
            "Not measured yet: no rows"
            + (f" for {', '.join(groups)}" if groups else "")
            + (f". Run `{IDLE_COMMAND}` on an idle machine.")
        )
    lines = [" ".join(_header(data, rows)), ""]
    lines += [
        "| workload | implementation | median time | time / base's, per round: median "
        "[min, max] | goal | met | compile (cold) | load (1 min) | check |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for t in ratio_rows(rows):
        base = t["impl"] == t["base"]
        rounds = f"{t['rounds']} round{'s' if t['rounds'] != 1 else ''}"
        ratio = f"base ({rounds})" if base else _mr(t["ratios"], "{:.3g}x")
        if not base:
            ratio += f" vs {t['base']}" if t["ratios"] else ""
        goal = f"{t['goal'].text()} ({t['goal'].source})" if t["goal"] else "–"
        lines.append(
            f"| {t['workload']} | {t['impl']} | {_secs(t['median_s'])} | {ratio} | {goal} | "
            f"{t['verdict']} | {_secs(t['compile_s'])} | {t['load']} | {t['check']} |"
        )
    bounds = bound_rows(rows)
    if bounds:
        lines += [
            "",
            "| workload | implementation | share of the GEMM bound, per round: median [min, max] "
            "| GFLOP per call | GEMM rate in the same process, GFLOP/s | goal | met |",
            "|---|---|---|---|---|---|---|",
        ]
        for b in bounds:
            goal = f"{b['goal'].text()} ({b['goal'].source})" if b["goal"] else "–"
            lines.append(
                f"| {b['workload']} | {b['impl']} | "
                f"{_mr([100 * s for s in b['shares']], '{:.0f} %')} | {b['gflop']:.3g} | "
                f"{_mr(b['gemm_gflop_per_s'], '{:.0f}')} | {goal} | {b['verdict']} |"
            )
    thr = throughput_rows(rows)
    if thr:
        lines += [
            "",
            "| workload | implementation | items/s (wall), per round: median [min, max] | "
            "items per CPU-second | goal | met |",
            "|---|---|---|---|---|---|",
        ]
        for t in thr:
            goal = f"{t['goal'].text()} ({t['goal'].source})" if t["goal"] else "–"
            lines.append(
                f"| {t['workload']} | {t['impl']} | {_mr(t['items_per_s'], '{:,.0f}')} | "
                f"{_mr(t['cpu_items_per_s'], '{:,.0f}')} | {goal} | {t['verdict']} |"
            )
    if failed:
        lines += [
            "",
            "Processes that failed or printed no row: "
            + ", ".join(
                f"{f.get('group')}/{f.get('impl_job')} round {f.get('round')} ({f.get('status')})"
                for f in failed
            )
            + ".",
        ]
    skipped = {k: v for h in data["runs"] for k, v in (h.get("skipped") or {}).items()}
    skipped = {k: v for k, v in skipped.items() if not groups or k.split("@")[-1] in groups}
    if skipped:
        lines += [
            "",
            "Not run (peer missing): "
            + "; ".join(f"{k.replace('@', ' in ')}: {v}" for k, v in sorted(skipped.items()))
            + ".",
        ]
    return "\n".join(lines)


def render_readme(text: str, results_dir: str | Path) -> str:
    """``text`` with every ``<!-- bench:NAME[:groups] -->`` block regenerated."""

    def block(m: re.Match) -> str:
        path = Path(results_dir) / f"{m.group(2)}.jsonl"
        groups = m.group(3).split(",") if m.group(3) else None
        if path.exists():
            body = render(read_jsonl(path), groups)
        else:
            body = (
                f"Not measured yet (no `{path.name}`): run `{IDLE_COMMAND}` on an idle machine "
                "and commit the JSONL and this README."
            )
        return f"{m.group(1)}\n{body}\n{m.group(5)}"

    return _BLOCK.sub(block, text)


def update_readme(readme: str | Path, results_dir: str | Path, *, check: bool = False) -> bool:
    """Regenerates ``readme``'s benchmark blocks (``check``: only compare); True if it differed."""
    readme = Path(readme)
    text = readme.read_text()
    new = render_readme(text, results_dir)
    if new != text and not check:
        readme.write_text(new)
    return new != text

"""Adds seeds to the committed MLP artefacts (``mlp_selected`` / ``mlp_oracle``) without
rerunning the closed-form protocols (about 35 min) or the committed seeds.

A committed seed (``--check_seed``) is rerun first at the current commit; the committed seeds
are kept only if it reproduces every per-shift value exactly, else every seed is rerun
(``report.extend_mlp``). The artefacts' notes say which happened.

Run: ``JTRANSFER_MANUAL_DIR=/path/to/shared/data python -m experiments.office_caltech.extend_mlp
--seeds 2,3,4 --check_seed 0 --workdir runs/office_mlp`` then
``python -m experiments.reproduce tables``.
"""

from __future__ import annotations

import argparse

from experiments.office_caltech import report


def main(argv=None) -> list[int]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", required=True, help="new seeds, comma-separated (e.g. 2,3,4)")
    p.add_argument("--check_seed", type=int, default=0, help="committed seed rerun first")
    p.add_argument("--workdir", default="runs/office_mlp", help="folder for the runs")
    p.add_argument(
        "--ran_at",
        default=None,
        help="commit of an earlier (stopped) run in --workdir: run nothing, write the artefacts "
        "from the results.json it left",
    )
    a = p.parse_args(argv)
    seeds = [int(s) for s in a.seeds.split(",") if s.strip()]
    done = report.extend_mlp(a.workdir, seeds, check_seed=a.check_seed, ran_at=a.ran_at)
    print(f"[office_caltech] artefacts now hold seeds {done}", flush=True)
    return done


if __name__ == "__main__":
    main()

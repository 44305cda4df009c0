"""Lists every case of issue #17 and where it is tested; fails if a reference is missing.

Each case names either a row of a bad-input table (``table:<pkg>:<row id>``, a ``Case.id`` in
``tests/<pkg>/test_bad_inputs.py``) or a test function (``test:<path>::<function>``). The
script imports the tables, checks that every referenced row and function exists, prints one
line per case, then the number of bad inputs per subpackage (by kind: ``value`` rows also run
under ``jit`` with debug checks, ``shape`` rows under a plain ``jit``, ``static`` rows eagerly).

Usage (from the repository root): ``python scripts/issue17_cases.py``; exit status 1 when a
reference is missing. It does not run the tests (``pytest tests/*/test_bad_inputs.py`` does).
"""

from __future__ import annotations

import importlib
import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
PACKAGES = (
    "align",
    "weighting",
    "meta",
    "select",
    "mtl",
    "lopt",
    "models",
    "parallel",
    "train",
    "data",
    "adapters",
)

T_RUNS = "tests/train/test_runs.py"
T_TRAIN = "tests/train/test_train.py"
T_LOOP = "tests/train/test_loop.py"
T_DEBUG = "tests/core/test_debug_checks.py"

# (section, the words, where it is tested)
CASES = [
    (
        "silently wrong",
        "stale resume: another --config.method in the same workdir",
        f"test:{T_RUNS}::test_command_line_refuses_another_method_and_overwrite_starts_over",
    ),
    (
        "silently wrong",
        "stale resume: a config change refuses to resume, names the fields",
        f"test:{T_RUNS}::test_config_is_recorded_and_a_different_one_refuses_to_resume",
    ),
    (
        "silently wrong",
        "stale resume: another model shape, one line before orbax",
        f"test:{T_RUNS}::test_model_shape_change_is_one_config_line_before_orbax",
    ),
    (
        "silently wrong",
        "duplicate metric rows after a kill between evaluation and save",
        f"test:{T_RUNS}::test_kill_at_any_point_resumes_with_exactly_the_uninterrupted_rows",
    ),
    ("silently wrong", "jit(mmd2) with bandwidth -1", "table:align:mmd2: bandwidth -1"),
    ("silently wrong", "jit(mmd2) with NaN input", "table:align:mmd2: NaN source"),
    ("silently wrong", "jit(mmd2) with zero weights", "table:align:mmd2: zero weights"),
    ("silently wrong", "jit(coral) with eps -1", "table:align:coral: eps -1"),
    ("silently wrong", "jit(maml_loss) with inner_lr -0.1", "table:meta:maml_loss: inner_lr -0.1"),
    (
        "silently wrong",
        "the five jit calls above, as the issue writes them",
        f"test:{T_DEBUG}::test_issue_calls_raise_the_eager_message_under_jit",
    ),
    (
        "degenerate",
        "maml_loss on an unbatched task",
        "table:meta:maml_loss: unbatched task (5 points read as 5 tasks)",
    ),
    ("degenerate", "maml_loss on an empty support", "table:meta:maml_loss: empty support"),
    ("degenerate", "maml_loss on T = 0 tasks", "table:meta:maml_loss: T = 0 tasks"),
    ("degenerate", "kmm(max_iters=0)", "table:weighting:kmm: max_iters 0"),
    (
        "degenerate",
        "kde_ratio underflow warns, points to the log-space alternative",
        "test:tests/weighting/test_bad_inputs.py::"
        "test_kde_ratio_underflow_warns_with_the_log_space_alternative",
    ),
    (
        "degenerate",
        "mtl.weighted_loss with negative weights",
        "table:mtl:weighted_loss: negative weight",
    ),
    ("degenerate", "min_norm_weights of a NaN Gram", "table:mtl:min_norm_weights: NaN Gram"),
    (
        "degenerate",
        "min_norm_weights of a negative-definite Gram",
        "table:mtl:min_norm_weights: negative-definite Gram",
    ),
    (
        "degenerate",
        "imtl_g_weights with two identical task gradients (min-norm answer)",
        "test:tests/mtl/test_bad_inputs.py::"
        "test_imtl_g_with_identical_task_gradients_gives_the_minimum_norm_answer",
    ),
    (
        "degenerate",
        "prediction_entropy of non-probabilities",
        "table:select:prediction_entropy: negative entries (logits)",
    ),
    (
        "degenerate",
        "lopt.mlp_task truncates float labels",
        "table:lopt:mlp_task: float labels (not truncated)",
    ),
    (
        "degenerate",
        "lopt.mlp_task accepts labels >= num_classes",
        "table:lopt:mlp_task: label >= num_classes",
    ),
    ("degenerate", "lopt.mlp_task accepts NaN inputs", "table:lopt:mlp_task: NaN inputs"),
    (
        "degenerate",
        "a learned optimizer's update with differently named keys",
        "table:lopt:mlp_optimizer.update: params keys differ from updates'",
    ),
    ("degenerate", "data.load(..., domain=[])", "table:data:load: domain=[]"),
    ("degenerate", "parallel.process_slice(-1)", "table:parallel:process_slice(-1)"),
    (
        "failing badly",
        "lopt.save_theta under a regular file: raises, exits at once",
        "test:tests/lopt/test_tasks_io.py::test_failed_save_raises_at_once_and_the_process_exits",
    ),
    (
        "failing badly",
        "truncated file in the latest checkpoint: reported, previous one used",
        f"test:{T_TRAIN}::test_corrupt_latest_checkpoint_falls_back_to_the_previous_one",
    ),
    (
        "failing badly",
        "corrupted built TFDS cache: detected and rebuilt",
        "test:tests/data/test_text.py::test_corrupted_build_is_rebuilt_with_a_warning",
    ),
    (
        "failing badly",
        "corrupted TFDS copy: message with the folder",
        "test:tests/data/test_builders.py::test_corrupted_copy_fails_with_message",
    ),
    (
        "failing badly",
        "float16/bfloat16 to coral",
        "test:tests/align/test_bad_inputs.py::"
        "test_half_precision_linear_algebra_runs_in_float32_and_returns_the_input_dtype",
    ),
    (
        "failing badly",
        "float16/bfloat16 to ulsif (and kmm)",
        "test:tests/weighting/test_bad_inputs.py::test_half_precision_solvers_return_the_input_dtype",
    ),
    ("failing badly", "integer params to maml_loss", "table:meta:maml_loss: integer params"),
    (
        "failing badly",
        "a non-float lambda to gradient_reversal",
        "table:align:gradient_reversal: scale a string",
    ),
    (
        "failing badly",
        "mismatched learned-optimizer state",
        "table:lopt:mlp_optimizer.update: updates of another size than the state",
    ),
    ("failing badly", "models.MLP(2, 4, 2)", "table:models:MLP(2, 4, 2): an int for hidden"),
    (
        "failing badly",
        "shard_batch with an unknown axis",
        "table:parallel:shard_batch: unknown axis",
    ),
    (
        "failing badly",
        "a truncated last line in metrics.jsonl",
        f"test:{T_TRAIN}::test_read_metrics_skips_a_truncated_last_line_and_rejects_bad_lines",
    ),
    (
        "failing badly",
        "a config file that does not exist",
        "table:train:experiment_main: --config=missing.py",
    ),
    (
        "slow",
        "median bandwidth: no n^2 index constants",
        "test:tests/align/test_mmd.py::"
        "test_median_bandwidth_exact_up_to_2048_points_without_n2_index_constants",
    ),
    (
        "slow",
        "median bandwidth above 2048 points: sampled, within 1 %",
        "test:tests/align/test_mmd.py::test_median_bandwidth_sampled_above_2048_points_within_1_percent",
    ),
    (
        "slow",
        "mmd2 recompiles for every new sample size: one program per bucket",
        "test:tests/align/test_mmd_buckets.py::test_two_sizes_in_one_bucket_compile_once",
    ),
    (
        "slow",
        "padded mmd2 equals the float64 reference (biased/unbiased/linear, weights, median)",
        "test:tests/align/test_mmd_buckets.py::test_padded_mmd2_matches_float64_reference",
    ),
    (
        "slow",
        "coral on float64 input with x64 off: warns; with x64 on stays float64",
        "test:tests/align/test_bad_inputs.py::"
        "test_coral_float64_with_x64_off_warns_and_with_x64_on_stays_float64",
    ),
    (
        "deliver 5",
        "debug checks off by default: no check ops in the jaxpr",
        f"test:{T_DEBUG}::test_off_by_default_emits_no_check_and_plain_jit_returns",
    ),
    (
        "deliver 5",
        "JTRANSFER_DEBUG_CHECKS=1",
        f"test:{T_DEBUG}::test_environment_variable_switches_it_on",
    ),
    (
        "deliver 2",
        "resume after a kill is bit-exact (loop)",
        f"test:{T_LOOP}::test_resume_after_kill_is_bit_exact",
    ),
    (
        "deliver 9",
        "TensorBoard events next to metrics.jsonl",
        f"test:{T_TRAIN}::test_metric_writer_jsonl_and_tensorboard",
    ),
    (
        "deliver 9",
        "progress lines without a terminal",
        f"test:{T_RUNS}::test_progress_prints_lines_in_logs",
    ),
]


def load_tables() -> dict[str, list]:
    sys.path.insert(0, ROOT)
    tables = {}
    for pkg in PACKAGES:
        mod = importlib.import_module(f"tests.{pkg}.test_bad_inputs")
        rows = []
        for value in vars(mod).values():
            if (
                isinstance(value, list)
                and value
                and all(hasattr(c, "fn") and hasattr(c, "kind") for c in value)
            ):
                rows.extend(value)
        tables[pkg] = rows
    return tables


def has_test(path: str, name: str) -> bool:
    full = os.path.join(ROOT, path)
    if not os.path.exists(full):
        return False
    with open(full) as f:
        return re.search(rf"^def {re.escape(name)}\(", f.read(), re.M) is not None


def main() -> int:
    tables = load_tables()
    missing = 0
    for section, words, where in CASES:
        kind, _, ref = where.partition(":")
        if kind == "table":
            pkg, _, row = ref.partition(":")
            hits = [c for c in tables.get(pkg, []) if c.id == row]
            ok = bool(hits)
            tag = f"{hits[0].kind:6s}" if ok else "      "
        else:
            path, _, name = ref.partition("::")
            ok, tag = has_test(path, name), "e2e   "
        missing += not ok
        print(f"{'ok ' if ok else 'MISSING'} [{section}] {tag} {words}\n        -> {where}")
    print()
    total = {"value": 0, "shape": 0, "static": 0}
    for pkg, rows in tables.items():
        kinds = {k: sum(c.kind == k for c in rows) for k in total}
        for k in total:
            total[k] += kinds[k]
        by_kind = ", ".join(f"{k} {v}" for k, v in kinds.items())
        print(f"{pkg:10s} {len(rows):4d} bad inputs  ({by_kind})")
    print(
        f"{'total':10s} {sum(total.values()):4d} bad inputs  "
        f"({', '.join(f'{k} {v}' for k, v in total.items())})"
    )
    print(f"\n{len(CASES)} issue cases, {missing} missing")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())

"""End-to-end runs of the meta-learning experiments with their tiny configs."""

import os

import numpy as np
import pytest

from experiments.maml_omniglot import train as fewshot
from experiments.maml_omniglot.configs import default as omniglot_default
from experiments.maml_omniglot.configs import test as fewshot_test
from experiments.maml_sinusoid import train as sinusoid
from experiments.maml_sinusoid.configs import test as sinusoid_test
from experiments.maml_sinusoid.report import rows_from_metrics
from jtransfer import train
from tests.conftest import manual_dir_or_skip, start_on_devices


def test_sinusoid_tiny_end_to_end(tmp_path, capfd):
    c = sinusoid_test.get_config()
    m = sinusoid.train_and_evaluate(c, str(tmp_path))
    # Issue #17's stale resume: a rerun with another method (first- instead of second-order
    # MAML, what ``--config.first_order=True`` gives main.py) in the same workdir is refused
    # naming the field; the same config resumes and writes the same rows once.
    metric_rows = train.read_metrics(tmp_path)
    assert [r["step"] for r in metric_rows] == [20, 40, 40]  # loop rows, the evaluation row
    other = c.copy_and_resolve_references()
    other.first_order = True
    with pytest.raises(ValueError, match="first_order: false -> true.*--overwrite"):
        sinusoid.train_and_evaluate(other, str(tmp_path))
    again = sinusoid.train_and_evaluate(c, str(tmp_path))
    assert "resuming from step 40" in capfd.readouterr().err
    assert {k: v for k, v in again.items() if "_k5" in k} == {
        k: v for k, v in m.items() if "_k5" in k
    }
    assert train.read_metrics(tmp_path) == metric_rows
    for label in ("maml", "pretrained"):
        # fine-tuning on a task's K support points lowers the error on its query points
        steps = [m[f"{label}_k5_step{n}"] for n in (0, 1, 5, 10)]
        assert steps[3] < steps[0], (label, steps)
        assert m[f"{label}_k5_step10_ci95"] > 0
    # Same test tasks for both models: before adaptation both are near-zero predictors, so
    # the MSE is close to E[A^2]/2 = 4.2 for A ~ U[0.1, 5] (sampling error on 20 tasks).
    assert 1.5 < m["maml_k5_step0"] < 8.0
    assert os.path.exists(tmp_path / "fig2_adaptation.png")
    rows = rows_from_metrics(m)
    assert [r.published for r in rows] == [0.67, 0.38, 0.35, 2.41, 2.23, 2.19]
    with pytest.raises(ValueError, match="chunk"):
        c.chunk = 7
        sinusoid.train_and_evaluate(c, str(tmp_path / "bad"))


@pytest.mark.parametrize("method", ["maml", "reptile"])
def test_fewshot_digits_tiny_end_to_end_and_resume(tmp_path, method):
    c = fewshot_test.get_config()
    c.method = method
    m = fewshot.train_and_evaluate(c, str(tmp_path))
    assert m["iterations_done"] == c.num_iterations
    assert 0.0 <= m["test_accuracy"] <= 1.0 and m["test_accuracy_ci95"] > 0
    assert os.path.exists(tmp_path / "curve.png")
    # A second call finds the final checkpoint and only evaluates: same parameters, same result.
    m2 = fewshot.train_and_evaluate(c, str(tmp_path))
    assert m2["test_accuracy"] == m["test_accuracy"]


def test_fewshot_run_extended_to_more_iterations_equals_the_longer_run(tmp_path):
    """MAML's steps do not depend on the total: 3 iterations extended to 6 in the same workdir
    give the 6-iteration run's test accuracy; Reptile (annealed over the total) refuses."""
    c = fewshot_test.get_config()
    full = fewshot.train_and_evaluate(c, str(tmp_path / "full"))
    short = c.copy_and_resolve_references()
    short.num_iterations = 3
    assert fewshot.train_and_evaluate(short, str(tmp_path / "ext"))["iterations_done"] == 3
    longer = fewshot.train_and_evaluate(c, str(tmp_path / "ext"))
    assert longer["iterations_done"] == 6
    assert longer["test_accuracy"] == full["test_accuracy"]
    short.method = "reptile"
    fewshot.train_and_evaluate(short, str(tmp_path / "rep"))
    reptile = c.copy_and_resolve_references()
    reptile.method = "reptile"
    with pytest.raises(ValueError, match="num_iterations"):
        fewshot.train_and_evaluate(reptile, str(tmp_path / "rep"))


def test_omniglot_evaluator_per_task_native_queries_match_the_vmapped_matmul_ones():
    """The Conv4 evaluator on CPU adapts under vmap with matmul ops and scores the queries one
    task at a time with native convolutions: the per-task accuracies (and the accuracy of each
    task's own adapted weights, not another task's) are those of the all-vmapped matmul path."""
    import jax

    from jtransfer import data

    c = omniglot_default.get_config("5w1s")
    c.hidden, c.eval_batch, c.eval_steps = 8, 4, 2
    rng = np.random.default_rng(0)
    x = rng.random((200, 28, 28, 1), dtype=np.float32)  # 10 classes x 20 drawings
    y = np.repeat(np.arange(10), 20).astype(np.int32)
    x += y[:, None, None, None] * 0.05  # class-dependent brightness: tasks differ
    sampler = data.episode_sampler(x, y, num_ways=5, num_shots=1, num_queries=3)
    apply_fn, params = fewshot.make_model(c, jax.random.key(0))
    loss_m, acc_m = fewshot.make_losses(apply_fn, matmul=True)
    _, acc_native = fewshot.make_losses(apply_fn)
    vmapped = fewshot.make_evaluator(sampler, loss_fn=loss_m, accuracy=acc_m, config=c)
    per_task = fewshot.make_evaluator(
        sampler, loss_fn=loss_m, accuracy=acc_native, config=c, per_task_queries=True
    )
    key = jax.random.key(1)
    a = vmapped.task_accuracies(params, key, 8)
    b = per_task.task_accuracies(params, key, 8)
    assert a.shape == (8,) and len(set(a.tolist())) > 1  # tasks differ, so a mix-up shows
    np.testing.assert_array_equal(b, a)
    assert per_task(params, key, 8) == vmapped(params, key, 8)


def test_omniglot_configs_follow_the_paper():
    for variant, (ways, shots, lr, steps, test_steps, mb) in {
        "5w1s": (5, 1, 0.4, 1, 3, 32),
        "5w5s": (5, 5, 0.4, 1, 3, 32),
        "20w1s": (20, 1, 0.1, 5, 5, 16),
        "20w5s": (20, 5, 0.1, 5, 5, 16),
    }.items():
        c = omniglot_default.get_config(variant)
        assert (
            c.num_ways,
            c.num_shots,
            c.inner_lr,
            c.train_steps,
            c.eval_steps,
            c.meta_batch_size,
        ) == (ways, shots, lr, steps, test_steps, mb)
        assert (c.num_iterations, c.eval_tasks, c.image_size) == (60_000, 600, 28)
    with pytest.raises(ValueError, match="variant"):
        omniglot_default.get_config("3w1s")


@pytest.mark.data
def test_omniglot_splits_have_the_paper_sizes():
    root = manual_dir_or_skip("omniglot")
    c = omniglot_default.get_config("5w1s")
    c.manual_dir = os.path.dirname(root)
    s = fewshot.load_splits(c)
    assert s["x_train"].shape == (1200 * 4 * 20, 28, 28, 1)
    assert s["x_test"].shape == (423 * 4 * 20, 28, 28, 1)
    assert len(np.unique(s["y_train"])) == 4800 and len(np.unique(s["y_test"])) == 1692
    ink = s["x_train"].mean()
    assert 0.03 < ink < 0.3  # ink = 1 covers a small fraction of each character
    # bit-identical to the experiment's own loader before it moved into the library
    # (data.omniglot_arrays): SHA-256 of the arrays it returned at commit 383e60f
    import hashlib

    old = {
        "x_train": "aa8ed9a746301aa8f988f7570cdaff425c21a503e0c32c651bd9b5e3877be848",
        "y_train": "76cd995111484b36c4998eeefb64890a675aed6ddc7439baef1bb27add802b14",
        "x_test": "deade19a6679aa0ddc056c7f443e4475fb3e823062df10721e21cc17a8695627",
        "y_test": "608a2fc792d671cb0c6fe178c580fc47c6e8220f9c26ad5e55ccd541c88ab637",
    }
    for k, digest in old.items():
        assert hashlib.sha256(s[k].tobytes()).hexdigest() == digest, k


def _fewshot_mesh(workdir):
    c = fewshot_test.get_config()
    c.mesh_shape = (-1,)
    return fewshot.train_and_evaluate(c, workdir)


_FEWSHOT_MESH = """
import json, sys
from tests.meta.test_experiments import _fewshot_mesh
print(json.dumps(_fewshot_mesh(sys.argv[1])))
"""


def test_fewshot_config_mesh_shape_runs_task_parallel(tmp_path):
    """maml_fewshot_digits with ``config.mesh_shape=(-1,)``: the meta-batch of 4 split over 4
    simulated devices (a fresh process) gives the 1-device training loss and test accuracy
    (this process, meanwhile)."""
    with start_on_devices(_FEWSHOT_MESH, 4, tmp_path / "d4", timeout=300) as pending:
        one = _fewshot_mesh(str(tmp_path / "d1"))
        four = pending.result()
    assert (
        one["iterations_done"]
        == four["iterations_done"]
        == fewshot_test.get_config().num_iterations
    )
    for k in ("meta_train_query_loss", "test_accuracy"):
        np.testing.assert_allclose(four[k], one[k], rtol=1e-4, atol=1e-5, err_msg=k)


def test_fewshot_mesh_shape_is_validated():
    c = fewshot_test.get_config()
    c.mesh_shape = (0,)
    with pytest.raises(ValueError, match="mesh_shape"):
        fewshot.validate_config(c)
    c.mesh_shape = (3,)  # does not divide meta_batch_size = 4
    with pytest.raises(ValueError, match="mesh"):
        fewshot.train_and_evaluate(c, "/nonexistent/unused")

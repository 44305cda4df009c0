"""Task families against NumPy, and orbax save/reload of theta in a fresh process."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jtransfer import lopt

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_quadratic_tasks_loss_and_vmap():
    tasks = lopt.quadratic_tasks(num_tasks=4, dim=10, key=jax.random.key(0))
    assert tasks.w.shape == (4, 10, 10) and tasks.y.shape == (4, 10)
    theta = np.linspace(-1, 1, 10)
    got = jax.vmap(lambda t: t.loss(jnp.asarray(theta, jnp.float32), None))(tasks)
    want = [
        np.sum((np.asarray(w) @ theta - np.asarray(y)) ** 2)
        for w, y in zip(tasks.w, tasks.y, strict=True)
    ]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    one = lopt.quadratic_task(jax.random.key(0), dim=10)
    assert one.w.shape == (10, 10)


def test_mlp_task_loss_matches_numpy():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 5)), rng.integers(0, 3, size=7)
    for activation, act in (
        ("sigmoid", lambda z: 1 / (1 + np.exp(-z))),
        ("relu", lambda z: np.maximum(z, 0)),
    ):
        task = lopt.mlp_task(x, y, hidden=(4,), activation=activation, batch_size=3)
        params = task.init(jax.random.key(1))
        p = jax.tree.map(np.asarray, params)
        logits = act(x @ p[0]["w"] + p[0]["b"]) @ p[1]["w"] + p[1]["b"]
        logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
        want = -np.mean(logp[np.arange(7), y])
        np.testing.assert_allclose(task.loss(params, None, None), want, rtol=1e-5)
        bx, by = task.sample(jax.random.key(2))
        assert bx.shape == (3, 5) and by.shape == (3,)


def test_digits_task_and_validation():
    task = lopt.digits_mlp_task(split="test")
    assert task.x.shape == (297, 64) and float(task.x.max()) <= 1.0


class _UserTask:
    """A plain (non-pytree) user task: f(p) = sum((p - 3)^2)."""

    def init(self, key):
        return {"p": jnp.zeros(2)}

    def loss(self, params, key, batch):
        return jnp.sum(jnp.square(params["p"] - 3.0))


def test_meta_loss_with_user_task_decreases_with_lr():
    lo = lopt.learned_hyperparams(horizon=5, num_knots=1)
    losses = [
        float(
            lopt.meta_loss(
                lo,
                {"log_lr": jnp.log(jnp.array([lr]))},
                _UserTask(),
                jax.random.key(0),
                num_steps=5,
            )
        )
        for lr in (0.01, 0.3)
    ]
    assert losses[1] < losses[0] < 18.0  # 18 = f(0)


_CHILD = """
import json, sys
import jax, jax.numpy as jnp
from jtransfer import lopt
opt = lopt.load_optimizer(sys.argv[1], lopt.lstm_optimizer(hidden=5))
params = {"w": jnp.array([1.0, -2.0, 0.5])}
updates, _ = jax.jit(opt.update)(params, opt.init(params))
print(json.dumps([float(u) for u in updates["w"]]))
"""


def test_orbax_save_and_reload_in_fresh_process(tmp_path):
    lo = lopt.lstm_optimizer(hidden=5)
    theta = jax.tree.map(lambda x: x + 0.01, lo.init(jax.random.key(3)))
    path = lopt.save_theta(str(tmp_path / "theta"), theta)
    params = {"w": jnp.array([1.0, -2.0, 0.5])}
    opt = lo.optimizer(theta)
    want, _ = opt.update(params, opt.init(params))
    env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu")
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, path],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(got, want["w"], rtol=1e-6)
    with pytest.raises(ValueError, match="theta"):
        lopt.load_theta(path, lopt.lstm_optimizer(hidden=6))


_SAVE_UNDER_FILE = """
import sys, jax.numpy as jnp
from jtransfer import lopt
try:
    lopt.save_theta(sys.argv[1], {"a": jnp.zeros(3)})
except ValueError as err:
    print("ValueError:", err)
"""


def test_failed_save_raises_at_once_and_the_process_exits(tmp_path):
    # issue #17: saving under a regular file raised, then the interpreter hung ~300 s at exit
    blocker = tmp_path / "file"
    blocker.write_text("x")
    env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu")
    out = subprocess.run(
        [sys.executable, "-c", _SAVE_UNDER_FILE, str(blocker / "theta")],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    assert "is a file, not a folder" in out.stdout
    existing = tmp_path / "exists"
    existing.mkdir()
    with pytest.raises(ValueError, match="already exists"):
        lopt.save_theta(str(existing), {"a": jnp.zeros(3)})
    with pytest.raises(ValueError, match="no checkpoint folder"):
        lopt.load_theta(str(tmp_path / "missing"), lopt.lstm_optimizer(hidden=5))

"""The domain-adaptation recipe on tiny arrays (seconds each)."""

import os
import signal
import subprocess
import sys
import tempfile
import types

import jax
import numpy as np
import pytest
from sklearn.datasets import make_moons

from jtransfer import align, recipes

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _moons(seed: int, angle: float = 30.0):
    """ADAPT's two moons (as experiments/two_moons): source shifted by -0.5, target rotated."""
    xs, ys = make_moons(n_samples=100, noise=0.05, random_state=seed)
    xs = (xs - np.array([0.5, 0.0])).astype(np.float32)
    t = np.deg2rad(angle)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]], np.float32)
    return xs, ys.astype(np.int32), xs @ rot.T


def _adapt_config():
    """ADAPT's network and optimiser (experiments/two_moons/configs/default.py)."""
    c = recipes.default_config()
    c.hidden, c.head_hidden, c.disc_hidden, c.init = (10,), (10, 10), (10, 10), "glorot"
    c.b1, c.batch_size, c.num_steps, c.lam = 0.5, 34, 1200, 2.0  # ADAPT: 2400 steps
    c.eval_every = c.save_every = 1200
    return c


def test_dann_beats_the_same_run_with_the_gradient_reversal_sign_flipped(monkeypatch):
    """With reversal the encoder confuses the discriminator and the rotated moons align
    (seed 2, 1200 steps: target 1.00); with the sign flipped the encoder *helps* the
    discriminator, the domains separate and the target accuracy falls below source-only's
    (0.79 vs 0.81)."""
    xs, ys, xt = _moons(2)
    key = jax.random.key(2)
    good = recipes.fit_domain_adaptation(xs, ys, xt, method="dann", config=_adapt_config(), key=key)
    flipped_align = types.SimpleNamespace(**{n: getattr(align, n) for n in align.__all__})
    flipped_align.gradient_reversal = lambda x, lam: align.gradient_reversal(x, -lam)
    monkeypatch.setattr("jtransfer.recipes._da.align", flipped_align)
    # The jitted loop is cached per (model, hyper): retrace it, and only it (clearing every
    # cache would make the rest of the session compile everything again).
    recipes._da._run.clear_cache()
    try:
        bad = recipes.fit_domain_adaptation(
            xs, ys, xt, method="dann", config=_adapt_config(), key=key
        )
    finally:
        recipes._da._run.clear_cache()
    acc_good = recipes.accuracy(good, xt, ys)
    acc_bad = recipes.accuracy(bad, xt, ys)
    assert acc_good >= acc_bad + 0.1, (acc_good, acc_bad)


def _small(**kw):
    c = recipes.default_config()
    c.hidden, c.disc_hidden, c.batch_size, c.num_steps = (8,), (8,), 16, 60
    c.eval_every = c.save_every = 30
    c.update(kw)
    return c


@pytest.mark.parametrize("method", recipes.METHODS)
def test_every_method_fits_the_source_and_returns_its_pure_apply_fn(method):
    xs, ys, xt = _moons(0)
    r = recipes.fit_domain_adaptation(
        xs,
        ys,
        xt,
        method=method,
        config=_small(num_steps=300),
        key=jax.random.key(0),
        evals={"source": (xs, ys)},
    )
    assert r.n_out == 1 and r.metrics["num_steps"] == 300.0
    logits = np.asarray(r.apply_fn(r.params, xs))
    assert logits.shape == (100, 1)
    np.testing.assert_array_equal(recipes.predict(r, xs), (logits[:, 0] > 0).astype(np.int32))
    acc = np.mean(recipes.predict(r, xs) == ys)
    assert recipes.accuracy(r, xs, ys) == acc == r.metrics["source_accuracy"]
    assert acc > 0.75, (method, acc)


_KILLED_AT_30 = """
import sys, jax, numpy as np
from tests.recipes.test_da import _moons, _small
from jtransfer import recipes
xs, ys, xt = _moons(1)
y3 = (ys + (xs[:, 1] > 0.5)).astype(np.int32)
recipes.fit_domain_adaptation(xs, y3, xt, method="mmd", config=_small(debug_kill_at_step=30),
                              key=jax.random.key(3), workdir=sys.argv[1])
"""


def test_resume_from_a_checkpoint_is_bit_identical_and_the_key_matters(tmp_path):
    xs, ys, xt = _moons(1)
    y3 = (ys + (xs[:, 1] > 0.5)).astype(np.int32)  # three classes: softmax head
    key = jax.random.key(3)
    # A run killed (SIGKILL) at step 30 of 60, then the same call again: resumes at step 30.
    env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu")
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", _KILLED_AT_30, str(tmp_path)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
            text=True,
        )
        try:  # the uninterrupted run, meanwhile
            fresh = recipes.fit_domain_adaptation(
                xs, y3, xt, method="mmd", config=_small(), key=key
            )
        except BaseException:
            proc.kill()
            raise
        finally:
            proc.wait(timeout=600)
        err.seek(0)
        assert proc.returncode == -signal.SIGKILL, err.read()[-2000:]
    assert fresh.n_out == 3
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["30"]
    resumed = recipes.fit_domain_adaptation(
        xs, y3, xt, method="mmd", config=_small(), key=key, workdir=str(tmp_path)
    )
    for a, b in zip(jax.tree.leaves(fresh.params), jax.tree.leaves(resumed.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    other = recipes.fit_domain_adaptation(
        xs, y3, xt, method="mmd", config=_small(), key=jax.random.key(4)
    )
    assert any(
        not np.array_equal(a, b)
        for a, b in zip(jax.tree.leaves(fresh.params), jax.tree.leaves(other.params))
    )
    # The workdir belongs to that run: another key, length or data is refused, not resumed.
    for kwargs, field in (
        (dict(key=jax.random.key(4)), "key"),
        (dict(config=_small(num_steps=90)), "num_steps"),
        (dict(x_target=xt + 1), "data_sha256"),
    ):
        call = dict(
            x_source=xs,
            y_source=y3,
            x_target=xt,
            method="mmd",
            config=_small(),
            key=key,
            workdir=str(tmp_path),
        )
        call.update(kwargs)
        with pytest.raises(ValueError, match=field):
            recipes.fit_domain_adaptation(**call)


def test_reverse_validation_separates_a_fitted_from_a_constant_labelling():
    xs, ys, xt = _moons(0)
    c, key = _small(num_steps=300), jax.random.key(0)
    fit = recipes.fit_domain_adaptation(xs, ys, xt, method="coral", config=c, key=key)
    good = recipes.reverse_validate(fit, xs, ys, xt, config=c, key=key)
    const = jax.tree.map(lambda a: a * 0, fit.params)  # logit 0 -> class 0 everywhere
    bad = recipes.reverse_validate(fit, xs, ys, xt, config=c, key=key, params=const)
    assert bad.accuracy == 0.5 and good.accuracy > 0.65, (good, bad)  # 0.69 vs 0.5


def test_importance_weights_are_the_domain_classifier_ratio_capped_and_normalised():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    xs = rng.normal(size=(80, 3))
    xt = rng.normal(size=(40, 3)) + 1.5
    w = recipes.importance_weights(xs, xt, C=0.5, max_weight=5.0)
    clf = LogisticRegression(C=0.5, max_iter=1000).fit(
        np.concatenate([xs, xt]), np.r_[np.zeros(80), np.ones(40)]
    )
    p = clf.predict_proba(xs)[:, 1]
    ref = np.minimum(80 / 40 * p / (1 - p), 5.0)
    np.testing.assert_allclose(w, ref / ref.mean(), rtol=1e-4)
    assert w.dtype == np.float32 and abs(w.mean() - 1) < 1e-5


def test_select_lam_keeps_the_grid_point_of_highest_iw_accuracy():
    """Each λ is fitted as fit_domain_adaptation alone would fit it (same key, same
    parameters), scored by the weighted hit rate computed here in NumPy, and the first
    maximiser is kept (that the weights, not the target, decide is tested with stub fits in
    the office_caltech, amazon_reviews and digits_da tests)."""
    xs, ys, xt = _moons(0)
    xtr, ytr, xv, yv = xs[:80], ys[:80], xs[80:], ys[80:]
    c, key, lams = _small(num_steps=30), jax.random.key(3), (0.0, 10.0)
    fits = [
        recipes.fit_domain_adaptation(xtr, ytr, xt, method="mmd", config=c, lam=lam, key=key)
        for lam in lams
    ]
    hits = np.array([recipes.predict(f, xv) == yv for f in fits], np.float64)
    w = np.linspace(0.1, 3.0, len(yv))
    iw = hits @ w / w.sum()
    val = {"x_val": xv, "y_val": yv, "weights_val": w}
    s = recipes.select_lam(xtr, ytr, xt, **val, lams=lams, method="mmd", config=c, key=key)
    assert s.lams == lams and s.index == int(np.argmax(iw)) and s.lam == lams[s.index]
    np.testing.assert_allclose(s.iw_accuracies, iw, rtol=1e-6)
    assert s.fit is s.fits[s.index]
    for f, ref in zip(s.fits, fits):
        jax.tree.map(np.testing.assert_array_equal, f.params, ref.params)


def test_select_lam_breaks_ties_to_the_first_and_fits_source_only_once(monkeypatch, tmp_path):
    from jtransfer.recipes import _da

    calls = []

    def fake_fit(xs, ys, xt, *, lam, key, workdir, **kw):
        calls.append((lam, workdir, kw.get("method")))
        return types.SimpleNamespace(lam=lam, metrics={})

    monkeypatch.setattr(_da, "fit_domain_adaptation", fake_fit)
    monkeypatch.setattr(_da, "predict", lambda fit, x: np.full(len(x), int(fit.lam > 1)))
    xv, yv, w = np.zeros((4, 2)), np.array([1, 1, 0, 0]), np.ones(4)  # every λ: 0.5
    val = {"x_val": xv, "y_val": yv, "weights_val": w}
    s = recipes.select_lam(xv, yv, xv, **val, lams=(2.0, 0.5), method="dann", workdir=str(tmp_path))
    assert (s.lam, s.index, s.iw_accuracies) == (2.0, 0, (0.5, 0.5))
    assert calls == [(lam, str(tmp_path / f"lam{lam}"), "dann") for lam in (2.0, 0.5)]
    calls.clear()
    s = recipes.select_lam(xv, yv, xv, **val, lams=(2.0, 0.5), method="source_only")
    assert s.lams == (0.0,) and calls == [(0.0, None, "source_only")]
    with pytest.raises(ValueError, match="lams"):
        recipes.select_lam(xv, yv, xv, **val, lams=())
    with pytest.raises(ValueError, match=r"weights_val.*\(4,\) and \(3,\)"):
        recipes.select_lam(xv, yv, xv, **{**val, "weights_val": np.ones(3)}, lams=(1.0,))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"method": "magic"}, "config.method"),
        ({"batch_size": 0}, "config.batch_size"),
        ({"lam": -1.0}, "config.lam"),
        ({"no_such_field": 1}, "no_such_field"),
    ],
)
def test_bad_config_raises_naming_the_field(kwargs, match):
    xs, ys, xt = _moons(0)
    with pytest.raises(ValueError, match=match):
        recipes.fit_domain_adaptation(xs, ys, xt, config=_small(), **kwargs)


def test_bad_shapes_raise_with_the_shapes():
    xs, ys, xt = _moons(0)
    with pytest.raises(ValueError, match=r"\(100, 2\).*\(99,\)"):
        recipes.fit_domain_adaptation(xs, ys[:99], xt, config=_small())
    with pytest.raises(ValueError, match="weights_source"):
        recipes.fit_domain_adaptation(xs, ys, xt, config=_small(), weights_source=np.ones(3))


def test_no_algorithm_package_imports_the_recipes():
    """recipes is the layer above: algorithms, models, train and data never import it."""
    offenders = []
    for pkg in (
        "align",
        "weighting",
        "meta",
        "lopt",
        "mtl",
        "select",
        "models",
        "data",
        "train",
        "parallel",
    ):
        for dirpath, _, files in os.walk(os.path.join(ROOT, "jtransfer", pkg)):
            for f in files:
                text = open(os.path.join(dirpath, f)).read() if f.endswith(".py") else ""
                if "jtransfer.recipes" in text or "import recipes" in text:
                    offenders.append(os.path.join(dirpath, f))
    assert not offenders, offenders

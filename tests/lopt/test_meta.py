"""Meta-gradient estimators against finite differences and known gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jtransfer import lopt

W = np.array([[1.0, 0.2, 0.0], [0.0, 0.8, 0.3], [0.1, 0.0, 0.6]])
Y = np.array([1.0, -0.5, 0.25])


@pytest.fixture
def x64():
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", False)


def _task(dtype, init_scale=1.0):
    return lopt.QuadraticTask(jnp.asarray(W, dtype), jnp.asarray(Y, dtype), init_scale)


def shift_optimizer(eta=0.1):
    """A toy learned optimizer ``u = -eta g + theta_u``: the meta-loss is quadratic in theta."""

    def init(key):
        del key
        return {"u": jnp.zeros(3)}

    def build(theta):
        def update(g, state, params=None, **extra):
            del params, extra
            return -eta * g + theta["u"].astype(g.dtype), state

        return optax.GradientTransformationExtraArgs(lambda p: optax.EmptyState(), update)

    return lopt.LearnedOptimizer(init, build, "shift")


def _central_fd(f, theta, v, h):
    plus = jax.tree.map(lambda t, d: t + h * d, theta, v)
    minus = jax.tree.map(lambda t, d: t - h * d, theta, v)
    return (f(plus) - f(minus)) / (2 * h)


def _dot(a, b):
    return sum(jnp.vdot(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


def test_tbptt_matches_finite_differences(x64):
    """TBPTT gradients of two consecutive truncations equal central differences (float64)."""
    lo = lopt.lstm_optimizer(hidden=4)
    theta = jax.tree.map(lambda x: x.astype(jnp.float64), lo.init(jax.random.key(0)))
    task = _task(jnp.float64)
    est = lopt.tbptt(lo, lambda k: task, num_steps=6, truncation_length=3, num_tasks=2)
    state = est.init(theta, key=jax.random.key(1))
    grad = jax.jit(lambda th, s, k: est.update(th, s, key=k))
    dirs = jax.random.split(jax.random.key(2), 2)
    for trunc in range(2):
        key = jax.random.key(10 + trunc)
        loss, g, new_state = grad(theta, state, key)
        assert np.isfinite(float(loss))
        for kd in dirs:
            leaves, treedef = jax.tree.flatten(theta)
            v = jax.tree.unflatten(
                treedef,
                [
                    jax.random.normal(k, x.shape, jnp.float64)
                    for k, x in zip(jax.random.split(kd, len(leaves)), leaves, strict=True)
                ],
            )
            fd = _central_fd(lambda th, s=state, k=key: grad(th, s, k)[0], theta, v, 1e-6)
            np.testing.assert_allclose(float(_dot(g, v)), float(fd), rtol=1e-6, atol=1e-9)
        state = new_state
    assert int(state.unroll.step[0]) == 6


def test_tbptt_full_truncation_equals_meta_loss_gradient_and_drop_second_order(x64):
    lo = shift_optimizer()
    theta = {"u": jnp.array([0.1, -0.2, 0.05])}
    task = _task(jnp.float64, init_scale=0.0)
    want = jax.grad(lambda th: lopt.meta_loss(lo, th, task, jax.random.key(0), num_steps=4))(theta)
    for second_order in (True, False):
        est = lopt.tbptt(
            lo,
            lambda k: task,
            num_steps=4,
            truncation_length=4,
            num_tasks=1,
            second_order=second_order,
        )
        _, g, _ = est.update(theta, est.init(theta, key=jax.random.key(0)), key=jax.random.key(1))
        if second_order:
            np.testing.assert_allclose(g["u"], want["u"], rtol=1e-10)
        else:  # dropping d(grad f)/d(theta) changes the gradient of this coupled problem
            assert not np.allclose(g["u"], want["u"], rtol=1e-3)


def _known_gradient(lo, theta, task, num_steps):
    """Central differences of the (quadratic in theta) meta-loss: exact up to rounding."""
    f = jax.jit(lambda th: lopt.meta_loss(lo, th, task, jax.random.key(0), num_steps=num_steps))
    eye = np.eye(3)
    return np.array([float(_central_fd(f, theta, {"u": jnp.asarray(e)}, 1e-3)) for e in eye])


def _mean_and_se(samples):
    samples = np.asarray(samples)
    return samples.mean(0), samples.std(0, ddof=1) / np.sqrt(samples.shape[0])


def test_es_pes_unbiased_and_pes_matches_full_unroll_es(x64):
    """On the toy, the meta-loss is quadratic in theta, so antithetic ES and PES are unbiased
    for the exact gradient. Tolerance: 4 standard errors of the Monte Carlo mean (per
    coordinate) over R independent replicates. Truncated BPTT is biased here (K=1 < T=4)."""
    lo = shift_optimizer()
    theta = {"u": jnp.array([0.1, -0.2, 0.05])}
    task = _task(jnp.float64, init_scale=0.0)
    num_steps, reps = 4, 4000
    want = _known_gradient(lo, theta, task, num_steps)

    es = lopt.es(lo, lambda k: task, num_steps=num_steps, sigma=0.1, population=1)
    es_samples = jax.jit(jax.vmap(lambda k: es.update(theta, (), key=k)[1]["u"]))(
        jax.random.split(jax.random.key(3), reps)
    )
    es_mean, es_se = _mean_and_se(es_samples)
    assert np.all(np.abs(es_mean - want) < 4 * es_se), (es_mean, want, es_se)

    pes = lopt.pes(
        lo, lambda k: task, num_steps=num_steps, truncation_length=1, sigma=0.1, population=1
    )

    def pes_over_horizon(key):
        state = pes.init(theta, key=key)
        total = jnp.zeros(3)
        for k in jax.random.split(key, num_steps):
            _, g, state = pes.update(theta, state, key=k)
            total = total + g["u"]
        return total / num_steps  # the full meta-loss is the mean of the truncation losses

    pes_samples = jax.jit(jax.vmap(pes_over_horizon))(jax.random.split(jax.random.key(4), reps))
    pes_mean, pes_se = _mean_and_se(pes_samples)
    assert np.all(np.abs(pes_mean - want) < 4 * pes_se), (pes_mean, want, pes_se)
    assert np.all(np.abs(pes_mean - es_mean) < 4 * np.hypot(pes_se, es_se))
    # A wrong normalisation (e.g. sigma instead of sigma^2) would be far outside the band.
    assert np.all(4 * pes_se < 0.5 * np.abs(want).max())

    tb = lopt.tbptt(lo, lambda k: task, num_steps=num_steps, truncation_length=1, num_tasks=1)
    state, total = tb.init(theta, key=jax.random.key(0)), np.zeros(3)
    for k in jax.random.split(jax.random.key(5), num_steps):
        _, g, state = tb.update(theta, state, key=k)
        total += np.asarray(g["u"]) / num_steps
    assert np.linalg.norm(total - want) > 0.1 * np.linalg.norm(want)  # truncation bias


@pytest.mark.parametrize("bad", [0, -3, 2.5])
def test_bad_num_steps_raise(bad):
    lo = lopt.learned_hyperparams(horizon=4)
    theta, task = lo.init(jax.random.key(0)), _task(jnp.float32)
    with pytest.raises(ValueError, match="num_steps"):
        lopt.meta_loss(lo, theta, task, jax.random.key(0), num_steps=bad)
    with pytest.raises(ValueError, match="num_steps"):
        lopt.tbptt(lo, lambda k: task, num_steps=bad, truncation_length=1)
    with pytest.raises(ValueError, match="num_steps"):
        lopt.es(lo, lambda k: task, num_steps=bad, sigma=0.1)


def test_bad_estimator_arguments_raise():
    lo = lopt.learned_hyperparams(horizon=4)
    task = _task(jnp.float32)
    with pytest.raises(ValueError, match="divide"):
        lopt.tbptt(lo, lambda k: task, num_steps=4, truncation_length=3)
    with pytest.raises(ValueError, match="sigma"):
        lopt.pes(lo, lambda k: task, num_steps=4, truncation_length=2, sigma=0.0)
    with pytest.raises(ValueError, match="population"):
        lopt.es(lo, lambda k: task, num_steps=4, sigma=0.1, population=0)
    est = lopt.tbptt(lo, lambda k: task, num_steps=4, truncation_length=2)
    with pytest.raises(ValueError, match="structure"):
        est.init({"lr": jnp.zeros(8)}, key=jax.random.key(0))
    with pytest.raises(ValueError, match="shapes"):
        lopt.meta_loss(lo, {"log_lr": jnp.zeros(3)}, task, jax.random.key(0), num_steps=2)


@pytest.mark.parametrize("name", ["tbptt", "es", "pes"])
def test_estimator_protocol_init_update_keys(name):
    """``init(theta, *, key=None)`` (None is key 0) and ``update(theta, state, *, key)``; the
    meta-gradient has theta's structure and feeds an optax optimizer of theta under jit."""
    lo = shift_optimizer()
    theta = {"u": jnp.array([0.1, -0.2, 0.05])}
    task = _task(jnp.float32)
    est = {
        "tbptt": lambda: lopt.tbptt(
            lo, lambda k: task, num_steps=4, truncation_length=2, num_tasks=2, stagger=True
        ),
        "es": lambda: lopt.es(lo, lambda k: task, num_steps=2, sigma=0.1, population=2),
        "pes": lambda: lopt.pes(
            lo,
            lambda k: task,
            num_steps=4,
            truncation_length=2,
            sigma=0.1,
            population=2,
            stagger=True,
        ),
    }[name]()
    default, explicit = est.init(theta), est.init(theta, key=jax.random.key(0))
    for a, b in zip(jax.tree.leaves(default), jax.tree.leaves(explicit), strict=True):
        if jnp.issubdtype(a.dtype, jax.dtypes.prng_key):
            a, b = jax.random.key_data(a), jax.random.key_data(b)
        np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError):
        est.update(theta, default, jax.random.key(1))  # the key is keyword-only
    outer = optax.adam(1e-2)

    @jax.jit
    def step(theta, outer_state, est_state, key):
        loss, g, est_state = est.update(theta, est_state, key=key)
        updates, outer_state = outer.update(g, outer_state, theta)
        return optax.apply_updates(theta, updates), outer_state, est_state, loss

    outer_state, est_state = outer.init(theta), default
    for i in range(2):
        theta, outer_state, est_state, loss = step(theta, outer_state, est_state, jax.random.key(i))
        assert np.isfinite(float(loss)) and theta["u"].shape == (3,)

"""optax conformance of the learned optimizers and checks against NumPy/optax references."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jtransfer import lopt

OPTIMIZERS = {
    "lstm": lambda: lopt.lstm_optimizer(hidden=4),
    "mlp": lambda: lopt.mlp_optimizer(hidden=4),
    "hyper": lambda: lopt.learned_hyperparams(horizon=10, num_knots=3),
}


def _params(dtype):
    return {
        "a": jnp.arange(6, dtype=dtype).reshape(3, 2) / 7,
        "nested": {"scalar": jnp.asarray(0.5, dtype), "v": jnp.ones((4,), dtype)},
    }


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_chain_jit_no_retrace_keeps_dtypes(name, dtype):
    lo = OPTIMIZERS[name]()
    theta = lo.init(jax.random.key(0))
    opt = optax.chain(optax.clip_by_global_norm(1.0), lo.optimizer(theta))
    params = _params(dtype)
    state = opt.init(params)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(params, state):
        grads = jax.tree.map(lambda p: (2 * p + 0.1).astype(p.dtype), params)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, updates

    state_struct = jax.tree.map(lambda x: (x.shape, x.dtype), state)
    for _ in range(3):
        new_params, state, updates = step(params, state)
        chex.assert_trees_all_equal_shapes_and_dtypes(updates, params)
        chex.assert_trees_all_equal_shapes_and_dtypes(new_params, params)
        assert jax.tree.map(lambda x: (x.shape, x.dtype), state) == state_struct
        assert all(isinstance(x, jax.Array) for x in jax.tree.leaves(state))
        assert all(
            bool(jnp.all(jnp.isfinite(u.astype(jnp.float32)))) for u in jax.tree.leaves(updates)
        )
        assert any(
            float(jnp.max(jnp.abs(u.astype(jnp.float32)))) > 0 for u in jax.tree.leaves(updates)
        )
        params = new_params
    chex.clear_trace_counter()


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_mismatched_theta_raises(name):
    lo = OPTIMIZERS[name]()
    theta = lo.init(jax.random.key(0))
    leaves, treedef = jax.tree.flatten(theta)
    with pytest.raises(ValueError, match="structure"):
        lo.optimizer({"other": leaves[0]})
    wrong = jax.tree.unflatten(treedef, [jnp.zeros((*x.shape, 2)) for x in leaves])
    with pytest.raises(ValueError, match="shapes"):
        lo.optimizer(wrong)


def test_mlp_optimizer_needs_params():
    lo = OPTIMIZERS["mlp"]()
    opt = lo.optimizer(lo.init(jax.random.key(0)))
    p = {"w": jnp.ones(3)}
    with pytest.raises(ValueError, match="params"):
        opt.update(p, opt.init(p))


@pytest.mark.parametrize(
    "factory,kwargs",
    [
        (lopt.lstm_optimizer, {"hidden": 0}),
        (lopt.lstm_optimizer, {"output_scale": -1.0}),
        (lopt.mlp_optimizer, {"decays": (1.5,)}),
        (lopt.mlp_optimizer, {"step_mult": 0.0}),
        (lopt.learned_hyperparams, {"horizon": 0}),
        (lopt.learned_hyperparams, {"horizon": 5, "init_lr": -1.0}),
    ],
)
def test_bad_hyperparameters_raise(factory, kwargs):
    with pytest.raises(ValueError):
        factory(**kwargs)


def _np_preprocess(g, k):
    out = np.zeros(g.shape + (2,))
    for i, x in np.ndenumerate(g):
        out[i] = (np.log(abs(x)) / k, np.sign(x)) if abs(x) >= np.exp(-k) else (-1.0, np.exp(k) * x)
    return out


def test_preprocess_matches_numpy():
    g = np.array([3.0, -1e-6, 0.0, -0.2, 5e-5, 1e-3])
    for k in (10.0, 5.0):
        np.testing.assert_allclose(
            lopt.preprocess_gradient(jnp.asarray(g, jnp.float32), k),
            _np_preprocess(g, k),
            rtol=1e-5,
            atol=1e-6,
        )


def _np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_lstm_update_matches_numpy_reference():
    """Two steps of a 2-layer coordinate-wise LSTM written independently in NumPy."""
    lo = lopt.lstm_optimizer(hidden=3, output_scale=0.1)
    theta = jax.tree.map(np.asarray, lo.init(jax.random.key(1)))
    opt = lo.optimizer(theta)
    grads = [np.array([0.3, -2e-5, 1.5]), np.array([-0.1, 0.02, 0.0])]
    state = opt.init(jnp.zeros(3))
    h = [np.zeros((3, 3)) for _ in range(2)]
    c = [np.zeros((3, 3)) for _ in range(2)]
    for g in grads:
        got, state = opt.update(jnp.asarray(g, jnp.float32), state)
        x = _np_preprocess(g, 10.0)
        for l, layer in enumerate(theta["layers"]):
            z = x @ layer["x"]["w"] + layer["x"]["b"] + h[l] @ layer["h"]
            i, f, o, u = np.split(z, 4, axis=1)
            c[l] = _np_sigmoid(f) * c[l] + _np_sigmoid(i) * np.tanh(u)
            h[l] = _np_sigmoid(o) * np.tanh(c[l])
            x = h[l]
        want = 0.1 * (x @ theta["out"]["w"] + theta["out"]["b"])[:, 0]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_learned_hyperparams_constant_schedule_is_adam():
    lo = lopt.learned_hyperparams(horizon=5, num_knots=4, init_lr=0.03)
    opt, ref = lo.optimizer(lo.init(jax.random.key(0))), optax.adam(0.03)
    params = {"w": jnp.array([1.0, -2.0]), "b": jnp.asarray(0.3)}
    s, r = opt.init(params), ref.init(params)
    for t in range(7):
        g = jax.tree.map(lambda p, t=t: p * (t + 1) - 0.5, params)
        u, s = opt.update(g, s, params)
        v, r = ref.update(g, r, params)
        chex.assert_trees_all_close(u, v, rtol=1e-6)
        params = optax.apply_updates(params, u)


def test_learned_hyperparams_schedule_interpolates():
    lo = lopt.learned_hyperparams(horizon=4, num_knots=2)
    theta = {"log_lr": jnp.log(jnp.array([1.0, 0.5]))}
    opt = lo.optimizer(theta)
    s = opt.init(jnp.zeros(()))
    lrs = []
    for _ in range(6):  # with a constant gradient, Adam's normalised step is 1 (up to eps)
        u, s = opt.update(jnp.asarray(1.0), s)
        lrs.append(-float(u))
    want = [0.5 ** (min(t, 4) / 4) for t in range(6)]  # log-linear between knots, then flat
    np.testing.assert_allclose(lrs, want, rtol=1e-4)


def test_lstm_chunked_state_matches_numpy_reference_and_one_chunk():
    """N = 21 coordinates in chunks of 8 (2 chunks + a tail of 5), three steps from a random
    state: the updates equal the float64 NumPy LSTM (rows = features, all N at once) and those
    of the same optimizer with one (tail-only) layout, to 1e-6."""
    hidden, n = 3, 21
    chunked = lopt.lstm_optimizer(hidden=hidden, chunk_size=8)
    whole = lopt.lstm_optimizer(hidden=hidden)  # N < chunk_size: everything in the tail
    theta = jax.tree.map(np.asarray, chunked.init(jax.random.key(2)))
    rng = np.random.default_rng(3)
    h = [0.3 * rng.normal(size=(hidden, n)) for _ in range(2)]
    c = [0.3 * rng.normal(size=(hidden, n)) for _ in range(2)]

    def layout(a, size):  # (H, N) columns -> (chunks (B, H, size), tail (H, R)); empty: None
        nb = n // size * size
        body = a[:, :nb].reshape(hidden, -1, size).transpose(1, 0, 2)
        return tuple(
            None if v.size == 0 else jnp.asarray(v, jnp.float32) for v in (body, a[:, nb:])
        )

    states = {}
    for name, size in (("chunked", 8), ("whole", 4096)):
        states[name] = type(chunked.optimizer(theta).init(jnp.zeros(n)))(
            h=tuple(layout(a, size) for a in h), c=tuple(layout(a, size) for a in c)
        )
    assert states["chunked"].h[0][0].shape == (2, hidden, 8)
    assert states["chunked"].h[0][1].shape == (hidden, 5)
    init = whole.optimizer(theta).init(jnp.zeros(n))  # no zero-size leaves (orbax saves it)
    assert init.h[0][0] is None and init.h[0][1].shape == (hidden, n)
    opts = {"chunked": chunked.optimizer(theta), "whole": whole.optimizer(theta)}
    for step in range(3):
        g = rng.normal(size=n) * 10.0 ** rng.integers(-6, 1, n)
        x = _np_preprocess(g, 10.0)
        for l, layer in enumerate(theta["layers"]):
            z = x @ layer["x"]["w"] + layer["x"]["b"] + h[l].T @ layer["h"]
            i, f, o, u = np.split(z, 4, axis=1)
            c[l] = (_np_sigmoid(f) * c[l].T + _np_sigmoid(i) * np.tanh(u)).T
            h[l] = (_np_sigmoid(o) * np.tanh(c[l].T)).T
            x = h[l].T
        want = 0.1 * (x @ theta["out"]["w"] + theta["out"]["b"])[:, 0]
        got = {}
        for name, opt in opts.items():
            got[name], states[name] = jax.jit(opt.update)(jnp.asarray(g, jnp.float32), states[name])
            np.testing.assert_allclose(got[name], want, rtol=0, atol=1e-6, err_msg=f"{name} {step}")
        np.testing.assert_allclose(got["chunked"], got["whole"], rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="coordinates"):
        opts["chunked"].update(jnp.zeros(n - 1), states["chunked"])

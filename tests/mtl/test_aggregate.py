"""Gradient aggregators against independent references (NumPy loops, SciPy QPs, definitions)."""

import itertools
import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy.optimize import minimize

from jtransfer import mtl


def _grads(seed, t, shapes=((3, 4), (5,)), dtype=np.float32, shift=0.0):
    rng = np.random.default_rng(seed)
    return {
        f"w{i}": jnp.asarray(rng.normal(size=(t,) + s) + shift, dtype) for i, s in enumerate(shapes)
    }


def _flat(tree):
    leaves = jax.tree.leaves(tree)
    t = leaves[0].shape[0]
    return np.concatenate([np.asarray(l, np.float64).reshape(t, -1) for l in leaves], axis=1)


def _tol(dtype):
    return 1e-4 if dtype == np.float32 else 1e-9


def test_gram_and_combine_match_numpy(dtype):
    g = _grads(0, 4, dtype=dtype)
    f = _flat(g)
    np.testing.assert_allclose(mtl.task_gram(g), f @ f.T, rtol=_tol(dtype), atol=_tol(dtype))
    w = jnp.asarray([0.1, 0.2, 0.3, 0.4], dtype)
    out = mtl.combine(g, w)
    np.testing.assert_allclose(
        _flat(jax.tree.map(lambda x: x[None], out))[0],
        np.asarray(w, np.float64) @ f,
        rtol=_tol(dtype),
        atol=_tol(dtype),
    )


def _pcgrad_numpy(f, orders):
    """Yu et al.'s reference loop (their code, on flat vectors)."""
    out = []
    for i in range(f.shape[0]):
        gi = f[i].copy()
        for j in orders[i]:
            d = gi @ f[j]
            if d < 0:
                gi = gi - d / (f[j] @ f[j]) * f[j]
        out.append(gi)
    return np.stack(out)


def test_pcgrad_two_tasks_removes_exactly_the_conflict(dtype):
    g1 = np.array([1.0, 1.0, 0.0])
    g2 = np.array([-1.0, 0.5, 2.0])  # g1.g2 = -0.5 < 0
    g = {"w": jnp.asarray(np.stack([g1, g2]), dtype)}
    proj = np.asarray(jax.jit(mtl.pcgrad_project)(g, key=jax.random.key(0))["w"], np.float64)
    exp1 = g1 - (g1 @ g2) / (g2 @ g2) * g2
    exp2 = g2 - (g1 @ g2) / (g1 @ g1) * g1
    np.testing.assert_allclose(proj, np.stack([exp1, exp2]), rtol=_tol(dtype), atol=_tol(dtype))
    # conflicting components gone: each projected gradient is orthogonal to the other original
    assert abs(proj[0] @ g2) < 10 * _tol(dtype) and abs(proj[1] @ g1) < 10 * _tol(dtype)
    # non-conflicting gradients are left untouched
    g = {"w": jnp.asarray(np.stack([g1, np.array([1.0, 0.0, 3.0])]), dtype)}
    np.testing.assert_allclose(jax.jit(mtl.pcgrad_project)(g, key=jax.random.key(0))["w"], g["w"])


@pytest.mark.parametrize("t", [5])
def test_pcgrad_matches_reference_loop(t, dtype):
    g = _grads(t, t, dtype=dtype)
    key = jax.random.key(7)
    orders = np.asarray(jax.vmap(lambda k: jax.random.permutation(k, t))(jax.random.split(key, t)))
    ref = _pcgrad_numpy(_flat(g), orders)
    got = _flat(jax.jit(mtl.pcgrad_project)(g, key=key))
    np.testing.assert_allclose(
        got,
        ref,
        rtol=1e-4 if dtype == np.float32 else 1e-10,
        atol=1e-4 if dtype == np.float32 else 1e-10,
    )
    f = _flat(g)
    agg = mtl.pcgrad(key=jax.random.key(3))
    upd, _ = jax.jit(agg.update)(g, agg.init(None))
    orders = np.asarray(
        jax.vmap(lambda k: jax.random.permutation(k, t))(
            jax.random.split(jax.random.split(jax.random.key(3))[1], t)
        )
    )
    np.testing.assert_allclose(
        _flat(jax.tree.map(lambda x: x[None], upd))[0],
        _pcgrad_numpy(f, orders).mean(0),
        rtol=1e-4,
        atol=1e-4,
    )


def _scipy_min_norm(gram):
    t = gram.shape[0]
    res = minimize(
        lambda w: w @ gram @ w,
        np.full(t, 1.0 / t),
        jac=lambda w: 2 * gram @ w,
        bounds=[(0, 1)] * t,
        method="SLSQP",
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}],
        options={"ftol": 1e-13, "maxiter": 1000},
    )
    w = res.x
    # KKT of the QP: (G w)_r >= w'Gw for all r, with equality on the support
    gw = gram @ w
    assert np.all(gw >= w @ gw - 1e-6 * np.abs(gram).max()), res
    return w


def _exact_min_norm(gram):
    """Exact simplex QP by enumerating supports: KKT solve on each, keep the one satisfying KKT."""
    t = gram.shape[0]
    for r in range(1, t + 1):
        for support in itertools.combinations(range(t), r):
            s = list(support)
            kkt = np.zeros((r + 1, r + 1))
            kkt[:r, :r], kkt[:r, r], kkt[r, :r] = gram[np.ix_(s, s)], -1.0, 1.0
            try:
                sol = np.linalg.solve(kkt, np.eye(r + 1)[r])
            except np.linalg.LinAlgError:
                continue
            w = np.zeros(t)
            w[s] = sol[:r]
            # primal feasible and (G w)_i >= lambda for every i: the (unique) minimiser
            if w.min() >= 0 and np.all(gram @ w >= sol[r] - 1e-12 * np.abs(gram).max()):
                return w
    raise AssertionError("no support satisfies the KKT conditions")


@pytest.mark.parametrize("t,p,shift", [(2, 7, 0.0), (8, 6, 0.0), (12, 40, 0.5)])
def test_mgda_weights_equal_scipy_qp(t, p, shift, dtype):
    g = _grads(t * 11 + p, t, shapes=((p,),), dtype=dtype, shift=shift)
    gram = np.asarray(mtl.task_gram(g), np.float64)
    w = np.asarray(jax.jit(lambda g: mtl.min_norm_weights(mtl.task_gram(g)))(g), np.float64)
    ref = _scipy_min_norm(gram)
    exact = _exact_min_norm(gram)
    np.testing.assert_allclose(ref, exact, atol=1e-7)  # the two references agree
    assert np.all(w >= 0) and abs(w.sum() - 1) < (1e-6 if dtype == np.float32 else 1e-14)
    # float32: the Gram matrix itself is rounded at ~1e-7; float64: exact to rounding
    np.testing.assert_allclose(w, exact, atol=1e-5 if dtype == np.float32 else 1e-12)
    np.testing.assert_allclose(w, ref, atol=1e-5 if dtype == np.float32 else 5e-8)
    np.testing.assert_allclose(
        w @ gram @ w, exact @ gram @ exact, rtol=1e-6 if dtype == np.float32 else 1e-13
    )


def test_mgda_weights_are_continuous_in_the_gram_matrix():
    """Last-bit changes of G (as from another device layout) move the weights by ~eps, not by
    the ~1e-2 of a Frank–Wolfe iterate stopped at its tolerance."""
    # ill-conditioned (cond(G) ~ 7e3) with 6 of 8 tasks in the support: here Frank–Wolfe alone
    # stops ~1e-2 from the minimiser after its 250 steps
    rng = np.random.default_rng(3)
    f = (rng.normal(size=(8, 12)) + 0.5) * np.logspace(0, -1.5, 12)
    gram = mtl.task_gram({"w": jnp.asarray(f, jnp.float32)})
    bump = 1.0 + 2e-7 * jax.random.normal(jax.random.key(0), gram.shape)
    bumped = gram * (bump + bump.T) / 2
    solve = jax.jit(mtl.min_norm_weights)
    w, wb = np.asarray(solve(gram)), np.asarray(solve(bumped))
    np.testing.assert_allclose(w, wb, atol=2e-5)
    np.testing.assert_allclose(w, _exact_min_norm(np.asarray(gram, np.float64)), atol=1e-5)


def test_mgda_weights_at_a_pareto_stationary_point(dtype):
    """Origin inside the hull (6 gradients in 3 dimensions): α is not unique, ‖Σ α_t g_t‖ = 0."""
    f = np.random.default_rng(0).normal(size=(6, 3))
    f[1] = -f[0]  # two opposed gradients put the origin on the hull
    gram = mtl.task_gram({"w": jnp.asarray(f, dtype)})
    w = np.asarray(jax.jit(mtl.min_norm_weights)(gram), np.float64)
    assert np.all(w >= 0) and abs(w.sum() - 1) < 1e-6
    assert np.linalg.norm(w @ f) < (1e-3 if dtype == np.float32 else 1e-7)


def test_mgda_aggregate_is_common_descent_direction():
    g = _grads(1, 4, shapes=((9,),), shift=0.4)
    agg = mtl.mgda()
    d, _ = jax.jit(agg.update)(g, agg.init(None))
    # the min-norm point d satisfies g_t . d >= ||d||^2 for every t (KKT of the QP)
    f = _flat(g)
    dv = np.asarray(d["w0"], np.float64)
    assert np.all(f @ dv >= dv @ dv - 1e-4)


def _cagrad_scipy(gram, c):
    t = gram.shape[0]
    mean = np.full(t, 1.0 / t)
    phi = c**2 * mean @ gram @ mean

    def obj(w):
        return w @ gram @ mean + np.sqrt(phi) * np.sqrt(w @ gram @ w + 1e-12)

    res = minimize(
        obj,
        mean,
        bounds=[(0, 1)] * t,
        method="SLSQP",
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}],
        options={"ftol": 1e-14, "maxiter": 1000},
    )
    w = res.x
    lam = np.sqrt(phi) / np.sqrt(w @ gram @ w)
    return (mean + lam * w) / (1 + c**2), obj(w)


def test_cagrad_c0_is_average(dtype):
    g = _grads(2, 5, dtype=dtype)
    agg = mtl.cagrad(c=0.0)
    d, _ = agg.update(g, agg.init(None))
    mean = jax.tree.map(lambda x: jnp.mean(x, 0), g)
    chex.assert_trees_all_close(d, mean, rtol=_tol(dtype), atol=_tol(dtype))


@pytest.mark.parametrize("t,c", [(2, 0.5), (6, 0.8)])
def test_cagrad_matches_scipy(t, c):
    g = _grads(5 + t, t, shapes=((12,),), shift=0.2)
    gram = np.asarray(mtl.task_gram(g), np.float64)
    beta = np.asarray(
        jax.jit(lambda g: mtl.cagrad_weights(mtl.task_gram(g), c, num_steps=400))(g), np.float64
    )
    ref, _ = _cagrad_scipy(gram, c)
    f = _flat(g)
    # compare the update directions (weights of a singular Gram need not be unique)
    np.testing.assert_allclose(beta @ f, ref @ f, rtol=0, atol=3e-3 * np.linalg.norm(ref @ f))


@pytest.mark.parametrize("t", [2, 7])
def test_imtl_g_equal_projections(t, dtype):
    g = _grads(t + 100, t, shapes=((15,),), dtype=dtype, shift=0.2)
    w = jax.jit(lambda g: mtl.imtl_g_weights(mtl.task_gram(g)))(g)
    f = _flat(g)
    d = np.asarray(w, np.float64) @ f
    proj = f @ d / np.linalg.norm(f, axis=1)
    np.testing.assert_allclose(
        proj, np.full(t, proj[0]), rtol=1e-3 if dtype == np.float32 else 1e-9
    )
    assert abs(float(np.sum(w)) - 1) < 1e-5


def test_per_task_grads_vmap_equals_loop(dtype):
    rng = np.random.default_rng(0)
    params = {
        "w": jnp.asarray(rng.normal(size=(4, 2)), dtype),
        "b": jnp.asarray(rng.normal(size=(2,)), dtype),
    }
    x = jnp.asarray(rng.normal(size=(3, 6, 4)), dtype)
    y = jnp.asarray(rng.normal(size=(3, 6, 2)), dtype)

    def loss(p, batch):
        xb, yb = batch
        return jnp.mean((jnp.tanh(xb @ p["w"] + p["b"][None]) - yb) ** 2)

    got = jax.jit(lambda p, b: mtl.per_task_grads(loss, p, b))(params, (x, y))
    for t in range(3):
        ref = jax.grad(loss)(params, (x[t], y[t]))
        chex.assert_trees_all_close(
            jax.tree.map(lambda a, t=t: a[t], got), ref, rtol=_tol(dtype), atol=_tol(dtype)
        )
    # and via jacrev of the vector of task losses
    jac = jax.jacrev(lambda p: jax.vmap(loss, in_axes=(None, 0))(p, (x, y)))(params)
    chex.assert_trees_all_close(jac, got, rtol=_tol(dtype), atol=_tol(dtype))


AGGREGATORS = [
    ("equal", mtl.equal_aggregate),
    ("pcgrad", mtl.pcgrad),
    ("mgda", mtl.mgda),
    ("cagrad", lambda: mtl.cagrad(0.4)),
    ("imtl_g", mtl.imtl_g),
]


@pytest.mark.parametrize("name,factory", AGGREGATORS)
def test_aggregators_jit_without_recompiling(name, factory):
    chex.clear_trace_counter()
    agg = factory()
    params = jax.tree.map(lambda x: x[0], _grads(0, 3))

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(task_grads, state):
        return agg.update(task_grads, state, params)

    state = agg.init(params)
    for seed in range(3):
        upd, state = step(_grads(seed, 3), state)
        chex.assert_trees_all_equal_shapes(upd, params)
        assert all(np.all(np.isfinite(l)) for l in jax.tree.leaves(upd))


@pytest.mark.parametrize("name,factory", AGGREGATORS)
def test_aggregators_reject_bad_trees(name, factory):
    agg = factory()
    params = jax.tree.map(lambda x: x[0], _grads(0, 3))
    bad_t = {"w0": jnp.zeros((3, 3, 4)), "w1": jnp.zeros((2, 5))}
    with pytest.raises(ValueError, match="number of tasks"):
        agg.update(bad_t, agg.init(params))
    with pytest.raises(ValueError, match="structure"):
        agg.update({"w0": jnp.zeros((3, 3, 4))}, agg.init(params), params)
    with pytest.raises(ValueError, match="shape"):
        agg.update({"w0": jnp.zeros((3, 4, 3)), "w1": jnp.zeros((3, 5))}, agg.init(params), params)


def test_bad_hyperparameters():
    with pytest.raises(ValueError, match="c must"):
        mtl.cagrad(c=-1.0)
    with pytest.raises(ValueError, match="reduction"):
        mtl.pcgrad(reduction="max")


def test_mgda_ub_weights_on_representation():
    rng = np.random.default_rng(0)
    z = jnp.asarray(rng.normal(size=(8, 5)), jnp.float32)
    heads = jnp.asarray(rng.normal(size=(3, 5)), jnp.float32)
    y = jnp.asarray(rng.normal(size=(3, 8)), jnp.float32)

    def losses(z):
        return jnp.mean((jnp.einsum("nd,td->tn", z, heads) - y) ** 2, axis=1)

    w = jax.jit(lambda z: mtl.mgda_ub_weights(losses, z))(z)
    jac = jax.jacrev(losses)(z).reshape(3, -1)
    gram = np.asarray(jac @ jac.T, np.float64)
    np.testing.assert_allclose(w, _scipy_min_norm(gram), atol=1e-4)


# ---------------------------------------------------------------------------------------------
# The optax protocol: aggregators are GradientTransformationExtraArgs over stacked gradients

_FIXTURE = os.path.join(os.path.dirname(__file__), "data", "aggregators_v0_1.json")


def _load_fixture() -> dict:
    """The committed reference arrays (JSON: dtype, shape, values; float32 round-trips)."""
    import json

    with open(_FIXTURE) as f:
        raw = json.load(f)
    return {k: np.asarray(v["data"], v["dtype"]).reshape(v["shape"]) for k, v in raw.items()}


@pytest.mark.parametrize("name,factory", AGGREGATORS)
def test_aggregators_chain_with_sgd_reproduce_pre_optax_outputs(name, factory):
    """``optax.chain(aggregator, sgd(lr))`` steps by ``-lr`` times the direction the
    jtransfer 0.1 ``Aggregator`` returned on the same inputs (committed fixture, two calls so
    PCGrad's key advance is covered), under ``jit``, and ``apply_updates`` takes the result."""
    ref = _load_fixture()
    lr = 0.1
    inputs = [{k: jnp.asarray(ref[f"in{i}_{k}"]) for k in ("a", "b")} for i in range(2)]
    params = jax.tree.map(lambda x: jnp.zeros(x.shape[1:]), inputs[0])
    opt = optax.chain(factory(), optax.sgd(lr))
    assert isinstance(factory(), optax.GradientTransformationExtraArgs)
    step = jax.jit(opt.update)
    state = opt.init(params)
    for i, g in enumerate(inputs):
        updates, state = step(g, state, params)
        for k in ("a", "b"):
            np.testing.assert_allclose(
                updates[k], -lr * ref[f"{name}{i}_{k}"], rtol=2e-6, atol=1e-7
            )
        new = optax.apply_updates(params, updates)
        chex.assert_trees_all_close(new, jax.tree.map(lambda p, u: p + u, params, updates))


def test_chained_aggregator_trains_to_a_common_descent_point():
    """``chain(mgda(), adam)`` on two conflicting quadratics decreases both losses at first and
    ends on the Pareto segment between the two minima (closed form: the segment [a, b])."""
    a, b = jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0])

    def losses(p):
        return jnp.stack([jnp.sum((p["w"] - a) ** 2), jnp.sum((p["w"] - b) ** 2)])

    opt = optax.chain(mtl.mgda(), optax.sgd(0.1))
    params = {"w": jnp.array([2.0, 2.0])}
    state = opt.init(params)

    @jax.jit
    def step(params, state):
        updates, state = opt.update(jax.jacrev(losses)(params), state, params)
        return optax.apply_updates(params, updates), state

    first = losses(params)
    params, state = step(params, state)
    assert np.all(np.asarray(losses(params)) < np.asarray(first))
    for _ in range(200):
        params, state = step(params, state)
    w = np.asarray(params["w"])
    np.testing.assert_allclose(w.sum(), 1.0, atol=1e-4)  # on the line through a and b
    assert np.all(w >= -1e-4) and np.all(w <= 1 + 1e-4)  # between them


def test_pcgrad_key_is_keyword_only_and_defaults_to_key_zero():
    g = _grads(3, 4)
    explicit = mtl.pcgrad(key=jax.random.key(0))
    default = mtl.pcgrad()
    d1, _ = explicit.update(g, explicit.init(None))
    d2, _ = default.update(g, default.init(None))
    chex.assert_trees_all_equal(d1, d2)
    with pytest.raises(TypeError):
        mtl.pcgrad(jax.random.key(0))  # the key is keyword-only

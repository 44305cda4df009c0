"""Tests of jtransfer.meta against independent references.

References: central finite differences in float64 (second-order meta-gradient), Python loops of
hand-written gradient steps (no scan, no vmap), the closed-form implicit gradient of a
quadratic inner problem, and Reptile's update formula.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jtransfer import meta, ops

DTYPES = [jnp.float32, jnp.float64]
TOL = {jnp.float32: 2e-5, jnp.float64: 1e-10}


@pytest.fixture(params=DTYPES, ids=["f32", "f64"])
def dtype(request):
    with jax.enable_x64(request.param == jnp.float64):
        yield request.param


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def mlp(params, x):
    h = jnp.tanh(x @ params["w1"] + params["b1"][None, :])
    return h @ params["w2"] + params["b2"][None, :]


def mse(params, batch):
    x, y = batch
    return jnp.mean((mlp(params, x) - y) ** 2)


def make_params(dtype, hidden=6, seed=0):
    r = np.random.default_rng(seed)
    return {
        "w1": jnp.asarray(r.normal(size=(1, hidden)), dtype),
        "b1": jnp.asarray(r.normal(size=(hidden,)) * 0.5, dtype),
        "w2": jnp.asarray(r.normal(size=(hidden, 1)) / np.sqrt(hidden), dtype),
        "b2": jnp.asarray(np.zeros(1), dtype),
    }


def make_tasks(dtype, num_tasks=3, k=5, seed=1):
    r = np.random.default_rng(seed)
    amp = r.uniform(0.5, 2.0, size=(num_tasks, 1, 1))
    ph = r.uniform(0, np.pi, size=(num_tasks, 1, 1))

    def batch():
        x = r.uniform(-2, 2, size=(num_tasks, k, 1))
        return jnp.asarray(x, dtype), jnp.asarray(amp * np.sin(x + ph), dtype)

    return batch(), batch()


def manual_adapt(params, support, rates):
    """Reference inner loop: a Python loop of explicit gradient steps (no scan)."""
    for lr in rates:
        g = jax.grad(mse)(params, support)
        params = jax.tree.map(lambda p, gi, lr=lr: p - lr * gi, params, g)
    return params


def manual_meta_loss(params, tasks, rates):
    """Reference meta-loss: a Python loop over tasks (no vmap)."""
    (xs, ys), (xq, yq) = tasks
    losses = [
        mse(manual_adapt(params, (xs[i], ys[i]), rates), (xq[i], yq[i])) for i in range(xs.shape[0])
    ]
    return sum(losses) / len(losses)


def jgrad(f):
    return jax.jit(jax.grad(f))


def tree_vec(t):
    return np.concatenate([np.ravel(np.asarray(x)) for x in jax.tree.leaves(t)])


def assert_close(a, b, tol):
    np.testing.assert_allclose(tree_vec(a), tree_vec(b), rtol=tol, atol=tol)


# ------------------------------------------------------------------------ MAML gradients


def test_second_order_meta_gradient_matches_finite_differences(x64):
    params, tasks = make_params(jnp.float64), make_tasks(jnp.float64)
    f = jax.jit(lambda p: meta.maml_loss(mse, p, tasks, inner_lr=0.3, num_steps=2))
    grad = jgrad(f)(params)
    r = np.random.default_rng(3)
    eps = 1e-6
    for _ in range(3):
        v = jax.tree.map(lambda p: jnp.asarray(r.normal(size=p.shape)), params)
        plus = jax.tree.map(lambda p, d: p + eps * d, params, v)
        minus = jax.tree.map(lambda p, d: p - eps * d, params, v)
        fd = (f(plus) - f(minus)) / (2 * eps)
        np.testing.assert_allclose(tree_vec(grad) @ tree_vec(v), fd, rtol=1e-7, atol=1e-9)


def test_first_order_equals_query_gradient_at_adapted_params(dtype):
    params, tasks = make_params(dtype), make_tasks(dtype)
    (xs, ys), (xq, yq) = tasks
    g_fo = jgrad(
        lambda p: meta.maml_loss(mse, p, tasks, inner_lr=0.3, num_steps=2, first_order=True)
    )(params)

    @jax.jit
    def ref_fn(params):
        g = [
            jax.grad(mse)(manual_adapt(params, (xs[i], ys[i]), [0.3, 0.3]), (xq[i], yq[i]))
            for i in range(3)
        ]
        return jax.tree.map(lambda *gi: sum(gi) / len(gi), *g)

    ref = ref_fn(params)
    assert_close(g_fo, ref, 10 * TOL[dtype])
    # The Hessian term matters here: the second-order gradient is measurably different.
    g_so = jgrad(lambda p: meta.maml_loss(mse, p, tasks, inner_lr=0.3, num_steps=2))(params)
    diff = np.linalg.norm(tree_vec(g_so) - tree_vec(g_fo)) / np.linalg.norm(tree_vec(g_so))
    assert diff > 1e-2


def test_vmap_over_tasks_equals_python_loop_with_per_step_rates(dtype):
    params, tasks = make_params(dtype), make_tasks(dtype)
    rates = [0.3, 0.1, 0.05]
    f = lambda p: meta.maml_loss(mse, p, tasks, inner_lr=jnp.asarray(rates, dtype), num_steps=3)
    ref = lambda p: manual_meta_loss(p, tasks, rates)
    v, g = jax.jit(jax.value_and_grad(f))(params)
    v_ref, g_ref = jax.jit(jax.value_and_grad(ref))(params)
    np.testing.assert_allclose(v, v_ref, rtol=TOL[dtype])
    assert_close(g, g_ref, 10 * TOL[dtype])


def test_remat_and_task_batching_give_same_gradients(dtype):
    params, tasks = make_params(dtype), make_tasks(dtype)
    g = [
        jgrad(
            lambda p, r=r, b=b: meta.maml_loss(
                mse, p, tasks, inner_lr=0.2, num_steps=4, remat=r, task_batch_size=b
            )
        )(params)
        for r, b in ((False, None), (True, None), (False, 2))
    ]
    assert_close(g[0], g[1], TOL[dtype])
    assert_close(g[0], g[2], TOL[dtype])  # lax.map over tasks, 2 at a time (3 = 2 + 1)
    per_task = jax.jit(lambda p: meta.query_losses(mse, p, tasks, inner_lr=0.2, num_steps=4))
    assert per_task(params).shape == (3,)


def _np_conv_nchw(x, w, strides, pads, dil):
    """Direct-loop NumPy convolution (NCHW input, OIHW kernel): the independent reference."""
    x = np.pad(x, [(0, 0), (0, 0), *pads])
    n, _, h, wd = x.shape
    o, _, kh, kw = w.shape
    oh = (h - (kh - 1) * dil[0] - 1) // strides[0] + 1
    ow = (wd - (kw - 1) * dil[1] - 1) // strides[1] + 1
    out = np.zeros((n, o, oh, ow))
    for i in range(oh):
        for j in range(ow):
            for a in range(kh):
                for b in range(kw):
                    patch = x[:, :, i * strides[0] + a * dil[0], j * strides[1] + b * dil[1]]
                    out[:, :, i, j] += patch @ w[:, :, a, b].T
    return out


def _cnn(params, x):
    """conv (stride 2, dilated, NCHW) → ReLU → 2×2 max-pool → conv (NHWC) → mean → linear."""
    h = jax.lax.conv_general_dilated(
        x,
        params["k1"],
        (2, 1),
        ((1, 2), (1, 1)),
        rhs_dilation=(1, 2),
        dimension_numbers=("NCHW", "OIHW", "NHWC"),
    )
    h = jax.nn.relu(h + params["b1"][None, None, None])
    h = jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
    h = jax.lax.conv_general_dilated(
        h, params["k2"], (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    return jnp.tanh(h).mean((1, 2)) @ params["w"]


def test_matmul_ops_matches_native_ops_to_second_order(dtype):
    r = np.random.default_rng(0)
    x = r.normal(size=(2, 3, 9, 8))
    k1 = r.normal(size=(4, 3, 3, 2)) / 3
    np.testing.assert_allclose(
        ops.matmul_ops(jax.lax.conv_general_dilated)(
            jnp.asarray(x, dtype),
            jnp.asarray(k1, dtype),
            window_strides=(2, 1),
            padding=((1, 2), (1, 1)),
            rhs_dilation=(1, 2),
        ),
        _np_conv_nchw(x, k1, (2, 1), ((1, 2), (1, 1)), (1, 2)),
        rtol=50 * TOL[dtype],
        atol=50 * TOL[dtype],
    )
    params = {
        "k1": jnp.asarray(k1, dtype),
        "b1": jnp.asarray(r.normal(size=4), dtype),
        "k2": jnp.asarray(r.normal(size=(3, 3, 4, 5)) / 6, dtype),
        "w": jnp.asarray(r.normal(size=(5, 2)), dtype),
    }
    xs = jnp.asarray(r.normal(size=(3, 2, 3, 9, 8)), dtype)  # 3 tasks
    ys = jnp.asarray(r.normal(size=(3, 2, 2)), dtype)

    def loss(p, batch):
        return jnp.mean((_cnn(p, batch[0]) - batch[1]) ** 2)

    tasks = ((xs, ys), (xs[::-1], ys))
    # Per-task weights vmapped (batched matmuls) in float32, mapped one task at a time in f64.
    tbs = None if dtype == jnp.float32 else 1
    f = lambda p, fn: meta.maml_loss(fn, p, tasks, inner_lr=0.3, num_steps=2, task_batch_size=tbs)
    v, g = jax.jit(jax.value_and_grad(f), static_argnums=1)(params, loss)
    v2, g2 = jax.jit(jax.value_and_grad(f), static_argnums=1)(params, ops.matmul_ops(loss))
    np.testing.assert_allclose(v2, v, rtol=10 * TOL[dtype])
    assert_close(g2, g, 20 * TOL[dtype])
    jaxpr = jax.make_jaxpr(ops.matmul_ops(loss))(params, (xs[0], ys[0]))
    names = {e.primitive.name for e in jaxpr.jaxpr.eqns}
    assert not names & {"conv_general_dilated", "reduce_window_max"}
    with pytest.raises(ValueError, match="callable"):
        ops.matmul_ops(3)


def test_metasgd_with_equal_rates_equals_maml(dtype):
    params, tasks = make_params(dtype), make_tasks(dtype)
    lrs = meta.metasgd_init(params, 0.25)
    v1, (gp, glr) = jax.jit(
        jax.value_and_grad(lambda p, a: meta.metasgd(mse, p, a, tasks, num_steps=2), argnums=(0, 1))
    )(params, lrs)
    v2, g2 = jax.jit(
        jax.value_and_grad(lambda p: meta.maml_loss(mse, p, tasks, inner_lr=0.25, num_steps=2))
    )(params)
    np.testing.assert_allclose(v1, v2, rtol=TOL[dtype])
    assert_close(gp, g2, 10 * TOL[dtype])
    assert jax.tree.map(jnp.shape, glr) == jax.tree.map(jnp.shape, params)
    assert np.all(np.isfinite(tree_vec(glr))) and np.any(tree_vec(glr) != 0)


def test_metasgd_rate_gradient_matches_finite_differences(x64):
    params, tasks = make_params(jnp.float64), make_tasks(jnp.float64)
    lrs = meta.metasgd_init(params, 0.2)
    f = jax.jit(lambda a: meta.metasgd(mse, params, a, tasks, num_steps=1))
    g = jgrad(f)(lrs)
    eps = 1e-6
    bump = lambda s: jax.tree.map(lambda a: a.at[0].add(s), lrs)
    fd = (f(bump(eps)) - f(bump(-eps))) / (2 * eps)
    np.testing.assert_allclose(
        sum(
            np.asarray(x)[0].sum() if x.ndim == 1 else np.asarray(x)[0].sum()
            for x in jax.tree.leaves(g)
        ),
        fd,
        rtol=1e-6,
    )


def test_anil_mask_leaves_body_unchanged(dtype):
    params, tasks = make_params(dtype), make_tasks(dtype)
    (xs, ys), _ = tasks
    mask = {"w1": False, "b1": False, "w2": True, "b2": True}
    label_fn = lambda path, _: str(path[0].key) in ("w2", "b2")
    for m in (mask, label_fn):
        phi = meta.adapt(mse, params, (xs[0], ys[0]), inner_lr=0.3, num_steps=3, mask=m)
        np.testing.assert_array_equal(phi["w1"], params["w1"])
        np.testing.assert_array_equal(phi["b1"], params["b1"])
        assert not np.allclose(phi["w2"], params["w2"])
    # The head's adaptation equals plain gradient descent on the head only.
    head_loss = lambda h, b: mse({**params, **h}, b)
    h = {"w2": params["w2"], "b2": params["b2"]}
    for _ in range(3):
        h = jax.tree.map(lambda p, g: p - 0.3 * g, h, jax.grad(head_loss)(h, (xs[0], ys[0])))
    assert_close({"b2": phi["b2"], "w2": phi["w2"]}, h, 10 * TOL[dtype])
    a = meta.anil(mse, params, tasks, inner_mask=label_fn, inner_lr=0.3, num_steps=3)
    b = meta.maml_loss(mse, params, tasks, inner_lr=0.3, num_steps=3, mask=mask)
    np.testing.assert_allclose(a, b, rtol=TOL[dtype])


# ------------------------------------------------------------------------ Reptile


def test_reptile_update_equals_formula(dtype):
    params, ((xs, ys), _) = make_params(dtype), make_tasks(dtype)
    phi_bar = meta.reptile_adapted(mse, params, (xs, ys), inner_lr=0.1, num_steps=4)
    ref_phis = jax.jit(lambda p: [manual_adapt(p, (xs[i], ys[i]), [0.1] * 4) for i in range(3)])(
        params
    )
    ref_bar = jax.tree.map(lambda *p: sum(p) / 3, *ref_phis)
    assert_close(phi_bar, ref_bar, 10 * TOL[dtype])
    tx = meta.reptile(optax.linear_schedule(0.5, 0.1, 4))
    state = tx.init(params)
    theta = params
    for t in range(2):
        upd, state = tx.update(phi_bar, state, theta)
        new = optax.apply_updates(theta, upd)
        eps = 0.5 - 0.1 * t
        # optax schedules evaluate in float32, hence the 1e-7 floor.
        assert_close(
            new,
            jax.tree.map(lambda th, ph, e=eps: th + e * (ph - th), theta, phi_bar),
            max(TOL[dtype], 1e-7),
        )
        theta = new


# ------------------------------------------------------------------------ iMAML


def test_imaml_gradient_equals_closed_form_on_quadratic(x64):
    """Inner loss 1/2 phi'A phi - b'phi; outer 1/2|phi - c|^2 (as A=I, b=c).

    phi* = (A + lam I)^{-1}(b + lam theta) and dL/dtheta = (I + A/lam)^{-1}(phi* - c).
    """
    d, num_tasks, lam = 4, 2, 0.7
    r = np.random.default_rng(0)
    a_list = []
    for _ in range(num_tasks):
        q, _ = np.linalg.qr(r.normal(size=(d, d)))
        a_list.append(q @ np.diag(r.uniform(0.5, 2.0, d)) @ q.T)
    a_mat, b = np.stack(a_list), r.normal(size=(num_tasks, d))
    c = r.normal(size=(num_tasks, d))
    theta = r.normal(size=d)

    def quad(phi, batch):
        return 0.5 * phi @ batch["A"] @ phi - batch["b"] @ phi

    eye = np.broadcast_to(np.eye(d), (num_tasks, d, d))
    tasks = (
        {"A": jnp.asarray(a_mat), "b": jnp.asarray(b)},
        {"A": jnp.asarray(eye), "b": jnp.asarray(c)},
    )
    f = jax.jit(
        lambda th: meta.imaml(
            quad, th, tasks, lam=lam, inner_lr=0.3, num_steps=300, cg_maxiter=50, cg_tol=1e-12
        )
    )
    g = jgrad(f)(jnp.asarray(theta))
    ref = np.zeros(d)
    for i in range(num_tasks):
        phi = np.linalg.solve(a_mat[i] + lam * np.eye(d), b[i] + lam * theta)
        ref += np.linalg.solve(np.eye(d) + a_mat[i] / lam, phi - c[i]) / num_tasks
    np.testing.assert_allclose(g, ref, rtol=1e-8, atol=1e-10)
    # It is not the first-order approximation (phi* - c averaged).
    fo = np.mean(
        [
            np.linalg.solve(a_mat[i] + lam * np.eye(d), b[i] + lam * theta) - c[i]
            for i in range(num_tasks)
        ],
        axis=0,
    )
    assert np.linalg.norm(fo - ref) > 1e-2


# ------------------------------------------------------------------------ compilation


def test_second_call_with_same_shapes_does_not_retrace():
    params, tasks = make_params(jnp.float32), make_tasks(jnp.float32)
    opt = optax.adam(1e-3)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(p, s, t):
        loss, g = jax.value_and_grad(meta.maml_loss, argnums=1)(
            mse, p, t, inner_lr=0.1, num_steps=2, remat=True
        )
        u, s = opt.update(g, s, p)
        return optax.apply_updates(p, u), s, loss

    s = opt.init(params)
    params, s, _ = step(params, s, tasks)
    params, s, _ = step(params, s, make_tasks(jnp.float32, seed=7))
    chex.clear_trace_counter()

# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Multi-task learning: sharing as a prior, and how to combine task gradients
#
# This notebook derives the pieces of `jtransfer.mtl` and checks each with a few lines of
# code:
#
# 1. hard and soft parameter sharing as MAP estimates under one hierarchical Gaussian prior;
# 2. why a *learned* sharing strength needs the prior's log-normaliser, and why the sound
#    estimator is the marginal likelihood (empirical Bayes), not joint MAP;
# 3. PCGrad's projection;
# 4. MGDA's min-norm problem and its dual.

# %%
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jtransfer import mtl

jax.config.update("jax_enable_x64", True)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Hard and soft sharing are MAP under a hierarchical prior
#
# Task $t$ has parameters $\theta_t$ and data $D_t$. Tie the tasks with
#
# $$\theta_t \mid \theta_0, \sigma_t \sim \mathcal N(\theta_0, \sigma_t^2 I_D).$$
#
# The negative log posterior of $(\{\theta_t\}, \theta_0)$ for *fixed* $\sigma_t$ is
#
# $$\sum_t \Big[ L_t(\theta_t) + \frac{1}{2\sigma_t^2}\|\theta_t - \theta_0\|^2 \Big]
#   + \text{const},$$
#
# i.e. soft sharing with strength $\lambda_t = 1/\sigma_t^2$
# (`mtl.soft_sharing_penalty`). The two limits:
#
# * $\sigma_t \to \infty$ ($\lambda_t = 0$): the penalty vanishes, tasks are learned
#   independently;
# * $\sigma_t \to 0$ ($\lambda_t \to \infty$): any $\theta_t \ne \theta_0$ costs infinitely
#   much, so $\theta_t = \theta_0$ for all $t$: **hard sharing** of the whole parameter vector
#   (for a network, share the trunk this way and give the heads $\sigma = \infty$).
#
# For linear-Gaussian tasks $y_t = X_t\theta_t + \varepsilon$, $\varepsilon \sim
# \mathcal N(0, s^2 I)$, the MAP $\theta_t$ given $\theta_0$ is ridge regression *toward*
# $\theta_0$: $\hat\theta_t = \theta_0 + (X_t^\top X_t/s^2 + I/\sigma_t^2)^{-1}
# X_t^\top(y_t - X_t\theta_0)/s^2$ (`mtl.linear_posterior_mean`). Watch the path from
# independent least squares to the shared centre as $\sigma$ shrinks.

# %%
d, sizes = 3, (15, 12, 20)
theta0_true = rng.normal(size=d)
thetas_true = theta0_true + 0.5 * rng.normal(size=(3, d))
n = max(sizes)
x = np.zeros((3, n, d))
y = np.zeros((3, n))
mask = np.zeros((3, n))
for t, k in enumerate(sizes):
    x[t, :k] = rng.normal(size=(k, d))
    y[t, :k] = x[t, :k] @ thetas_true[t] + 0.3 * rng.normal(size=k)
    mask[t, :k] = 1.0

pooled = np.linalg.lstsq(x.reshape(-1, d)[mask.ravel() > 0], y.ravel()[mask.ravel() > 0],
                         rcond=None)[0]
independent = np.stack([np.linalg.lstsq(x[t, :k], y[t, :k], rcond=None)[0]
                        for t, k in enumerate(sizes)])
path = {}
for sigma in [1e3, 1.0, 0.3, 0.1, 1e-3]:
    th = mtl.linear_posterior_mean(x, y, mask, pooled, np.log(sigma), np.log(0.3))
    path[sigma] = th
    print(f"sigma={sigma:7.3g}  |theta_t - independent| = "
          f"{np.abs(th - independent).max():.4f}   |theta_t - pooled| = "
          f"{np.abs(th - pooled).max():.4f}")
assert np.abs(path[1e3] - independent).max() < 1e-4  # large sigma: independent least squares
assert np.abs(path[1e-3] - pooled).max() < 1e-3      # tiny sigma: the shared centre
dist = [np.abs(path[s] - pooled).max() for s in [1e3, 1.0, 0.3, 0.1, 1e-3]]
assert all(a >= b for a, b in zip(dist, dist[1:], strict=False))  # monotone path

# %% [markdown]
# Large $\sigma$ reproduces the independent fits, tiny $\sigma$ collapses every task onto the
# shared centre (here the pooled fit): hard sharing.

# %% [markdown]
# ## 2. Learning the strength needs the normaliser, and the marginal likelihood
#
# Suppose we try to learn $\sigma_t$ by minimising the same objective. Without the prior's
# normaliser the $\sigma_t$-dependent part is $\|\Delta_t\|^2 / (2\sigma_t^2)$ with
# $\Delta_t = \theta_t - \theta_0$, which *decreases* monotonically in $\sigma_t$: the optimum
# is $\sigma_t = \infty$, no sharing at all. The Gaussian's log-normaliser adds
# $D \log \sigma_t$ (`mtl.hierarchical_prior_nll`):
#
# $$\frac{\|\Delta_t\|^2}{2\sigma_t^2} + D\log\sigma_t
#   \quad\Rightarrow\quad \sigma_t^2 = \|\Delta_t\|^2 / D .$$
#
# But plugging this back in leaves $\tfrac D2 \log\|\Delta_t\|^2$, which goes to $-\infty$ as
# $\Delta_t \to 0$: *joint* MAP over $(\theta_t, \sigma_t)$ is unbounded below and collapses to
# hard sharing with $\sigma_t = 0$. The fix is to integrate $\theta_t$ out and maximise the
# **marginal likelihood** (type-II ML, empirical Bayes). For linear-Gaussian tasks it is exact
# (`mtl.linear_marginal_nll`):
#
# $$y_t \sim \mathcal N\big(X_t\theta_0,\ \sigma_t^2 X_t X_t^\top + s^2 I\big),$$
#
# $$-\log p(y_t) = \tfrac12 r_t^\top C_t^{-1} r_t + \tfrac12\log\det C_t + \text{const},
#   \qquad \log\det C_t = n_t\log s^2
#   + \log\det\!\big(I + \tfrac{\sigma_t^2}{s^2}X_t^\top X_t\big).$$
#
# The determinant term is the normaliser $D\log\sigma_t^2$ plus the Occam factor
# $\log\det(X_t^\top X_t/s^2 + \sigma_t^{-2} I)$; together they grow like
# $D\log\sigma_t^2$ for large $\sigma_t$ (penalising needless freedom) and stay bounded as
# $\sigma_t\to 0$ (no collapse), while the data term grows when a task really differs from
# $\theta_0$. Below: the three objectives as functions of $\log\sigma$ for one task.

# %%
delta = independent[0] - pooled
log_sigmas = np.linspace(-6, 4, 11)
penalty_only = [0.5 * delta @ delta * np.exp(-2 * ls) for ls in log_sigmas]
with_normaliser = [0.5 * delta @ delta * np.exp(-2 * ls) + d * ls for ls in log_sigmas]
marginal = [float(mtl.linear_marginal_nll(x[:1], y[:1], mask[:1], pooled, ls, np.log(0.3)))
            for ls in log_sigmas]
print(" log σ   penalty only   + normaliser   marginal NLL")
for row in zip(log_sigmas, penalty_only, with_normaliser, marginal, strict=True):
    print("{:6.1f} {:14.4f} {:14.4f} {:14.4f}".format(*row))
assert np.all(np.diff(penalty_only) < 0)                   # penalty alone: sigma -> infinity
i_norm = int(np.argmin(with_normaliser))                    # normaliser: interior minimum at
np.testing.assert_allclose(np.exp(2 * log_sigmas[i_norm]),  # sigma^2 = |delta|^2 / D (grid)
                           delta @ delta / d, rtol=np.e**2)
i_marg = int(np.argmin(marginal))
assert 0 < i_marg < len(marginal) - 1                       # marginal NLL: interior minimum
assert abs(marginal[0] - marginal[1]) < 0.01 * abs(marginal[0])  # flattens as sigma -> 0

# %% [markdown]
# The penalty alone keeps falling as $\sigma$ grows; with the normaliser there is an interior
# minimum for a *fixed* $\Delta$ (but $\Delta$ itself would then be driven to 0); the marginal
# NLL has an interior minimum and is flat — not $-\infty$ — as $\sigma \to 0$.
#
# Empirical Bayes in action: six tasks drawn around one $\theta_0$ and one unrelated task.
# Maximising the marginal likelihood over $(\theta_0, \log\sigma_t, \log s)$ gives small
# $\sigma_t$ to the related tasks and a large one to the outlier.

# %%
t_rel, dd = 6, 4
c0 = rng.normal(size=dd)
ths = np.vstack([c0 + 0.05 * rng.normal(size=(t_rel, dd)), 3 * rng.normal(size=(1, dd))])
xs = rng.normal(size=(t_rel + 1, 30, dd))
ys = np.einsum("tnd,td->tn", xs, ths) + 0.3 * rng.normal(size=(t_rel + 1, 30))
p = {"w0": jnp.zeros(dd), "log_sigma": jnp.zeros(t_rel + 1), "log_noise": jnp.zeros(())}
opt = optax.adam(0.05)
loss = lambda p: mtl.linear_marginal_nll(xs, ys, None, p["w0"], p["log_sigma"], p["log_noise"])


@jax.jit
def fit(p):
    def step(carry, _):
        p, s = carry
        u, s = opt.update(jax.grad(loss)(p), s)
        return (optax.apply_updates(p, u), s), None
    return jax.lax.scan(step, (p, opt.init(p)), None, length=600)[0][0]


p = fit(p)
print("learned sigma_t:", np.round(np.exp(np.asarray(p["log_sigma"])), 3))
print("learned noise s:", round(float(np.exp(p["log_noise"])), 3), "(true 0.3)")
sig = np.exp(np.asarray(p["log_sigma"]))
assert sig[-1] > 10 * sig[:-1].max()  # the unrelated task gets by far the largest sigma
assert abs(float(np.exp(p["log_noise"])) - 0.3) < 0.05

# %% [markdown]
# ## 3. PCGrad: project away conflicts
#
# Two task gradients *conflict* when $g_i^\top g_j < 0$: a step along their sum helps one task
# at the other's expense. PCGrad (Yu et al. 2020) replaces $g_i$ by its projection onto the
# normal plane of $g_j$,
#
# $$g_i' = g_i - \frac{g_i^\top g_j}{\|g_j\|^2} g_j \qquad (\text{only if } g_i^\top g_j < 0),$$
#
# so that $g_i'^\top g_j = 0$: the conflicting component, and only it, is removed. With more
# tasks the projections are applied in a random order. Because every $g_i'$ stays in the span
# of the originals, `jtransfer.mtl` runs the whole procedure on the $T\times T$ Gram matrix.

# %%
g = {"w": jnp.array([[1.0, 1.0], [-1.0, 0.3]])}
proj = np.asarray(mtl.pcgrad_project(g, key=jax.random.key(0))["w"])
g1, g2 = np.asarray(g["w"])
print("g1.g2 =", g1 @ g2)
print("g1' =", proj[0], " g1'.g2 =", round(float(proj[0] @ g2), 12))
print("g2' =", proj[1], " g2'.g1 =", round(float(proj[1] @ g1), 12))
assert g1 @ g2 < 0 and abs(proj[0] @ g2) < 1e-6 and abs(proj[1] @ g1) < 1e-6
np.testing.assert_allclose(proj[0], g1 - (g1 @ g2) / (g2 @ g2) * g2, atol=1e-6)  # formula

# %% [markdown]
# ## 4. MGDA: the min-norm point and its dual
#
# A direction $d$ decreases every task loss to first order iff $g_t^\top d > 0$ for all $t$
# (stepping along $-d$). The best such direction in the sense
#
# $$\max_{d}\ \min_t\ g_t^\top d - \tfrac12\|d\|^2$$
#
# is, by Lagrangian duality (the inner min over $t$ is a min over the simplex
# $\alpha\in\Delta$ of $\sum_t\alpha_t g_t^\top d$; swap min and max, maximise over $d$ to
# get $d = \sum_t\alpha_t g_t$), the solution of the **min-norm problem**
#
# $$\alpha^\star = \arg\min_{\alpha\in\Delta}\Big\|\sum_t \alpha_t g_t\Big\|^2
#    = \arg\min_{\alpha\in\Delta} \alpha^\top G\alpha,\qquad d^\star = \sum_t\alpha^\star_t g_t .$$
#
# (Sener & Koltun 2018; Désidéri 2012.) Its optimality (KKT) conditions say
# $g_t^\top d^\star \ge \|d^\star\|^2$ for all $t$, with equality on the support of
# $\alpha^\star$: $-d^\star$ decreases every task, or $d^\star = 0$ and the point is
# Pareto-stationary. For two tasks the solution is closed form,
# $\alpha_1 = \mathrm{clip}\big((g_2 - g_1)^\top g_2 / \|g_1 - g_2\|^2, 0, 1\big)$.
# `mtl.min_norm_weights` solves the general case on $G$ in two stages: (pairwise) Frank–Wolfe,
# as in the paper, finds the support $S$ (its drop steps set weights to exactly zero); then the
# KKT system on the support, $G_{SS}\alpha_S = \lambda\mathbf 1$, $\mathbf 1^\top\alpha_S = 1$,
# is solved exactly, with active-set corrections until $(G\alpha)_r \ge \lambda$ for all $r$.
# Frank–Wolfe alone stops at its duality-gap tolerance, which on an ill-conditioned $G$ can be
# ~1% away in $\alpha$ and moves with the last bits of $G$; the polished answer is exact to
# rounding.

# %%
gram = mtl.task_gram(g)
alpha = np.asarray(mtl.min_norm_weights(gram))
a1 = np.clip((g2 - g1) @ g2 / np.sum((g1 - g2) ** 2), 0, 1)
print("min-norm solver:", alpha, "  closed form:", np.array([a1, 1 - a1]))
d_star = alpha @ np.asarray(g["w"])
print("g_t . d* =", np.asarray(g["w"]) @ d_star, " >= |d*|^2 =", d_star @ d_star)
np.testing.assert_allclose(alpha, [a1, 1 - a1], atol=1e-6)  # the two-task closed form
assert np.all(np.asarray(g["w"]) @ d_star >= d_star @ d_star - 1e-6)  # KKT

gs = rng.normal(size=(5, 8)) + 0.3
alpha5 = np.asarray(mtl.min_norm_weights(mtl.task_gram({"w": jnp.asarray(gs)})))
d5 = alpha5 @ gs
print("T=5 weights", np.round(alpha5, 4), " min_t g_t.d - |d|^2 =",
      float(np.min(gs @ d5) - d5 @ d5))
assert abs(alpha5.sum() - 1) < 1e-6 and np.all(alpha5 >= 0)
assert float(np.min(gs @ d5) - d5 @ d5) > -1e-5  # KKT holds for T = 5 too

# %% [markdown]
# **As an optimizer.** Every aggregator is an `optax.GradientTransformationExtraArgs` whose
# `update` takes the stacked per-task gradients (leaves with a leading task axis) and returns
# $d^\star$ without the task axis, so `optax.chain(mtl.mgda(), optax.sgd(lr))` steps by
# $-\mathrm{lr}\, d^\star$:

# %%
opt = optax.chain(mtl.mgda(), optax.sgd(0.1))
params = {"w": jnp.zeros(2, g["w"].dtype)}
updates, _ = opt.update(g, opt.init(params), params)
print("chain(mgda, sgd(0.1)) step:", np.asarray(updates["w"]), "  -0.1 d* =", -0.1 * d_star)
assert np.allclose(np.asarray(updates["w"]), -0.1 * d_star, atol=1e-6)

# %% [markdown]
# **MGDA-UB.** Computing all $T$ gradients of a deep trunk is expensive. Sener & Koltun bound
# $\|\sum_t\alpha_t\nabla_\theta L_t\| \le \|\partial z/\partial\theta\|\,
# \|\sum_t\alpha_t\nabla_z L_t\|$ with $z$ the shared representation, and minimise the bound:
# the same min-norm solver on gradients w.r.t. $z$ (`mtl.mgda_ub_weights`), then one backward
# pass of $\sum_t\alpha_t L_t$. It is cheaper, but its weights differ from MGDA's and its
# result is Pareto-stationary only when $\partial z/\partial\theta$ has full rank.

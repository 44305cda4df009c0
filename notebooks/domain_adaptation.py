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
# # Domain adaptation: MMD, CORAL, gradient reversal, importance weighting
#
# Derivations behind `jtransfer.align` and `jtransfer.weighting`, each followed by a small
# check in code. Source distribution $P$, target distribution $Q$; one Gaussian kernel
# convention everywhere: $k_\sigma(x, y) = \exp(-\lVert x-y\rVert^2 / 2\sigma^2)$.

# %%
import jax
import jax.numpy as jnp
import numpy as np

from jtransfer import align, weighting

key = jax.random.key(0)

# %% [markdown]
# ## 1. MMD is a distance between mean embeddings
#
# A characteristic kernel $k$ maps a distribution to its mean embedding
# $\mu_P = \mathbb E_{x\sim P}\,\phi(x)$ in the RKHS $\mathcal H$, and $P \mapsto \mu_P$ is
# injective. The maximum mean discrepancy is the RKHS distance
#
# $$\mathrm{MMD}^2(P,Q) = \lVert\mu_P-\mu_Q\rVert^2_{\mathcal H}
#   = \mathbb E\,k(x,x') + \mathbb E\,k(y,y') - 2\,\mathbb E\,k(x,y),$$
#
# using $\langle\phi(x),\phi(y)\rangle = k(x,y)$; it is 0 iff $P = Q$.
#
# **Estimators.** Plugging in the empirical embeddings $\hat\mu_P = \frac1n\sum_i\phi(x_i)$
# gives the *biased* V-statistic $\lVert\hat\mu_P-\hat\mu_Q\rVert^2 \ge 0$. Its $x$–$x$ term
# contains the $n$ diagonal terms $k(x_i,x_i) = 1$, so
# $\mathbb E[\mathrm{MMD}_b^2] = \mathrm{MMD}^2 + \frac{1 - \mathbb E k(x,x')}{n} +
# \frac{1 - \mathbb E k(y,y')}{m}$: a positive bias of order $1/n$. Dropping the diagonals
# (averaging over $i \ne j$) gives the *unbiased* U-statistic, which can be negative.
# Both cost $O((n+m)^2 d)$: one Gram matrix. The *linear-time* estimator averages
# $h = k(x_1,x_2)+k(y_1,y_2)-k(x_1,y_2)-k(x_2,y_1)$ over $n/2$ disjoint pairs: unbiased,
# $O(nd)$, but its variance is $O(1/n)$ with a larger constant than the quadratic one's
# (it uses $n/2$ of the $n^2$ pairs).

# %%
def draws(k, n, shift):
    kx, ky = jax.random.split(k)
    return jax.random.normal(kx, (n, 2)), jax.random.normal(ky, (n, 2)) + shift

keys = jax.random.split(key, 200)
for shift in (0.0, 0.5):
    out = {}
    for est in ("biased", "unbiased", "linear"):
        f = jax.jit(jax.vmap(lambda k, s=shift, e=est: align.mmd2(
            *draws(k, 40, s), bandwidth=1.0, estimator=e)))
        v = np.asarray(f(keys))
        out[est] = (v.mean(), v.std(ddof=1))
    print(f"shift={shift}: " + ", ".join(f"{e}: mean {m:.4f} sd {s:.4f}"
                                         for e, (m, s) in out.items()))
    se = {e: sd / np.sqrt(len(keys)) for e, (_, sd) in out.items()}
    if shift == 0.0:
        # closed form of the biased estimator's bias for N(0, I_2), sigma = 1, n = m = 40:
        # E k(x, x') = E exp(-|z|^2 / 2) with z ~ N(0, 2 I_2) = (1 + 2)^(-d/2) = 1/3
        bias = 2 * (1 - 1 / 3) / 40
        assert abs(out["biased"][0] - bias) < 4 * se["biased"], (out["biased"][0], bias)
        assert abs(out["unbiased"][0]) < 4 * se["unbiased"]
        assert abs(out["linear"][0]) < 4 * se["linear"]
        assert out["linear"][1] > 2 * out["unbiased"][1]  # "several times larger"
    else:
        assert all(m > 4 * se[e] for e, (m, _) in out.items())  # every estimator sees the shift

# %% [markdown]
# Under $P = Q$ (shift 0) the unbiased and linear means are ≈ 0 and the biased mean is
# visibly positive; the linear estimator's standard deviation is several times larger.
# With importance weights $w$ on the $x$ sample, `mmd2(..., weights_source=w)` uses the weighted
# embedding $\sum_i a_i\phi(x_i)$, $a = w / \sum w$ (the unbiased version normalises the
# off-diagonal $x$–$x$ sum by $\sum_{i\ne j} w_iw_j$).
#
# **Multiple kernels (DAN).** With $k = \sum_u\beta_u k_u$, MMD² is linear in $\beta$:
# $\eta^\top\beta$ with $\eta_u = \mathrm{MMD}^2_u$. The linear statistic's variance is
# $\beta^\top Q\beta$, $Q = \operatorname{cov}(h)$, and test power grows with
# $\eta^\top\beta/\sqrt{\beta^\top Q\beta}$; maximising it is the QP
# $\min_{\beta\ge0}\beta^\top(Q+\lambda I)\beta$ s.t. $\eta^\top\beta=1$ (`mk_mmd_weights`).

# %%
x, y = draws(jax.random.key(1), 512, jnp.array([0.3, 0.0]))
beta = align.mk_mmd_weights(x, y, [0.25, 0.5, 1.0, 2.0, 4.0])
print("beta =", np.round(np.asarray(beta), 3))
assert np.all(np.asarray(beta) >= -1e-6) and abs(float(jnp.sum(beta)) - 1) < 1e-5

# %% [markdown]
# ## 2. CORAL: whitening and re-colouring
#
# With centred covariances $C_s, C_t$, the linear map
# $A = (C_s+\epsilon I)^{-1/2}(C_t+\epsilon I)^{1/2}$ first whitens the source
# ($\operatorname{cov}(X_s(C_s+\epsilon I)^{-1/2}) \approx I$) and then re-colours it:
# $\operatorname{cov}(X_sA) = A^\top C_sA \to C_t$ as $\epsilon\to0$ for full-rank $C_s$
# (the symmetric square roots commute with the matrices they come from). Powers are taken by
# eigendecomposition, $C^p = V\Lambda^pV^\top$. A **common uncentred variant** uses the
# uncentred $X^\top X/n$ and regularises only the target; when the features have a
# non-zero mean, $X^\top X/n = C + \bar x\bar x^\top$ mixes the mean into the "covariance",
# so the output covariance no longer matches $C_t$.
#
# Deep CORAL uses the differentiable loss $\lVert C_s - C_t\rVert_F^2/(4d^2)$
# (`coral_loss`, $1/(n-1)$ covariances).

# %%
rng = np.random.default_rng(0)
xs = rng.normal(size=(400, 3)) @ rng.normal(size=(3, 3)) + 2.0
xt = rng.normal(size=(300, 3)) @ rng.normal(size=(3, 3)) - 1.0
xs32, xt32 = xs.astype(np.float32), xt.astype(np.float32)
aligned = np.asarray(align.coral(xs32, xt32, eps=1e-4))


def uncentred_variant(xs, xt, eps):
    def mpow(c, p):
        e, v = np.linalg.eigh(c)
        return (v * np.maximum(e, 1e-12) ** p) @ v.T
    cs, ct = xs.T @ xs / len(xs), xt.T @ xt / len(xt) + eps * np.eye(xs.shape[1])
    return xs @ mpow(cs, -0.5) @ mpow(ct, 0.5)


err = lambda z: np.abs(np.cov(z.T) - np.cov(xt.T)).max()
print(f"max |cov(aligned) - C_t|: paper {err(aligned):.2e}, uncentred variant "
      f"{err(uncentred_variant(xs, xt, 1e-4)):.2e}")
print("coral_loss before/after:", float(align.coral_loss(xs32, xt32)),
      float(align.coral_loss(aligned, xt32)))
assert err(aligned) < 1e-2 < err(uncentred_variant(xs, xt, 1e-4))
assert float(align.coral_loss(aligned, xt32)) < 1e-4 * float(align.coral_loss(xs32, xt32))

# %% [markdown]
# ## 3. Gradient reversal is a custom VJP, and it creates a min-max
#
# $R_\lambda(x) = x$ with vector-Jacobian product $v \mapsto -\lambda v$. For features
# $f_\theta$, a domain classifier $d_\psi$ and its loss $L_d$, minimising
# $L(\theta,\psi) = L_y(\theta) + L_d(d_\psi(R_\lambda(f_\theta(x))))$ by gradient descent
# updates $\psi \leftarrow \psi - \eta\nabla_\psi L_d$ (the classifier gets better) and
# $\theta \leftarrow \theta - \eta(\nabla_\theta L_y - \lambda\nabla_\theta L_d)$ (the
# features make it worse): one backward pass computes the saddle-point dynamics of
# $\min_\theta\max_\psi L_y - \lambda L_d$ (DANN). $\lambda_p = 2/(1+e^{-10p})-1$ ramps the
# reversal in.

# %%
theta, psi = jnp.array([1.0, -0.5]), jnp.array([0.3, 0.7])
xb = jnp.array([[1.0, 2.0], [0.5, -1.0]])
feats = lambda th: jnp.tanh(xb * th)


def dloss(th, ps, lam):
    f = align.gradient_reversal(feats(th), lam)  # identity forward, -lam * grad backward
    return align.domain_adversarial_loss(f[:1] @ ps, f[1:] @ ps)


g_plain = jax.grad(dloss)(theta, psi, -1.0)   # scale -1: the ordinary gradient
g_rev = jax.grad(dloss)(theta, psi, 0.5)
print("d/dtheta without reversal", np.asarray(g_plain), "with lambda=0.5", np.asarray(g_rev))
print("ratio:", np.asarray(g_rev / g_plain))
lam_p = align.dann_lambda(jnp.array([0.0, 0.1, 0.5, 1.0]))
print("lambda_p at p = 0, 0.1, 0.5, 1:", np.round(np.asarray(lam_p), 3))
np.testing.assert_allclose(np.asarray(g_rev / g_plain), -0.5, rtol=1e-6)
p = np.array([0.0, 0.1, 0.5, 1.0])
np.testing.assert_allclose(np.asarray(lam_p), 2 / (1 + np.exp(-10 * p)) - 1, rtol=1e-6)

# %% [markdown]
# (A scale of $-1$ turns reversal into the identity gradient, so the ratio is $-0.5$.)
#
# ## 4. Importance weighting and the effective sample size
#
# Under covariate shift $P(y\mid x) = Q(y\mid x)$, so with $w = q/p$
#
# $$\mathbb E_P[w(x)\,\ell(x,y)] = \int p(x)\frac{q(x)}{p(x)}\ell\,dx\,dy = \mathbb E_Q[\ell]:$$
#
# a weighted source average estimates the target risk. The price is variance: for
# self-normalised weights the weighted mean behaves like an average of
# $n_\mathrm{eff} = (\sum w)^2/\sum w^2$ samples (Kish), which collapses when $Q$ puts mass
# where $P$ has little. Below, $P = N(0, I)$, $Q = N((1,0), 0.8^2I)$ and $\ell = x_0^2$
# ($\mathbb E_Q\ell = 1 + 0.64 = 1.64$).

# %%
n = 1000
kp, kq = jax.random.split(jax.random.key(2))
xs = jax.random.normal(kp, (n, 2))
xt = 0.8 * jax.random.normal(kq, (n, 2)) + jnp.array([1.0, 0.0])
logq = -jnp.sum((xs - jnp.array([1.0, 0.0])) ** 2, 1) / (2 * 0.64) - 2 * jnp.log(0.8)
logp = -jnp.sum(xs**2, 1) / 2
w_true = jnp.exp(logq - logp)
loss = xs[:, 0] ** 2
fit = weighting.ulsif(xs, xt, bandwidth_grid=[0.5, 1.0, 2.0], lam_grid=[0.01, 0.1, 1.0])
print("unweighted source mean:", float(loss.mean()))
print("true-weight estimate:  ", float(weighting.weighted_mean(loss, w_true)),
      " n_eff =", float(weighting.effective_sample_size(w_true)))
print("uLSIF-weight estimate: ", float(weighting.weighted_mean(loss, fit.weights)),
      " n_eff =", float(weighting.effective_sample_size(jnp.maximum(fit.weights, 0))))
print("target mean:           ", float(jnp.mean(xt[:, 0] ** 2)), "(exact 1.64)")
w_np = np.asarray(w_true, np.float64)
np.testing.assert_allclose(float(weighting.effective_sample_size(w_true)),
                           w_np.sum() ** 2 / (w_np**2).sum(), rtol=1e-4)  # Kish's formula
for w in (w_true, fit.weights):  # weighting moves the estimate towards the target's 1.64
    assert abs(float(weighting.weighted_mean(loss, w)) - 1.64) < abs(float(loss.mean()) - 1.64)
assert float(weighting.effective_sample_size(w_true)) < n / 2  # the variance price

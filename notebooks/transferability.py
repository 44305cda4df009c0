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
# # Knowing when transfer helps
#
# This notebook derives the quantities behind `jtransfer.select`: the LogME evidence, the LEEP
# score, the importance-weighted risk estimator (and its variance, and DEV's control
# variate), and the decision rule of `negative_transfer_report`. Each derivation is followed
# by a few lines of code that check it numerically.

# %%
import jax
import jax.numpy as jnp
import numpy as np

from jtransfer import select

jax.config.update("jax_enable_x64", True)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. LogME: the evidence of a linear model on the features
#
# Take target features $F\in\mathbb R^{n\times D}$ (from a pre-trained model) and, for one
# class $c$, the indicator vector $y\in\{0,1\}^n$. Model $y = Fw + \epsilon$ with prior
# $w\sim N(0,\alpha^{-1}I)$ and noise $\epsilon\sim N(0,\beta^{-1}I)$. Integrating $w$ out,
# $y\sim N(0,\ \beta^{-1}I + \alpha^{-1}FF^\top)$, and the log evidence is
#
# $$\log p(y\mid F,\alpha,\beta) = \tfrac n2\log\beta + \tfrac D2\log\alpha - \tfrac n2\log 2\pi
#   - \tfrac\beta2\|Fm-y\|^2 - \tfrac\alpha2 m^\top m - \tfrac12\log|A|,$$
#
# with $A=\alpha I+\beta F^\top F$ (posterior precision) and $m=\beta A^{-1}F^\top y$
# (posterior mean). (Complete the square in $w$: the Gaussian integral leaves
# $|A|^{-1/2}$ and the value of the exponent at its minimiser $m$.)
#
# **Fixed point.** Let $\sigma_i$ be the eigenvalues of $F^\top F$ and
# $\gamma=\sum_i\beta\sigma_i/(\alpha+\beta\sigma_i)$ (the "effective number of parameters").
# Setting $\partial/\partial\alpha = 0$ gives $D/\alpha - m^\top m - \sum_i 1/(\alpha+\beta\sigma_i)=0$,
# i.e. $\alpha = \gamma / m^\top m$; setting $\partial/\partial\beta=0$ gives
# $\beta = (n-\gamma)/\|Fm-y\|^2$. LogME iterates these two updates (MacKay 1992), using one
# SVD of $F$ for all classes, and reports $\frac1C\sum_c\mathcal L_c^*/n$.
#
# Check: the fixed point maximises the evidence — a grid over $(\alpha,\beta)$ never beats it.

# %%
n, d = 80, 5
y_lab = rng.integers(0, 2, n)
F = rng.normal(size=(n, d)) + 1.5 * rng.normal(size=(2, d))[y_lab]


def evidence(alpha, beta, f, t):
    a = alpha * np.eye(f.shape[1]) + beta * f.T @ f
    m = beta * np.linalg.solve(a, f.T @ t)
    return (len(t) / 2 * np.log(beta) + f.shape[1] / 2 * np.log(alpha)
            - len(t) / 2 * np.log(2 * np.pi) - beta / 2 * np.sum((f @ m - t) ** 2)
            - alpha / 2 * m @ m - 0.5 * np.linalg.slogdet(a)[1]) / len(t)


score = float(select.logme(F, y_lab))
grid = max(np.mean([evidence(a, b, F, (y_lab == c).astype(float)) for c in (0, 1)])
           for a in np.logspace(-3, 2, 30) for b in np.logspace(-2, 2, 30))
print(f"LogME (fixed point) = {score:.5f}   best on a 30x30 grid = {grid:.5f}")
assert score >= grid - 1e-6

# %% [markdown]
# ## 2. LEEP: how well do the source labels predict the target labels?
#
# The source classifier outputs $\theta_i\in\Delta^Z$ on target input $x_i$. The empirical
# joint of a "dummy" source label $z$ and the true target label $y$ is
# $\hat P(y,z)=\frac1n\sum_{i:y_i=y}\theta_i(z)$; from it, $\hat P(y|z)=\hat P(y,z)/\hat P(z)$.
# The *expected empirical predictor* classifies $x$ by first drawing a source label from
# $\theta(x)$ and then a target label from $\hat P(y|z)$:
# $p(y|x)=\sum_z\hat P(y|z)\theta_z(x)$. LEEP is its average log-likelihood,
#
# $$T(\theta, \mathcal D) = \frac1n\sum_i\log\sum_z \hat P(y_i|z)\,\theta_i(z)\ \le 0.$$
#
# A hand-computed example with three points, $y=(0,0,1)$ and
# $\theta=\big((\tfrac12,\tfrac12),(1,0),(0,1)\big)$: $\hat P(y,z)=\begin{pmatrix}1/2&1/6\\0&1/3\end{pmatrix}$,
# $\hat P(z)=(\tfrac12,\tfrac12)$, so $\hat P(0|0)=1$, $\hat P(0|1)=\tfrac13$,
# $\hat P(1|1)=\tfrac23$ and the three predictive probabilities are $\tfrac23, 1, \tfrac23$:
# $T=\tfrac23\log\tfrac23$.

# %%
theta = np.array([[0.5, 0.5], [1.0, 0.0], [0.0, 1.0]])
print(float(select.leep(theta, np.array([0, 0, 1]))), 2 / 3 * np.log(2 / 3))
np.testing.assert_allclose(float(select.leep(theta, np.array([0, 0, 1]))),
                           2 / 3 * np.log(2 / 3), rtol=1e-5)

# %% [markdown]
# ## 3. The importance-weighted risk and its variance
#
# Under covariate shift ($p(y|x)$ shared, $p(x)\ne q(x)$), with $w=q/p$,
#
# $$R_q = \mathbb E_{q}[\ell(x,y)] = \int \ell\, q = \int \ell\,\tfrac qp\,p = \mathbb E_p[w\ell].$$
#
# So $\hat R_{IW}=\frac1n\sum_i w(x_i)\ell_i$ on *source* validation data is unbiased, with
# variance $\frac1n\big(\mathbb E_p[w^2\ell^2]-R_q^2\big)$, which explodes when $w$ has heavy
# tails (the effective sample size $(\sum w)^2/\sum w^2$ is small).
#
# **DEV's control variate.** Because $\mathbb E_p[w]=1$, for any $\eta$,
# $\hat R_\eta = \overline{w\ell}+\eta(\bar w-1)$ is unbiased too, with variance
# $\frac1n\big(\mathrm{Var}(w\ell)+2\eta\,\mathrm{Cov}(w\ell,w)+\eta^2\mathrm{Var}(w)\big)$, minimised
# at $\eta^* = -\mathrm{Cov}(w\ell,w)/\mathrm{Var}(w)$, where it equals
# $\frac1n\mathrm{Var}(w\ell)(1-\rho^2)$. DEV plugs in the sample $\eta$; that estimate is
# correlated with the sample, so DEV pays a small $O(1/n)$ bias (visible below with heavy-tailed
# weights) for a large cut in variance.
#
# Check on $p=N(0,1)$, $q=N(0.7,1)$, $\ell=x^2$: $w=e^{0.7x-0.245}$ and $R_q=1.49$.

# %%
x = jax.random.normal(jax.random.key(0), (2000, 200))
w = jnp.exp(0.7 * x - 0.7 ** 2 / 2)
iw = jax.vmap(select.iwv_risk)(x ** 2, w)
dev = jax.vmap(select.dev_risk)(x ** 2, w)
print(f"true 1.49 | IWV mean {iw.mean():.3f} var {iw.var():.4f} | "
      f"DEV mean {dev.mean():.3f} var {dev.var():.4f} | unweighted {jnp.mean(x ** 2):.3f}")
se_iw = float(iw.std(ddof=1)) / np.sqrt(len(iw))
assert abs(float(iw.mean()) - 1.49) < 4 * se_iw        # IWV is unbiased for R_q = 1 + 0.49
assert float(dev.var()) < float(iw.var())              # the control variate cuts the variance
assert abs(float(dev.mean()) - 1.49) < 0.05            # at the price of a small O(1/n) bias
assert abs(float(jnp.mean(x ** 2)) - 1.0) < 0.01       # unweighted estimates the source risk

# %% [markdown]
# ## 4. Deciding whether transfer hurt
#
# Negative transfer (Wang et al. 2019) means the transferred model $h_A$ is worse on the
# target than a model $h_B$ trained on the target data alone. With the few labelled target
# examples, score both on the same held-out examples (cross-validation keeps each example out
# of $h_B$'s training) and take paired differences $d_i = a_i - b_i$ (correctness, or
# $w_i(\ell^B_i-\ell^A_i)$ label-free with importance weights). The gain
# $\Delta=\mathbb E[d]$ is estimated by $\bar d$ with the CLT interval
# $\bar d\pm z_{(1+c)/2}\,s_d/\sqrt n$ (or a bootstrap percentile interval). The rule:
#
# * **negative transfer** if the upper end $< -\text{margin}$,
# * **positive transfer** if the lower end $> \text{margin}$,
# * **inconclusive** otherwise.
#
# With margin 0, flagging is a two-sided paired test of $\Delta = 0$ at level $1-c$, so
# when transfer truly does not matter the false-alarm probability is at most $(1-c)/2$
# (asymptotically); pairing removes the per-example difficulty from the variance.

# %%
base = (rng.random(40) < 0.75).astype(float)        # baseline right on 75 %
adapted = base.copy()
adapted[rng.choice(40, 14, replace=False)] = 0.0     # the transferred model breaks 14 of them
print(select.negative_transfer_report(adapted, base))
print(select.negative_transfer_report(base, base[::-1]))
assert select.negative_transfer_report(adapted, base).verdict == "negative transfer"
assert select.negative_transfer_report(base, base[::-1]).verdict == "inconclusive"

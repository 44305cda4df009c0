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
# # Learned optimizers: the unrolled meta-objective, truncation bias, ES and PES
#
# A learned optimizer $g_\phi$ maps gradients (and its own state $h_t$) to parameter updates,
#
# $$\theta_{t+1} = \theta_t + g_\phi(\nabla f(\theta_t), h_t).$$
#
# In `jtransfer.lopt` it is an object with `init(key) -> phi` and `optimizer(phi)`, which
# returns an ordinary `optax` transform. We meta-train $\phi$ on the **unrolled
# meta-objective** (Andrychowicz et al., 2016, eq. 3 with $w_t = 1/T$),
#
# $$\mathcal L(\phi) = \frac1T \sum_{t=1}^{T} f(\theta_t(\phi)),$$
#
# which is `lopt.meta_loss`. Its gradient follows the chain rule through the whole unroll:
#
# $$\frac{d\mathcal L}{d\phi} = \frac1T\sum_{t=1}^{T} \nabla f(\theta_t)^\top
#   \frac{d\theta_t}{d\phi},\qquad
#   \frac{d\theta_{t+1}}{d\phi} = \Big(I + \frac{\partial g}{\partial\theta_t}
#   + \frac{\partial g}{\partial \nabla}\,\nabla^2 f(\theta_t)\Big)\frac{d\theta_t}{d\phi}
#   + \frac{\partial g}{\partial\phi}.$$
#
# The Hessian term is what Andrychowicz et al. drop (`second_order=False`): the gradient fed to
# the optimizer is treated as a constant input. The product of Jacobians is why long unrolls
# give exploding or vanishing meta-gradients.

# %%
import functools

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax

from jtransfer import lopt

jax.config.update("jax_enable_x64", True)  # exact comparisons below

W = jnp.array([[1.0, 0.3], [0.0, 0.7]])
Y = jnp.array([1.0, -0.5])
task = lopt.QuadraticTask(W, Y, init_scale=0.0)  # theta_0 = 0: a deterministic toy
T = 8


def shift_optimizer(eta=0.2):
    """Toy learned optimizer: update = -eta * grad + phi. The meta-loss is quadratic in phi."""
    def build(phi):
        def update(g, state, params=None, **extra):
            return -eta * g + phi["u"], state
        return optax.GradientTransformationExtraArgs(lambda p: optax.EmptyState(), update)
    return lopt.LearnedOptimizer(lambda key: {"u": jnp.zeros(2)}, build, "shift")


lo = shift_optimizer()
phi = {"u": jnp.array([0.05, -0.1])}
full = lambda p: lopt.meta_loss(lo, p, task, jax.random.key(0), num_steps=T)  # noqa: E731
exact = jax.grad(full)(phi)["u"]
print("meta-loss", float(full(phi)), "exact meta-gradient", np.asarray(exact))
for i in range(2):  # the unrolled gradient equals central finite differences (float64)
    e = jnp.zeros(2).at[i].set(1e-6)
    fd = (full({"u": phi["u"] + e}) - full({"u": phi["u"] - e})) / 2e-6
    np.testing.assert_allclose(float(fd), float(exact[i]), rtol=1e-6, atol=1e-10)

# %% [markdown]
# ## Truncation bias
#
# Truncated BPTT (`lopt.tbptt`) splits the horizon into windows of $K$ steps and, in each,
# differentiates only the window's losses, treating the incoming state $\theta_\tau$ as
# constant. Averaged over the windows it estimates
#
# $$\hat g_{\text{TBPTT}} = \frac1T\sum_{t}\nabla f(\theta_t)^\top
#   \frac{\partial\theta_t}{\partial\phi}\Big|_{\theta_\tau\ \text{fixed}},$$
#
# missing the terms $\nabla f(\theta_t)^\top \frac{\partial\theta_t}{\partial\theta_\tau}
# \frac{d\theta_\tau}{d\phi}$: the influence of $\phi$ on earlier windows. That bias is
# systematic (it does not average out), and it favours greedy optimizers (Wu et al., 2018).


# %%
def tbptt_average(K):
    est = lopt.tbptt(lo, lambda k: task, num_steps=T, truncation_length=K, num_tasks=1)
    state, total = est.init(phi, key=jax.random.key(0)), 0.0
    for k in jax.random.split(jax.random.key(1), T // K):
        _, g, state = est.update(phi, state, key=k)
        total = total + g["u"] * K / T
    return total


for K in (1, 4, 8):
    g = tbptt_average(K)
    rel = float(jnp.linalg.norm(g - exact) / jnp.linalg.norm(exact))
    print(f"K={K}: TBPTT gradient {np.asarray(g)}  relative bias {rel:.3f}")
    if K == T:  # one window is the full unroll: no truncation, no bias
        assert rel < 1e-8, rel
    else:  # shorter windows drop the influence on earlier windows: a systematic bias
        assert rel > 1e-3, rel

# %% [markdown]
# ## Evolution strategies
#
# ES replaces $\mathcal L$ by its Gaussian smoothing
# $\mathcal L_\sigma(\phi) = \mathbb E_{\epsilon\sim\mathcal N(0,\sigma^2 I)}
# \mathcal L(\phi+\epsilon)$, whose gradient is
# $\nabla\mathcal L_\sigma = \mathbb E[\epsilon\,\mathcal L(\phi+\epsilon)]/\sigma^2$
# (Stein's lemma). The antithetic estimator (`lopt.es`) uses pairs:
#
# $$\hat g_{\text{ES}} = \frac{1}{2N\sigma^2}\sum_{i=1}^N
#   \epsilon_i\,\big(\mathcal L(\phi+\epsilon_i)-\mathcal L(\phi-\epsilon_i)\big).$$
#
# It needs no backpropagation, works through chaotic or non-differentiable unrolls, and for a
# quadratic $\mathcal L$ with gradient $g$, $\mathcal L(\phi+\epsilon)-\mathcal L(\phi-\epsilon)
# = 2\epsilon^\top g$ exactly, so $\hat g = \frac1N\sum_i \epsilon_i\epsilon_i^\top g/\sigma^2$
# is unbiased with covariance (Gaussian fourth moments)
#
# $$\operatorname{Cov}(\hat g_{\text{ES}}) = \frac1N\big(\lVert g\rVert^2 I + g g^\top\big),
# \qquad \operatorname{tr}\operatorname{Cov} = \frac{(d+1)\lVert g\rVert^2}{N},$$
#
# independent of $\sigma$ and growing with the dimension $d$ of $\phi$.

# %%
es = lopt.es(lo, lambda k: task, num_steps=T, sigma=0.1, population=1)
es_samples = jax.jit(jax.vmap(lambda k: es.update(phi, (), key=k)[1]["u"]))(
    jax.random.split(jax.random.key(2), 10000))
d = 2
print("ES mean", np.asarray(es_samples.mean(0)), "vs exact", np.asarray(exact))
print("trace of covariance: empirical", float(jnp.trace(jnp.cov(es_samples.T))),
      " predicted (d+1)|g|^2 =", float((d + 1) * jnp.sum(exact**2)))
se = np.asarray(es_samples.std(0, ddof=1)) / np.sqrt(len(es_samples))
assert np.all(np.abs(np.asarray(es_samples.mean(0) - exact)) < 4 * se)  # unbiased
np.testing.assert_allclose(float(jnp.trace(jnp.cov(es_samples.T))),
                           float((d + 1) * jnp.sum(exact**2)), rtol=0.1)  # (d+1)|g|^2 / N

# %% [markdown]
# ## Persistent evolution strategies
#
# Running ES on truncations would carry the same bias as TBPTT, because the perturbation of
# the current window does not explain how the state $\theta_\tau$ was reached. PES (Vicol et
# al., 2021) keeps, per particle, the sum of all perturbations used since the last reset,
# $\xi_\tau = \sum_{s\le\tau}\epsilon_s$, and estimates
#
# $$\hat g_{\text{PES}} = \frac{1}{2N\sigma^2}\sum_{i=1}^N \xi_{i,\tau}
#   \big(L_\tau(\phi+\epsilon_{i,\cdot}) - L_\tau(\phi-\epsilon_{i,\cdot})\big).$$
#
# Viewing the window loss as a function of all perturbations so far,
# $L_\tau(\phi+\epsilon_1,\dots,\phi+\epsilon_\tau)$, the total derivative with respect to
# $\phi$ is the sum of the partial derivatives with respect to each $\epsilon_s$, and Stein's
# lemma applied to each gives $\mathbb E[\epsilon_s L_\tau]/\sigma^2$; summing over $s$ is
# exactly $\mathbb E[\xi_\tau L_\tau]/\sigma^2$: **unbiased** for the smoothed full-unroll
# gradient. The price is variance: $\mathbb E\lVert\xi_\tau\rVert^2 = \tau d\sigma^2$ grows with
# the number $\tau$ of windows since the reset, and the estimate's variance grows with it
# (times the squared loss differences, which here shrink as the inner problem converges).

# %%
def pes_samples(K, reps=10000):
    est = lopt.pes(lo, lambda k: task, num_steps=T, truncation_length=K, sigma=0.1,
                   population=1)

    def one(key):
        state, total = est.init(phi, key=key), jnp.zeros(2)
        for k in jax.random.split(key, T // K):
            _, g, state = est.update(phi, state, key=k)
            total = total + g["u"] * K / T
        return total, jnp.sum(state.accum["u"] ** 2)

    return jax.jit(jax.vmap(one))(jax.random.split(jax.random.key(3), reps))


for K in (1, 8):
    s, xi2 = pes_samples(K)
    print(f"PES K={K}: mean {np.asarray(s.mean(0))}  (exact {np.asarray(exact)})  "
          f"tr cov {float(jnp.trace(jnp.cov(s.T))):.3f}  "
          f"E|xi|^2 {float(xi2.mean()):.4f} (predicted {T // K * d * 0.1**2:.4f})")
    se = np.asarray(s.std(0, ddof=1)) / np.sqrt(len(s))
    assert np.all(np.abs(np.asarray(s.mean(0) - exact)) < 4 * se)  # unbiased at every K
    np.testing.assert_allclose(float(xi2.mean()), T // K * d * 0.1**2, rtol=0.05)

# %% [markdown]
# With $K = T$ PES is ES on the full unroll. With shorter windows it stays unbiased (unlike
# TBPTT above) while each meta-step needs only $K$ inner steps; on this small, well-behaved
# toy the variance of the horizon-averaged estimate stays close to full-unroll ES.
#
# ## A small meta-training run
#
# The coordinate-wise LSTM optimizer (a small one: 8 units) meta-trained with truncated BPTT
# on random 5-d quadratics $\lVert W\theta-y\rVert^2$, horizon 40, windows of 10.

# %%
jax.config.update("jax_enable_x64", False)
family = functools.partial(lopt.quadratic_task, dim=5)
lstm = lopt.lstm_optimizer(hidden=8)
theta = lstm.init(jax.random.key(0))
est = lopt.tbptt(lstm, family, num_steps=40, truncation_length=10, num_tasks=16,
                 second_order=False, stagger=True)
outer = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(3e-3))


@jax.jit
def meta_step(theta, outer_state, est_state, key):
    loss, g, est_state = est.update(theta, est_state, key=key)
    updates, outer_state = outer.update(g, outer_state, theta)
    return optax.apply_updates(theta, updates), outer_state, est_state, loss


def eval_curve(opt, n=64):
    run = jax.vmap(lambda k: lopt.unroll_losses(opt, family(k), k, num_steps=40))
    return np.log10(np.asarray(jax.jit(run)(jax.random.split(jax.random.key(99), n))))


before = eval_curve(lstm.optimizer(theta))
outer_state, est_state, losses = outer.init(theta), est.init(theta, key=jax.random.key(1)), []
for i in range(200):
    theta, outer_state, est_state, loss = meta_step(theta, outer_state, est_state,
                                                    jax.random.key(i))
    losses.append(float(loss))
after = eval_curve(lstm.optimizer(theta))
adam = eval_curve(optax.adam(0.1))
print(f"meta-loss: first 20 steps {np.mean(losses[:20]):.2f}, "
      f"last 20 {np.mean(losses[-20:]):.2f}")
print(f"held-out final log10 loss: LSTM before {before[:, -1].mean():.2f}, "
      f"after {after[:, -1].mean():.2f}, Adam(0.1) {adam[:, -1].mean():.2f}")
assert np.mean(losses[-20:]) < np.mean(losses[:20])  # meta-training lowers the meta-loss
assert after[:, -1].mean() < before[:, -1].mean()  # and the held-out final loss

fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
ax[0].plot(losses)
ax[0].set(xlabel="meta-step", ylabel="truncation meta-loss", yscale="log")
for name, c in (("LSTM before", before), ("LSTM after", after), ("Adam 0.1", adam)):
    ax[1].plot(c.mean(0), label=name)
ax[1].set(xlabel="inner step", ylabel="log10 loss (64 held-out)")
ax[1].legend()
plt.show()

# %% [markdown]
# The trained optimizer is an optax transform: `lopt.save_theta(path, theta)` stores
# $\phi$ with orbax and `lopt.load_optimizer(path, lopt.lstm_optimizer(hidden=8))` gives it
# back, in any process, ready for `optax.chain`.
#
# References: Andrychowicz et al. 2016 (https://arxiv.org/abs/1606.04474); Wu et al. 2018
# (https://arxiv.org/abs/1803.02021); Salimans et al. 2017 (https://arxiv.org/abs/1703.03864);
# Vicol, Metz & Sohl-Dickstein 2021 (https://arxiv.org/abs/2112.13835).

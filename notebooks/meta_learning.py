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
# # Meta-learning in `jtransfer.meta`: the MAML meta-gradient, what first order drops, implicit MAML, and memory
#
# References: Finn, Abbeel, Levine 2017 (MAML, https://arxiv.org/abs/1703.03400);
# Nichol et al. 2018 (first-order MAML and Reptile, https://arxiv.org/abs/1803.02999);
# Rajeswaran et al. 2019 (implicit MAML, https://arxiv.org/abs/1909.04630).
#
# ## 1. The MAML meta-gradient
#
# A task $i$ has a support loss $\mathcal{L}^s_i$ and a query loss $\mathcal{L}^q_i$.
# MAML adapts the shared initialisation $\theta$ with $K$ gradient steps,
#
# $$\phi_0 = \theta,\qquad \phi_{k+1} = \phi_k - \alpha \nabla \mathcal{L}^s_i(\phi_k),$$
#
# and minimises $\frac1T\sum_i \mathcal{L}^q_i(\phi_K(\theta))$. By the chain rule, with
# $H_k = \nabla^2 \mathcal{L}^s_i(\phi_k)$ (symmetric),
#
# $$\frac{d\phi_{k+1}}{d\phi_k} = I - \alpha H_k, \qquad
#   \nabla_\theta \mathcal{L}^q_i(\phi_K) = \Big[\prod_{k=K-1}^{0} (I - \alpha H_k)\Big]
#   \nabla \mathcal{L}^q_i(\phi_K).$$
#
# For one step this is $g - \alpha H_0 g$ with $g = \nabla\mathcal{L}^q_i(\phi_1)$: the second
# term is a **Hessian-vector product**, which reverse-mode AD obtains without forming $H$
# ($H v = \frac{d}{d\epsilon}\nabla \mathcal{L}^s(\theta + \epsilon v)$, a forward-over-reverse
# product). `jax.grad` of `maml_loss` — `jax.grad` through the inner `jax.grad` — computes
# exactly this. **First-order MAML** sets $H_k := 0$ (`stop_gradient` on the inner gradients),
# leaving only $g$, the query gradient at the adapted parameters.
#
# Below we check the formula on a small tanh network: the MAML gradient equals
# $g - \alpha H g$ computed with an explicit Hessian-vector product, and FOMAML equals $g$.

# %%
import time

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np

from jtransfer import meta

jax.config.update("jax_enable_x64", True)


def mlp(p, x):
    return jnp.tanh(x @ p["w1"] + p["b1"][None, :]) @ p["w2"]


def loss_fn(p, batch):
    x, y = batch
    return jnp.mean((mlp(p, x) - y) ** 2)


r = np.random.default_rng(0)
params = {"w1": jnp.asarray(r.normal(size=(1, 8))), "b1": jnp.asarray(r.normal(size=8)),
          "w2": jnp.asarray(r.normal(size=(8, 1)) / 3)}
xs, xq = r.uniform(-2, 2, (1, 6, 1)), r.uniform(-2, 2, (1, 6, 1))
tasks = ((jnp.asarray(xs), jnp.asarray(np.sin(xs))), (jnp.asarray(xq), jnp.asarray(np.sin(xq))))
alpha = 0.3
support = jax.tree.map(lambda a: a[0], tasks[0])
query = jax.tree.map(lambda a: a[0], tasks[1])

maml_grad = jax.grad(lambda p: meta.maml_loss(loss_fn, p, tasks, inner_lr=alpha, num_steps=1))(params)
fo_grad = jax.grad(lambda p: meta.maml_loss(loss_fn, p, tasks, inner_lr=alpha, num_steps=1,
                                            first_order=True))(params)

phi = jax.tree.map(lambda p, g: p - alpha * g, params, jax.grad(loss_fn)(params, support))
g = jax.grad(loss_fn)(phi, query)
hvp = jax.jvp(lambda p: jax.grad(loss_fn)(p, support), (params,), (g,))[1]
by_hand = jax.tree.map(lambda gi, hi: gi - alpha * hi, g, hvp)

flat = lambda t: np.concatenate([np.ravel(v) for v in jax.tree.leaves(t)])
print("max |MAML - (g - αHg)| :", np.abs(flat(maml_grad) - flat(by_hand)).max())
print("max |FOMAML - g|       :", np.abs(flat(fo_grad) - flat(g)).max())
print("relative size of the Hessian term |αHg|/|g| :",
      np.linalg.norm(alpha * flat(hvp)) / np.linalg.norm(flat(g)))
assert np.allclose(flat(maml_grad), flat(by_hand), atol=1e-12)
assert np.allclose(flat(fo_grad), flat(g), atol=1e-12)

# %% [markdown]
# ## 2. Implicit MAML
#
# iMAML replaces the unrolled inner loop by the solution of a **proximal** problem,
#
# $$\phi^\star(\theta) = \arg\min_\phi\ \mathcal{L}^s(\phi) + \tfrac{\lambda}{2}\|\phi-\theta\|^2 .$$
#
# Its optimality condition $\nabla\mathcal{L}^s(\phi^\star) + \lambda(\phi^\star - \theta) = 0$
# holds for every $\theta$; differentiating it w.r.t. $\theta$ gives
# $H\,\frac{d\phi^\star}{d\theta} + \lambda(\frac{d\phi^\star}{d\theta} - I) = 0$, so
#
# $$\frac{d\phi^\star}{d\theta} = \Big(I + \tfrac{1}{\lambda} H\Big)^{-1},\qquad
#   \nabla_\theta\mathcal{L}^q(\phi^\star) = \Big(I + \tfrac1\lambda H\Big)^{-1}\nabla\mathcal{L}^q(\phi^\star),$$
#
# with $H = \nabla^2\mathcal{L}^s(\phi^\star)$. The gradient depends only on the end point,
# not on the path taken to reach it: no inner-loop activations are stored, and the linear
# system is solved by conjugate gradient with Hessian-vector products
# (`jax.scipy.sparse.linalg.cg`). `meta.imaml` implements this as a `jax.custom_vjp`. We check
# it against a dense solve with the explicit Hessian.

# %%
lam = 2.0
imaml_grad = jax.grad(lambda p: meta.imaml(loss_fn, p, tasks, lam=lam, inner_lr=0.1,
                                           num_steps=400, cg_maxiter=100, cg_tol=1e-12))(params)
phi_star = meta.imaml_adapt(loss_fn, params, support, lam=lam, inner_lr=0.1, num_steps=400)
vec, unravel = jax.flatten_util.ravel_pytree(phi_star)
hess = jax.hessian(lambda v: loss_fn(unravel(v), support))(vec)
gq = jax.flatten_util.ravel_pytree(jax.grad(loss_fn)(phi_star, query))[0]
dense = np.linalg.solve(np.eye(len(vec)) + hess / lam, gq)
stationarity = jax.flatten_util.ravel_pytree(jax.grad(loss_fn)(phi_star, support))[0] + lam * (
    vec - jax.flatten_util.ravel_pytree(params)[0])
print("inner optimality residual |∇L + λ(φ-θ)| :", float(jnp.linalg.norm(stationarity)))
print("max |iMAML(CG) - dense solve|          :", np.abs(flat(imaml_grad) - dense).max())
assert float(jnp.linalg.norm(stationarity)) < 1e-6  # the inner problem is solved
assert np.allclose(flat(imaml_grad), dense, atol=1e-8)

# %% [markdown]
# ## 3. Memory: reverse mode through $K$ inner steps, with and without rematerialisation
#
# Reverse-mode differentiation of the unrolled loop keeps, for every inner step, the
# residuals of the forward *and* backward pass of that step (activations, their gradients,
# the inner gradient itself): memory grows like $K \times$ (activations of a second-order
# step). With `remat=True` every inner step is a `jax.checkpoint`: the scan saves only the
# carried parameters $\phi_k$ and recomputes the step during the backward pass, so the
# activation part is paid once, at the cost of one extra forward computation per step.
# We read the peak from XLA's compiled memory analysis (no need to run the program) for a
# small MLP on a large support set, so activations dominate.

# %%
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

jax.config.update("jax_enable_x64", False)
wide = {"w1": jnp.zeros((1, 256)), "b1": jnp.zeros(256), "w2": jnp.zeros((256, 1))}
big = jnp.zeros((4, 2048, 1))
big_tasks = ((big, big), (big, big))


def peak_mib(num_steps, remat):
    f = jax.jit(jax.grad(lambda p: meta.maml_loss(loss_fn, p, big_tasks, inner_lr=0.01,
                                                  num_steps=num_steps, remat=remat)))
    ma = f.lower(wide).compile().memory_analysis()
    return (ma.temp_size_in_bytes + ma.argument_size_in_bytes + ma.output_size_in_bytes) / 2**20


t0 = time.perf_counter()
steps = [1, 2, 4, 8, 16]
mem = {r: [peak_mib(k, r) for k in steps] for r in (False, True)}
for k, a, b in zip(steps, mem[False], mem[True]):
    print(f"K={k:2d}: no remat {a:7.1f} MiB   remat {b:7.1f} MiB   ratio {b / a:.2f}")
print(f"(compiled {2 * len(steps)} programs in {time.perf_counter() - t0:.1f} s)")
fig, ax = plt.subplots(figsize=(5, 3.5))
ax.plot(steps, mem[False], "o-", label="remat=False")
ax.plot(steps, mem[True], "s-", label="remat=True")
ax.set_xlabel("inner steps K")
ax.set_ylabel("peak memory (MiB, XLA estimate)")
ax.legend()
assert mem[True][-1] < 0.5 * mem[False][-1]

# %% [markdown]
# The unrolled loop's memory grows linearly in $K$ with a slope set by the activations;
# with rematerialisation the slope is only the size of the parameter vector per step
# (the carries $\phi_k$ that the scan must keep to run backwards). `experiments/bench_meta.py`
# measures the same on Conv4 at Omniglot scale.

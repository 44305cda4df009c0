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
# # Language models: domain shift inside a pretrained encoder, CORAL, and LoRA's arithmetic
#
# A pretrained sentence encoder (all-MiniLM-L6-v2, `jtransfer.models`) turns reviews of two
# product domains into features; we measure how far apart the domains are at every layer
# (MMD² and the CORAL distance, `jtransfer.align`), look at the two domains before and after
# CORAL alignment, and derive the size and the merge of a LoRA adapter
# (`jtransfer.adapters`). Every number printed below is checked by an `assert` in the same
# cell. The encoder and the reviews come from the manual-download folder
# (`JTRANSFER_MANUAL_DIR`, default `../shared/data`; README "Language models").

# %%
import time

import jax
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from jtransfer import adapters, align, data, models

t_start = time.perf_counter()
encoder = models.load_pretrained()        # <manual dir>/minilm_l6_v2, checksums verified
tokenize = models.load_tokenizer()
apply_fn, params = models.functional(encoder, train=False)
cfg = encoder.config
print(f"{cfg.model_type}: {cfg.num_hidden_layers} layers, hidden {cfg.hidden_size}, "
      f"{cfg.num_attention_heads} heads, intermediate {cfg.intermediate_size}, "
      f"vocab {cfg.vocab_size}")

# %% [markdown]
# ## 1. How many parameters, and where
#
# With vocabulary $V$, positions $P$, token types $T$, width $H$, feed-forward width $I$ and
# $N$ blocks, a post-LayerNorm BERT encoder (no pooler) has
#
# $$\underbrace{(V + P + T)H + 2H}_{\text{embeddings + LayerNorm}}
#   + N\big[\underbrace{4(H^2 + H)}_{Q,K,V,O} + \underbrace{2\cdot 2H}_{\text{2 LayerNorms}}
#   + \underbrace{HI + I + IH + H}_{\text{feed-forward}}\big]$$
#
# parameters: more than half of MiniLM's sit in the word-embedding table.

# %%
V, P, T = cfg.vocab_size, cfg.max_position_embeddings, cfg.type_vocab_size
H, I, N = cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers
formula = (V + P + T) * H + 2 * H + N * (4 * (H * H + H) + 4 * H + H * I + I + I * H + H)
counted = sum(int(x.size) for x in jax.tree.leaves(params))
print(f"parameters: formula {formula:,}, counted in the params pytree {counted:,}; "
      f"word embeddings {V * H / counted:.0%}")
assert formula == counted

# %% [markdown]
# ## 2. Two review domains through the encoder
#
# `data.load("amazon_text")` holds the raw Blitzer reviews (2000 per domain, half positive).
# We draw `n` reviews of **books** and `n` of **kitchen** with an explicit key, tokenize them
# to a short `max_length` (enough words to tell a novel from a blender, and fast), and take
# the attention-mask-weighted mean of every hidden state: the embedding output (layer 0) and
# the six blocks (`models.extract_features`, `layers=range(7)`; layer 6 is the sentence
# embedding before normalisation).

# %%
n, max_length = 200, 48
reviews = data.load("amazon_text", domain=["books", "kitchen"], split="all")
k_books, k_kitchen = jax.random.split(jax.random.key(0))
rows = {name: np.asarray(jax.random.choice(k, np.flatnonzero(reviews["domain"] == d), (n,),
                                           replace=False))
        for name, k, d in (("books", k_books, 0), ("kitchen", k_kitchen, 3))}
texts = reviews["text"][np.concatenate([rows["books"], rows["kitchen"]])].tolist()
t0 = time.perf_counter()
feats = models.extract_features(apply_fn, params, texts, tokenize, layers=range(N + 1),
                                max_length=max_length, batch_size=100, progress=False)
embed_s = time.perf_counter() - t0
books, kitchen = feats[:n], feats[n:]          # (n, 7, H) each
print(f"embedded 2 x {n} reviews at max_length {max_length}: features {feats.shape}, "
      f"{embed_s:.1f} s; positive share books {reviews['y'][rows['books']].mean():.2f}, "
      f"kitchen {reviews['y'][rows['kitchen']].mean():.2f}")
assert feats.shape == (2 * n, N + 1, H) and np.isfinite(feats).all()

# %% [markdown]
# ## 3. Domain distance per layer: MMD² and the CORAL distance
#
# **MMD²** (`align.mmd2`, unbiased U-statistic, Gaussian kernel with the median-heuristic
# bandwidth of the pooled sample) compares all moments; it is ≈ 0 for two samples of one
# distribution and can then be slightly negative. As a yardstick we split each domain in two
# halves: the within-domain MMD² estimates 0 plus noise, and the books-vs-kitchen value must
# stand well above it. **CORAL distance** (`align.coral_loss`)
# $\lVert C_s - C_t\rVert_F^2 / 4d^2$ compares only the covariances $C$ (centred, $1/(n-1)$);
# with $d = 384$ and feature variances of order $10^{-2}$ its values are small, so we read
# it relative to its own scale.

# %%
half = n // 2
rows_out = []
for layer in range(N + 1):
    xs, xt = books[:, layer], kitchen[:, layer]
    rows_out.append((
        float(align.mmd2(xs, xt)),
        max(float(align.mmd2(xs[:half], xs[half:])), float(align.mmd2(xt[:half], xt[half:]))),
        float(align.coral_loss(xs, xt)),
    ))
mmd_cross, mmd_within, coral_before = map(np.array, zip(*rows_out))
print("layer   MMD2 books-kitchen   max MMD2 within (halves)   CORAL distance")
for layer, (c, w, cd) in enumerate(rows_out):
    print(f"{layer:5d}   {c:18.4f}   {w:24.5f}   {cd:14.3e}")
peak = int(mmd_cross.argmax())
print(f"cross-domain MMD2 exceeds 10x the within-domain value at every layer; it grows up "
      f"to layer {peak} and the last layer's is {mmd_cross[-1] / mmd_cross[peak]:.0%} of the peak")
assert (mmd_cross > 10 * mmd_within).all()
assert 0 < peak < N and mmd_cross[-1] < mmd_cross[peak]
assert (np.diff(mmd_cross[:peak + 1]) > 0).all()

# %% [markdown]
# The shift grows block by block up to a middle layer and shrinks again towards the last
# one (both asserted above). Books vs kitchen is mostly a change of topic; a plausible reading
# is that the middle blocks carry topic-laden contextual features, while the last layer is
# the one sentence-transformers tuned for semantic similarity. The CORAL distance (right
# panel below) compares second moments only and is not on the same scale as MMD².

# %%
fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
ax[0].plot(range(N + 1), mmd_cross, "o-", label="books vs kitchen")
ax[0].plot(range(N + 1), mmd_within, "s--", label="within a domain (halves, max)")
ax[0].set(xlabel="hidden state (0 = embeddings)", ylabel="MMD² (median bandwidth)")
ax[0].legend()
ax[1].semilogy(range(N + 1), coral_before, "o-")
ax[1].set(xlabel="hidden state (0 = embeddings)", ylabel="CORAL distance books vs kitchen")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 4. CORAL alignment, and a picture
#
# CORAL re-colours the source: $\tilde X_s = X_s (C_s+\epsilon I)^{-1/2}(C_t+\epsilon I)^{1/2}$
# (`align.coral`). The paper's $\epsilon = 1$ assumes standardised features; ours have
# variances of order $10^{-2}$ and $n < d$ (rank-deficient covariances), so we take the
# ridge relative to the scale, $\epsilon = 10^{-2}\cdot\overline{\operatorname{var}}$ (the
# mean per-dimension variance of the pooled features). With `match_mean=True` the source
# mean is moved to the target's as well. We align the last layer (the sentence embedding;
# each call costs two $384\times384$ eigendecompositions) and project both domains on the
# first two principal axes of the pooled sample, fixed before alignment so both panels share
# one coordinate system.

# %%
xs, xt = books[:, -1], kitchen[:, -1]
eps = 1e-2 * float(np.concatenate([xs, xt]).var(0).mean())
xs_aligned = np.asarray(align.coral(xs, xt, eps=eps, match_mean=True))
coral_after = float(align.coral_loss(xs_aligned, xt))
print(f"last layer: CORAL distance before {coral_before[-1]:.3e}, after CORAL "
      f"{coral_after:.3e} ({coral_before[-1] / coral_after:.0f}x smaller)")
assert coral_after < coral_before[-1] / 5

pooled = np.concatenate([xs, xt])
mu = pooled.mean(0)
_, _, vt = np.linalg.svd(pooled - mu, full_matrices=False)
proj = lambda x: (x - mu) @ vt[:2].T
mean_gap = lambda a, b: float(np.linalg.norm(proj(a).mean(0) - proj(b).mean(0)))
gap_before, gap_after = mean_gap(xs, xt), mean_gap(xs_aligned, xt)
print(f"distance of the domain means in the PCA plane: before {gap_before:.3f}, "
      f"after CORAL {gap_after:.1e}")
assert gap_after < 1e-3 * gap_before

fig, ax = plt.subplots(1, 2, figsize=(10, 4), sharex=True, sharey=True)
for a, src, title in ((ax[0], xs, "before"), (ax[1], xs_aligned, "after CORAL")):
    a.scatter(*proj(xt).T, s=8, alpha=0.6, label="kitchen (target)")
    a.scatter(*proj(src).T, s=8, alpha=0.6, label="books (source)")
    a.set(title=f"last layer, {title}", xlabel="PC 1", ylabel="PC 2")
ax[0].legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 5. LoRA: how many parameters, and the merge
#
# LoRA freezes a pretrained kernel $W$ and learns a low-rank update. In jtransfer's kernel
# layout ($y = xW$, $W \in \mathbb R^{d_{in}\times d_{out}}$, the transpose of PyTorch's
# weight) the adapter is $a \in \mathbb R^{d_{in}\times r}$ (random) and
# $b \in \mathbb R^{r\times d_{out}}$ (zero at initialisation, so training starts from the
# pretrained model), and
#
# $$W' = W + \frac{\alpha}{r}\, a\, b, \qquad
#   x W' = x W + \frac{\alpha}{r}\,(x a)\, b .$$
#
# One adapted matrix costs $r(d_{in} + d_{out})$ parameters instead of $d_{in}d_{out}$. The
# paper's setting, rank $r = 8$ on the query and value projections of each block, gives
# $N \cdot 2 \cdot r(H + H)$ for MiniLM. In the paper's notation ($h = W_0x + BAx$, PyTorch
# layout) $A = a^\top \in \mathbb R^{r\times d_{in}}$ and $B = b^\top$, so
# $W_0 + \frac{\alpha}{r}BA = (W')^\top$: the same adapter in either layout.

# %%
r, alpha = 8, 16.0
lora = adapters.lora_init(params, rank=r, alpha=alpha, targets=("*query/kernel",
                                                                 "*value/kernel"),
                          key=jax.random.key(1))
derived = N * 2 * r * (H + H)
print(f"rank {r} on query/value: {len(lora.paths)} matrices x {r} x ({H} + {H}) = "
      f"{derived:,} trainable parameters = {derived / counted:.2%} of the encoder "
      f"(full matrices: {N * 2 * H * H:,})")
assert derived == adapters.lora_num_params(lora) == 73_728 and len(lora.paths) == 2 * N

flat = lambda tree: {adapters.path_str(p): np.asarray(x, np.float64)
                    for p, x in jax.tree_util.tree_flatten_with_path(tree)[0]}
W = flat(params)
merged0 = flat(adapters.lora_merge(params, lora))
unchanged = all((merged0[p] == W[p]).all() for p in W)
print(f"b = 0 at initialisation: the merged encoder equals the pretrained one: {unchanged}")
assert unchanged

# %% [markdown]
# A trained adapter has $b \ne 0$. Draw one, merge it with `adapters.lora_merge`, and compare
# every adapted kernel with the formula computed in NumPy (float64), in both layouts, and the
# two ways of computing a projection (merged kernel vs. frozen kernel plus low-rank path) on
# real layer-0 features.

# %%
is_factors = lambda x: isinstance(x, adapters.LoraFactors)
factors, treedef = jax.tree.flatten(lora, is_leaf=is_factors)
keys = jax.random.split(jax.random.key(2), len(factors))
lora = jax.tree.unflatten(treedef, [adapters.LoraFactors(f.a, 0.1 * jax.random.normal(k, f.b.shape))
                                    for f, k in zip(factors, keys)])
merged = flat(adapters.lora_merge(params, lora))
ab = {adapters.path_str(p): (np.asarray(f.a, np.float64), np.asarray(f.b, np.float64))
      for p, f in jax.tree_util.tree_flatten_with_path(lora.factors, is_leaf=is_factors)[0]}
s = alpha / r
err_kernel = max(np.abs(merged[p] - (W[p] + s * a @ b)).max() for p, (a, b) in ab.items())
err_torch = max(np.abs(merged[p].T - (W[p].T + s * b.T @ a.T)).max() for p, (a, b) in ab.items())
untouched = all((merged[p] == W[p]).all() for p in W if p not in ab)
a, b = ab["layers/0/query/kernel"]
x = books[:, 0].astype(np.float64)
lhs = x @ merged["layers/0/query/kernel"]
rhs = x @ W["layers/0/query/kernel"] + s * (x @ a) @ b
err_path = np.abs(lhs - rhs).max() / np.abs(rhs).max()
print(f"max |lora_merge - (W + (alpha/r) a b)| over the {len(ab)} kernels: {err_kernel:.1e}; "
      f"PyTorch layout W^T + (alpha/r) B A: {err_torch:.1e}; other leaves unchanged: "
      f"{untouched}; x W' vs x W + (alpha/r)(x a) b: relative {err_path:.1e}")
assert err_kernel < 1e-6 and err_torch < 1e-6 and untouched and err_path < 1e-6

# %% [markdown]
# Merging costs one $d_{in}\times r$ by $r\times d_{out}$ product per adapted matrix, once;
# the merged encoder then runs at exactly the pretrained encoder's speed (no extra latency,
# the paper's point against adapter layers), and `adapters.lora_classifier` trains $a, b$
# and a linear head with the body as a constant (see `experiments/bench_lm.py --lora`).

# %%
elapsed = time.perf_counter() - t_start
print(f"notebook body ran in {elapsed:.0f} s (embedding {embed_s:.0f} s)")

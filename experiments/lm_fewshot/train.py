"""Few-shot sentiment on unseen FDU-MTL domains: meta-learning over an adapter and a head.

Protocol (README): meta-train on the 12 domains of ``config.meta_train`` (their train and
validation lines), meta-test on the 4 of ``config.meta_test`` (their validation and test
lines), never seen before meta-testing. Episodes: 2-way K-shot, ``num_queries`` queries per
class, from ``data.episode_sampler`` over each domain's cached, z-scored features (the
sampler relabels the two classes at random in each episode, so the label of a class must be
read from the support set). The learner: a residual bottleneck adapter and a 2-way softmax
head (``experiments/_fdu_adapter.py``) on the frozen encoder's pooled features; the head
starts at zero.

Methods (``METHODS``):

* ``maml`` (second order), ``fomaml``, ``anil`` (inner loop on the head only), ``metasgd``
  (learned per-parameter inner rates, one inner step) via ``jtransfer.meta``; ``reptile``
  (``meta.reptile_adapted`` on support + query of each meta-training episode,
  ``meta.reptile`` outer step).
* ``ft_multitask``: the adapter of a hard-sharing model (shared adapter, one head per
  meta-training domain) trained on the 12 meta-training domains, then adapter + a zero head
  fine-tuned on each test episode's support set.
* ``ft_scratch``: the same fine-tuning from the initial adapter (identity) and a zero head.
* ``prototype``: nearest class mean of the support set on the frozen features (Euclidean).

At meta-test every gradient method adapts with ``test_steps`` steps of SGD with rate
``inner_lr`` on the support set (Meta-SGD: its learned rates, ``metasgd_steps`` steps).
Accuracy on the query set of ``num_test_episodes`` episodes per K (an equal share from each
meta-test domain; the same episodes for every method).
"""

from __future__ import annotations

import functools
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments import _fdu_adapter as model
from experiments._fdu_features import load_features, probe_layer
from jtransfer import data, meta, parallel, train

META = ("maml", "fomaml", "anil", "reptile", "metasgd")
METHODS = META + ("ft_multitask", "ft_scratch", "prototype")


def arrays(feats: dict, config, layer: int) -> tuple[dict, dict]:
    """``({meta-train domain: (x, y)}, {meta-test domain: (x, y)})`` at position ``layer``.

    z-scored with the mean and standard deviation (ddof = 0) of the meta-training lines.
    """
    pick = lambda d, splits: np.isin(feats[d]["split"], splits)
    tr = {
        d: (
            feats[d]["x"][pick(d, ("train", "validation")), layer],
            feats[d]["y"][pick(d, ("train", "validation"))],
        )
        for d in config.meta_train
    }
    te = {
        d: (
            feats[d]["x"][pick(d, ("validation", "test")), layer],
            feats[d]["y"][pick(d, ("validation", "test"))],
        )
        for d in config.meta_test
    }
    allx = np.concatenate([x for x, _ in tr.values()])
    mu, sd = allx.mean(0), allx.std(0, ddof=0) + 1e-6
    z = lambda a: ((a - mu) / sd).astype(np.float32)
    return (
        {d: (z(x), y.astype(np.int32)) for d, (x, y) in tr.items()},
        {d: (z(x), y.astype(np.int32)) for d, (x, y) in te.items()},
    )


def init_params(key, dim, rank):
    return {
        "ad": model.adapter_init(key, dim, rank),
        "head": {"w": jnp.zeros((dim, 2)), "c": jnp.zeros((2,))},
    }


def loss_fn(params, batch):
    x, y = batch
    f = x + model.adapter_delta(params["ad"], x)
    logits = model.add_bias(f @ params["head"]["w"], params["head"]["c"])
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y))


def accuracy(params, x, y):
    f = x + model.adapter_delta(params["ad"], x)
    logits = model.add_bias(f @ params["head"]["w"], params["head"]["c"])
    return jnp.mean(jnp.argmax(logits, -1) == y)


HEAD_ONLY = {"ad": {"down": False, "b": False, "up": False}, "head": {"w": True, "c": True}}


def index_episodes(sets: dict, k: int, num_queries: int, per_domain: int, key) -> list:
    """Episodes of row indices, ``per_domain`` from each domain, by ``data.sample_episodes``.

    The library's sampler draws from ``x = arange(n)``, so an episode is a set of rows; the
    features are gathered on the host (no feature copy per episode, one small compilation per
    domain). Returns ``[(support rows, support labels, query rows, query labels)]`` per domain.
    """
    out = []
    for j, (_, y) in enumerate(sets.values()):
        eps = data.sample_episodes(
            np.arange(len(y), dtype=np.int32),
            y,
            num_ways=2,
            num_shots=k,
            num_queries=num_queries,
            num_episodes=per_domain,
            key=jax.random.fold_in(key, j),
        )
        out.append(tuple(np.asarray(e) for e in eps))
    return out


def gather(sets: dict, eps: list, lo: int, hi: int) -> tuple[np.ndarray, ...]:
    """Features ``(xs, ys, xq, yq)`` of episodes ``lo:hi`` of every domain, concatenated."""
    parts = []
    for (x, _), (si, ys, qi, yq) in zip(sets.values(), eps, strict=True):
        parts.append((x[si[lo:hi]], ys[lo:hi], x[qi[lo:hi]], yq[lo:hi]))
    return tuple(np.concatenate(p) for p in zip(*parts, strict=True))


def make_task_mesh(config, meta_batch: int):
    """The ``tasks`` mesh of ``config.mesh_shape`` (``(-1,)`` = every device), or None for 1;
    the device count must divide the meta-batch (``episodes_per_domain`` x domains)."""
    return parallel.mesh_from_config(config, "tasks", divides={"episodes_per_domain": meta_batch})


def meta_train(method, config, train_sets, k, key, dim, *, log=False):
    """Meta-trains ``method`` for ``config.meta_steps`` steps; returns params (and rates)."""
    k_init, k_data = jax.random.split(key)
    params = init_params(k_init, dim, config.rank)
    rates = meta.metasgd_init(params, config.inner_lr) if method == "metasgd" else None
    opt = meta.reptile(config.reptile_step) if method == "reptile" else optax.adam(config.meta_lr)
    theta = (params, rates) if method == "metasgd" else params
    opt_state = opt.init(theta)
    steps, epd = config.inner_steps, config.episodes_per_domain
    eps = index_episodes(train_sets, k, config.num_queries, config.meta_steps * epd, k_data)
    mesh = make_task_mesh(config, len(train_sets) * epd)

    def loss(theta, tasks):
        if method == "metasgd":
            p, r = theta
            return meta.metasgd(loss_fn, p, r, tasks, num_steps=config.metasgd_steps)
        kw = dict(inner_lr=config.inner_lr, num_steps=steps)
        if method == "anil":
            return meta.anil(loss_fn, theta, tasks, inner_mask=HEAD_ONLY, **kw)
        return meta.maml_loss(loss_fn, theta, tasks, first_order=method == "fomaml", **kw)

    @jax.jit
    def step(theta, opt_state, xs, ys, xq, yq):
        # task-parallel: the meta-batch's episodes are split over the devices (no-op without
        # a mesh); the parameters are replicated and the meta-gradient is all-reduced
        xs, ys, xq, yq = parallel.constrain((xs, ys, xq, yq), mesh, "tasks")
        if method == "reptile":
            both = (jnp.concatenate([xs, xq], 1), jnp.concatenate([ys, yq], 1))
            phi = meta.reptile_adapted(
                loss_fn, theta, both, inner_lr=config.inner_lr, num_steps=steps
            )
            upd, opt_state = opt.update(phi, opt_state, theta)
            return optax.apply_updates(theta, upd), opt_state, jnp.float32(0.0)
        val, g = jax.value_and_grad(loss)(theta, ((xs, ys), (xq, yq)))
        upd, opt_state = opt.update(g, opt_state, theta)
        return optax.apply_updates(theta, upd), opt_state, val

    for i in range(config.meta_steps):
        theta, opt_state, val = step(
            theta, opt_state, *gather(train_sets, eps, i * epd, (i + 1) * epd)
        )
        if log and (i + 1) % max(config.meta_steps // 4, 1) == 0:
            print(f"  {method} meta step {i + 1}: query loss {float(val):.3f}", flush=True)
    return theta


def multitask_adapter(config, train_sets, key, dim):
    """The shared adapter of a hard-sharing model trained on the meta-training domains."""
    doms = list(train_sets)
    t = len(doms)
    k_init, k_data = jax.random.split(key)
    params = {"ad": model.adapter_init(k_init, dim, config.rank), "head": model.head_init(dim, t)}
    n = jnp.array([len(train_sets[d][1]) for d in doms])
    m = int(n.max())
    x = jnp.stack(
        [jnp.pad(train_sets[d][0], ((0, m - len(train_sets[d][0])), (0, 0))) for d in doms]
    )
    y = jnp.stack([jnp.pad(train_sets[d][1], (0, m - len(train_sets[d][1]))) for d in doms])
    opt = optax.adam(config.meta_lr)

    def loss(p, xb, yb):
        f = xb + model.adapter_delta(p["ad"], xb)
        logits = jax.vmap(model.logit)(p["head"], f)
        return jnp.sum(jnp.mean(model.bce(logits, yb), axis=1))

    @jax.jit
    def run(params):
        def body(i, c):
            p, s = c
            u = jax.random.uniform(jax.random.fold_in(k_data, i), (t, config.mt_batch))
            idx = jnp.floor(u * n[:, None]).astype(jnp.int32)
            xb = jnp.take_along_axis(x, idx[..., None], axis=1)
            yb = jnp.take_along_axis(y, idx, axis=1)
            g = jax.grad(loss)(p, xb, yb)
            upd, s = opt.update(g, s, p)
            return optax.apply_updates(p, upd), s

        return jax.lax.fori_loop(0, config.mt_steps, body, (params, opt.init(params)))[0]

    return run(params)["ad"]


@functools.cache
def _adapt_eval(head_only: bool, steps: int):
    """jit(vmap) of support adaptation + query accuracy; params and rates are arguments."""
    mask = HEAD_ONLY if head_only else None

    def one(params, lr, xs, ys, xq, yq):
        phi = meta.adapt(loss_fn, params, (xs, ys), inner_lr=lr, num_steps=steps, mask=mask)
        return accuracy(phi, xq, yq)

    return jax.jit(jax.vmap(one, in_axes=(None, None, 0, 0, 0, 0)))


def evaluate(method, theta, episodes, config, dim, key):
    """Query accuracy of every episode ``(E,)`` after adapting on its support set."""
    xs, ys, xq, yq = episodes
    if method == "prototype":
        k = xs.shape[1] // 2  # K support rows per class
        means = jnp.stack(
            [jnp.sum(jnp.where((ys == c)[..., None], xs, 0), 1) / k for c in (0, 1)], 1
        )
        d2 = jnp.sum((xq[:, :, None] - means[:, None]) ** 2, -1)
        return jnp.mean(jnp.argmin(d2, -1) == yq, axis=1)
    if method == "metasgd":
        params, lr = theta
        fn = _adapt_eval(False, config.metasgd_steps)
    else:
        lr = jnp.float32(config.inner_lr)
        fn = _adapt_eval(method == "anil", config.test_steps)
        params = theta
        if method in ("ft_multitask", "ft_scratch"):
            params = init_params(key, dim, config.rank)
            if method == "ft_multitask":
                params["ad"] = theta
    return fn(params, lr, xs, ys, xq, yq)


def test_episodes(test_sets, k, config, seed):
    """``num_test_episodes`` episodes, an equal share from each meta-test domain, fixed keys."""
    per = config.num_test_episodes // len(test_sets)
    eps = index_episodes(test_sets, k, config.num_queries, per, train.keys(seed, f"test/{k}"))
    return tuple(jnp.asarray(a) for a in gather(test_sets, eps, 0, per))


def validate_config(config) -> None:
    train.validate_config(
        config,
        subsets={"methods": METHODS},
        positive_ints=(
            "rank",
            "meta_steps",
            "inner_steps",
            "test_steps",
            "num_test_episodes",
            "num_queries",
            "episodes_per_domain",
            "mt_steps",
            "mt_batch",
        ),
    )
    overlap = set(config.meta_train) & set(config.meta_test)
    if overlap:
        raise ValueError(f"config.meta_train and config.meta_test share {sorted(overlap)}")
    if config.num_test_episodes % len(config.meta_test):
        raise ValueError(
            f"config.num_test_episodes ({config.num_test_episodes}) must be a multiple of "
            f"len(config.meta_test) ({len(config.meta_test)})"
        )


def train_and_evaluate(config, workdir: str) -> dict:
    """Returns ``{"acc": {K: {method: [accuracy per test episode]}}, "seconds": {...}}``."""
    validate_config(config)
    t0 = time.perf_counter()
    cfg = config.copy_and_resolve_references()
    with cfg.unlocked():
        cfg.domains = tuple(config.meta_train) + tuple(config.meta_test)
    feats, _ = load_features(cfg, log=True)
    layer, probe = config.layer, {}
    if layer < 0:  # chosen by logistic probes on the meta-training domains' validation lines
        layer, probe = probe_layer(feats, config.meta_train, config.layers)
        print(f"layer position {layer} (hidden state {config.layers[layer]}): {probe}")
    train_sets, test_sets = arrays(feats, config, layer)
    dim = next(iter(train_sets.values()))[0].shape[1]
    seed = config.seed
    mt = None
    if "ft_multitask" in config.methods:
        mt = multitask_adapter(config, train_sets, train.keys(seed, "multitask"), dim)
    acc, seconds = {}, {}
    for k in config.shots:
        eps = test_episodes(test_sets, k, config, seed)
        acc[k] = {}
        for method in config.methods:
            t1 = time.perf_counter()
            if method in META:
                theta = meta_train(
                    method, config, train_sets, k, train.keys(seed, f"{method}/{k}"), dim, log=True
                )
            else:
                theta = mt
            a = evaluate(method, theta, eps, config, dim, train.keys(seed, "ft_init"))
            acc[k][method] = np.asarray(a).tolist()
            seconds[f"{method}/{k}"] = time.perf_counter() - t1
            half = 1.96 * np.std(a, ddof=1) / np.sqrt(len(a))
            print(
                f"{k}-shot {method}: {100 * np.mean(a):.2f} ± {100 * half:.2f} "
                f"({seconds[f'{method}/{k}']:.0f} s)",
                flush=True,
            )
    return {
        "acc": acc,
        "seconds": seconds,
        "total_seconds": time.perf_counter() - t0,
        "layer": int(config.layers[layer]),
        "probe_val_err": {int(config.layers[k]): v for k, v in probe.items()},
    }

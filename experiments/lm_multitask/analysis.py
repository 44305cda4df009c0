"""Negative-transfer detection, the vmapped-step benchmark and the Pareto plot of lm_multitask.

* :func:`detector`: for every joint method, seed and domain, ``select.negative_transfer_report``
  of the method against single-task on the domain's **validation** lines (per-example
  correctness at the validation-chosen points), against the test outcome (the method's test
  error above single-task's: "hurt"). Hit rate = flagged negative among the hurt,
  false-alarm rate = flagged negative among the others.
* :func:`step_benchmark`: one vmapped step of 16 stacked adapters (the ``single_task`` step of
  ``train``) against 16 sequential jitted steps of one adapter each, the same maths (Adam is
  per coordinate): wall time (median of ``repeats``), the compiled step's memory
  (``memory_analysis``: arguments + outputs + temporaries) and the largest absolute difference
  of the updated parameters.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments import _fdu_adapter as model
from jtransfer import select


def detector(per_seed: dict, *, confidence: float = 0.95) -> dict[str, dict]:
    """``{method: {"hurt", "flagged", "hits", "false_alarms", "n"}}`` per seed (lists)."""
    base = per_seed["single_task"]
    out = {}
    for m, runs in per_seed.items():
        if m == "single_task":
            continue
        rec = {"hurt": [], "flagged": [], "hits": [], "false_alarms": [], "n": []}
        for run, b in zip(runs, base, strict=True):
            hurt = np.asarray(run["test_err"]) > np.asarray(b["test_err"])
            flag = np.array(
                [
                    select.negative_transfer_report(
                        jnp.asarray(a, jnp.float32),
                        jnp.asarray(c, jnp.float32),
                        confidence=confidence,
                    ).verdict
                    == "negative transfer"
                    for a, c in zip(run["val_correct"], b["val_correct"], strict=True)
                ]
            )
            rec["hurt"].append(int(hurt.sum()))
            rec["flagged"].append(int(flag.sum()))
            rec["hits"].append(int((flag & hurt).sum()))
            rec["false_alarms"].append(int((flag & ~hurt).sum()))
            rec["n"].append(len(hurt))
        out[m] = rec
    return out


def rates(rec: dict) -> tuple[float, float]:
    """(hit rate, false-alarm rate) pooled over seeds; NaN where the denominator is 0."""
    hurt, n = sum(rec["hurt"]), sum(rec["n"])
    hit = sum(rec["hits"]) / hurt if hurt else float("nan")
    fa = sum(rec["false_alarms"]) / (n - hurt) if n - hurt else float("nan")
    return hit, fa


def _adam_step(opt, loss):
    def step(params, opt_state, x, y):
        g = jax.grad(loss)(params, x, y)
        upd, opt_state = opt.update(g, opt_state, params)
        return optax.apply_updates(params, upd), opt_state

    return step


def _memory(fn, *args) -> int:
    m = jax.jit(fn).lower(*args).compile().memory_analysis()
    if m is None:
        return -1
    return int(m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes)


def step_benchmark(
    num_tasks: int, dim: int, rank: int, batch: int, *, repeats: int = 20, key=None
) -> dict:
    """Times one vmapped ``T``-adapter step against ``T`` sequential one-adapter steps.

    Returns ``{"vmapped_ms", "sequential_ms"}`` (medians over ``repeats``), the compiled
    memory of the vmapped step and of one single-adapter step (``*_bytes``), the memory of the
    inputs (``features_bytes``) and ``max_abs_diff`` of the updated parameters.
    """
    k_ad, k_x, k_y = jax.random.split(jax.random.key(0) if key is None else key, 3)
    params = {
        "ad": model.adapter_init(k_ad, dim, rank, num_tasks),
        "head": model.head_init(dim, num_tasks),
    }
    # the up-projection and head start at zero; perturb them so that every gradient is live
    params = jax.tree.map(lambda a: a + 0.01 * jax.random.normal(k_ad, a.shape), params)
    x = jax.random.normal(k_x, (num_tasks, batch, dim))
    y = jax.random.bernoulli(k_y, 0.5, (num_tasks, batch)).astype(jnp.int32)
    opt = optax.adam(1e-3)

    def one_loss(p, xt, yt):
        f = xt + model.adapter_delta(p["ad"], xt)
        return jnp.mean(model.bce(model.logit(p["head"], f), yt))

    def all_loss(p, xs, ys):
        return jnp.sum(jax.vmap(one_loss)(p, xs, ys))

    step_v = jax.jit(_adam_step(opt, all_loss))
    step_1 = jax.jit(_adam_step(opt, one_loss))
    state_v = opt.init(params)
    singles = [jax.tree.map(lambda a, t=t: a[t], params) for t in range(num_tasks)]
    states_1 = [opt.init(p) for p in singles]

    def run_v():
        return jax.block_until_ready(step_v(params, state_v, x, y))

    def run_seq():
        outs = [step_1(singles[t], states_1[t], x[t], y[t]) for t in range(num_tasks)]
        return jax.block_until_ready(outs)

    pv, _ = run_v()
    ps = run_seq()
    diff = max(
        float(jnp.max(jnp.abs(a - jnp.stack(b))))
        for a, b in zip(
            jax.tree.leaves(pv),
            zip(*[jax.tree.leaves(p) for p, _ in ps], strict=True),
            strict=True,
        )
    )
    tv, ts = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run_v()
        tv.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        run_seq()
        ts.append(time.perf_counter() - t0)
    return {
        "vmapped_ms": 1e3 * float(np.median(tv)),
        "sequential_ms": 1e3 * float(np.median(ts)),
        "vmapped_bytes": _memory(_adam_step(opt, all_loss), params, state_v, x, y),
        "single_bytes": _memory(_adam_step(opt, one_loss), singles[0], states_1[0], x[0], y[0]),
        "features_bytes": int(x.nbytes),
        "max_abs_diff": diff,
    }


def pareto_plot(per_seed: dict, domains, methods, path, labels=None):
    """Per-domain test error of ``methods`` (mean over seeds) against single-task's."""
    import matplotlib.pyplot as plt

    from jtransfer import train

    mean_err = lambda m: 100 * np.mean([r["test_err"] for r in per_seed[m]], axis=0)
    base = mean_err("single_task")
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    lo, hi = base.min(), base.max()
    for i, m in enumerate(methods):
        e = mean_err(m)
        lo, hi = min(lo, e.min()), max(hi, e.max())
        ax.scatter(base, e, s=22, color=plt.cm.tab10(i % 10), label=(labels or {}).get(m, m))
    ax.plot([lo - 1, hi + 1], [lo - 1, hi + 1], "k--", lw=0.8)
    for j, d in enumerate(domains):
        ax.annotate(d[:6], (base[j], base[j]), fontsize=6, alpha=0.6)
    ax.set_xlabel("single-task test error (%)")
    ax.set_ylabel("multi-task test error (%)")
    ax.set_title("FDU-MTL per domain (below the diagonal: sharing helps)")
    ax.legend(fontsize=7)
    return train.save_figure(fig, path)


def probe_train_lines(feats: dict, domains, layer: int, num_small: int) -> dict[str, dict]:
    """What the train lines beyond the first ``num_small`` buy a frozen-feature probe.

    For every domain, scikit-learn ``LogisticRegression(C=1)`` on the standardised features
    of position ``layer`` of (a) the first ``num_small`` train lines (of the fixed
    permutation ``_fdu_features.train_order``) and (b) every train line, scored on the
    validation and test lines (test only scored, nothing chosen on it).

    Returns ``{"small" | "all": {"val_err": [per domain], "test_err": [...], "n": [...]}}``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    out = {k: {"val_err": [], "test_err": [], "n": []} for k in ("small", "all")}
    for d in domains:
        f = feats[d]
        x, y, s = f["x"][:, layer], f["y"], f["split"]
        tr = np.flatnonzero(s == "train")
        for k, rows in (("small", tr[:num_small]), ("all", tr)):
            sc = StandardScaler().fit(x[rows])
            clf = LogisticRegression(C=1.0, max_iter=2000).fit(sc.transform(x[rows]), y[rows])
            for split, name in (("validation", "val_err"), ("test", "test_err")):
                m = s == split
                out[k][name].append(float(1.0 - clf.score(sc.transform(x[m]), y[m])))
            out[k]["n"].append(len(rows))
    return out


def truncation(texts, tokenizer, max_length: int, *, limit: int = 512) -> dict[str, float]:
    """Word pieces per line (up to ``limit``): median, and the fraction over ``max_length``."""
    n = []
    for s in range(0, len(texts), 1000):
        t = tokenizer(list(texts[s : s + 1000]), max_length=limit)
        n.append(np.asarray(t["attention_mask"]).sum(1))
    n = np.concatenate(n)
    return {
        "median_pieces": float(np.median(n)),
        "frac_truncated": float(np.mean(n > max_length)),
        "frac_at_limit": float(np.mean(n >= limit)),
        "num_lines": int(len(n)),
    }

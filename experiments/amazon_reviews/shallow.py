"""The DANN authors' shallow protocol on the Amazon reviews (Ganin et al., JMLR 2016, §5.1.1).

Follows the released reference code, ``GRAAL-Research/domain_adversarial_neural_network``
(``DANN.py`` and ``experiments_amazon.py`` at commit 91eeb0c, the last before mSDA became
the script's default): raw count features (``load_svmlight_files`` + ``todense``, no
binarisation); one hidden layer of 50 sigmoid units, a 2-way softmax label output and a
logistic domain regressor on the hidden layer; W and V drawn uniformly in
:math:`\\pm\\sqrt{6/(\\mathrm{fan_{in}}+\\mathrm{fan_{out}})}`, biases and the domain
regressor at 0; plain SGD, one source example per step in file order, each paired with one
target example drawn uniformly with replacement; learning rate 1e-3; constant λ = 0.1
(0 = the standard NN); at most 200 epochs with early stopping on the last 10 % of the source
(validation risk ``<=`` best keeps the weights, training continues until epoch
``max(30, int(1.5·best epoch))``).

The reference's per-example update is, written as a loss (its regressor outputs
:math:`g(h) = \\sigma(u^\\top h + d) = P(\\text{source})`),

.. math::

    \\ell = \\mathrm{CE}(\\mathrm{softmax}(V h_s + c), y_s)
      + \\lambda\\,[-\\log g(R(h_s)) - \\log(1 - g(R(h_t)))],

with :math:`R` the gradient reversal of strength 1 (``align.gradient_reversal``): the
regressor descends λ·(its loss), the hidden layer ascends it. One SGD step on ℓ is
the reference's step (``tests/experiments/test_amazon_shallow.py`` checks it against a
NumPy transcription of the reference loop).

Runs of several seeds and λ values share one ``vmap``; inputs are sparse rows (padded index
and count arrays), so a step touches only the rows of W of the words present.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from jtransfer import align


# ----------------------------------------------------------------------------- data
def sparse_rows(x: np.ndarray, width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Padded sparse rows of a dense ``(n, d)`` array: indices ``(n, k)`` int32 and values
    ``(n, k)`` float32 (padding: index 0, value 0, which contributes nothing)."""
    nz = [np.flatnonzero(r) for r in x]
    k = max(1, max(len(i) for i in nz)) if width is None else width
    idx = np.zeros((len(x), k), np.int32)
    val = np.zeros((len(x), k), np.float32)
    for j, i in enumerate(nz):
        idx[j, : len(i)] = i
        val[j, : len(i)] = x[j, i]
    return idx, val


# ----------------------------------------------------------------------------- model
def init_params(key: jax.Array, d: int, hidden: int, n_labels: int = 2) -> dict:
    """The reference's initialisation: W ``(d, hidden)`` and V ``(hidden, n_labels)``
    uniform in ±sqrt(6/(fan_in+fan_out)); b, c, u, the domain bias d at 0."""
    kw, kv = jax.random.split(key)
    ew, ev = np.sqrt(6.0 / (d + hidden)), np.sqrt(6.0 / (hidden + n_labels))
    return {
        "W": jax.random.uniform(kw, (d, hidden), jnp.float32, -ew, ew),
        "b": jnp.zeros((hidden,), jnp.float32),
        "V": jax.random.uniform(kv, (hidden, n_labels), jnp.float32, -ev, ev),
        "c": jnp.zeros((n_labels,), jnp.float32),
        "u": jnp.zeros((hidden,), jnp.float32),
        "d": jnp.zeros((), jnp.float32),
    }


def _hidden(w_rows, b, val):
    return jax.nn.sigmoid(val @ w_rows + b)


def example_loss(rows, p, val_s, y_s, val_t, lam):
    """ℓ of the module doc for one (source, target) pair; ``rows = (W[idx_s], W[idx_t])``."""
    hs = _hidden(rows[0], p["b"], val_s)
    ht = _hidden(rows[1], p["b"], val_t)
    task = -jax.nn.log_softmax(hs @ p["V"] + p["c"])[y_s]
    # Domain logits as P(target) = 1 - g: source is class 0, target class 1 (align's order).
    zs = -(align.gradient_reversal(hs, 1.0) @ p["u"] + p["d"])
    zt = -(align.gradient_reversal(ht, 1.0) @ p["u"] + p["d"])
    return task + lam * 2.0 * align.domain_adversarial_loss(zs[None], zt[None])


def sgd_step(p, ex, lam, lr):
    """One SGD step of the reference for a batch of ``R`` runs on one source example and one
    target example per run, ``ex = (idx_s (k,), val_s (k,), y_s, idx_t (R, k), val_t (R, k))``.

    ``p["W"]`` is ``(d, R, H)`` (the runs side by side, so one gather and one scatter serve
    them all), the other leaves have the run axis first. Only the rows of W of the words
    present are read and written; the runs stay independent (the loss is their sum).
    """
    idx_s, val_s, y_s, idx_t, val_t = ex
    n_runs, k = idx_t.shape
    # One gather and one scatter over (word, run) pairs: source words for every run, then
    # each run's target words (a second gather after the scatter would copy W every step).
    words = jnp.concatenate([jnp.broadcast_to(idx_s, (n_runs, k)), idx_t], axis=1)
    runs = jnp.broadcast_to(jnp.arange(n_runs)[:, None], words.shape)
    rows = p["W"][words, runs]  # (R, 2k, H)
    small = {name: v for name, v in p.items() if name != "W"}

    def total(rows, small):
        per_run = jax.vmap(
            lambda r, q, vt, lam_r: example_loss((r[:k], r[k:]), q, val_s, y_s, vt, lam_r)
        )
        return jnp.sum(per_run(rows, small, val_t, lam))

    g_rows, g = jax.grad(total, argnums=(0, 1))(rows, small)
    new = {name: small[name] - lr * g[name] for name in small}
    new["W"] = p["W"].at[words, runs].add(-lr * g_rows)
    return new


def stack_runs(params: list[dict]) -> dict:
    """Per-run parameter dicts -> the batched layout (NumPy float32; W ``(d, R, H)``, the
    other leaves run-first)."""
    out = {k: np.stack([np.asarray(q[k], np.float32) for q in params]) for k in params[0]}
    out["W"] = np.ascontiguousarray(np.moveaxis(out["W"], 0, 1))
    return out


def predict(params, x) -> np.ndarray:
    """Labels ``(R, n)`` of ``x`` ``(n, d)`` (dense, or a SciPy sparse matrix: the bag of
    words is ~2 % non-zero) for a batch of runs (argmax of the softmax, as the reference)."""
    import scipy.sparse

    d, n_runs, h = params["W"].shape
    x = scipy.sparse.csr_matrix(x, dtype=np.float32)
    a = np.asarray(x @ params["W"].reshape(d, n_runs * h)).reshape(-1, n_runs, h)
    hid = 1.0 / (1.0 + np.exp(-(a.transpose(1, 0, 2) + params["b"][:, None])))
    return np.argmax(np.einsum("rnh,rhk->rnk", hid, params["V"]) + params["c"][:, None], -1)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def run_epoch(
    p: dict, src, tgt, t_draw: np.ndarray, lams: np.ndarray, lr: float, reversal: float = 1.0
) -> None:
    """One epoch of the reference's SGD for a batch of ``R`` runs, in place (NumPy).

    ``src = (indptr, indices, values, labels)`` is the source set in CSR form, visited in
    order; ``tgt = (indptr, indices, values)`` the target set; ``t_draw (R, n_s)`` the target
    example of each run beside each source example (ignored where ``λ = 0``). The closed-form
    gradients of :func:`example_loss` (the reference's ``delta_*``), applied to the rows of
    W of the words present only. A loop in NumPy because the step is tiny and sequential:
    ``tests/experiments/test_amazon_shallow.py`` checks it against :func:`sgd_step`.
    ``reversal = -1`` flips the gradient reversal (the hidden layer then helps the domain
    regressor instead of fooling it): a deliberately wrong variant for the tests.
    """
    s_ptr, s_idx, s_val, s_y = src
    t_ptr, t_idx, t_val = tgt
    W, b, V, c, u, d = (p[k] for k in ("W", "b", "V", "c", "u", "d"))
    lams = np.asarray(lams, np.float32)
    adv = np.flatnonzero(lams > 0)  # runs with a domain term
    lam_a = lams[adv][:, None]
    n_adv = len(adv)
    onehot = np.eye(V.shape[2], dtype=np.float32)
    if n_adv:  # every step's target words, run by run, gathered once per epoch
        js = t_draw[adv].T  # (n_s, A)
        lens = (t_ptr[js + 1] - t_ptr[js]).ravel()
        offs = np.concatenate([[0], np.cumsum(lens)])
        flat = np.repeat(t_ptr[js].ravel() - offs[:-1], lens) + np.arange(offs[-1])
        wt_all, vt_all = t_idx[flat], t_val[flat]
        rt_all = np.repeat(np.tile(adv, js.shape[0]), lens)
        lens = lens.reshape(js.shape)
        step_ptr = offs[::n_adv]
    for i in range(len(s_ptr) - 1):
        ws, vs = s_idx[s_ptr[i] : s_ptr[i + 1]], s_val[s_ptr[i] : s_ptr[i + 1]]
        rows = W[ws]  # (k, R, H)
        hs = _sigmoid(np.tensordot(vs, rows, 1) + b)  # (R, H)
        z = np.einsum("rh,rhk->rk", hs, V) + c
        o = np.exp(z - z.max(1, keepdims=True))
        o /= o.sum(1, keepdims=True)
        dc = o - onehot[s_y[i]]
        dV = hs[:, :, None] * dc[:, None, :]
        dh_s = np.einsum("rhk,rk->rh", V, dc) * hs * (1.0 - hs)
        if n_adv:
            a, e = step_ptr[i], step_ptr[i + 1]
            wt, vt, rt, ln = wt_all[a:e], vt_all[a:e], rt_all[a:e], lens[i]
            starts = offs[i * n_adv : (i + 1) * n_adv] - a
            ht = _sigmoid(np.add.reduceat(vt[:, None] * W[wt, rt], starts, axis=0) + b[adv])
            gs = _sigmoid(np.sum(u[adv] * hs[adv], 1) + d[adv])[:, None]
            gt = _sigmoid(np.sum(u[adv] * ht, 1) + d[adv])[:, None]
            dd = lam_a * (1.0 - gs) - lam_a * gt  # the reference's delta_d (ascent on u, d)
            dU = lam_a * (1.0 - gs) * hs[adv] - lam_a * gt * ht
            dh_s[adv] += reversal * lam_a * (1.0 - gs) * u[adv] * hs[adv] * (1.0 - hs[adv])
            dh_t = -reversal * lam_a * gt * u[adv] * ht * (1.0 - ht)
        W[ws] -= lr * vs[:, None, None] * dh_s[None]
        b -= lr * dh_s
        V -= lr * dV
        c -= lr * dc
        if n_adv:
            W[wt, rt] -= lr * vt[:, None] * np.repeat(dh_t, ln, axis=0)
            b[adv] -= lr * dh_t
            u[adv] += lr * dU
            d[adv] += lr * dd[:, 0]


def csr(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(indptr, indices, values)`` of a dense ``(n, d)`` array (float32 values)."""
    import scipy.sparse

    m = scipy.sparse.csr_matrix(np.asarray(x, np.float32))
    m.sort_indices()
    return m.indptr.astype(np.int64), m.indices.astype(np.int64), m.data.astype(np.float32)


# ----------------------------------------------------------------------------- training
class EarlyStopping:
    """The reference's rule, per run: a validation risk ``<=`` the best keeps the weights and
    extends training to epoch ``max(until, int(factor·t))``; a worse one after that epoch
    stops the run (``min_epochs`` = the initial ``until``, 30 in the reference)."""

    def __init__(self, n_runs: int, min_epochs: int = 30, factor: float = 1.5):
        self.best = np.full(n_runs, 2.0)
        self.best_epoch = np.full(n_runs, -1)
        self.until = np.full(n_runs, min_epochs)
        self.stopped = np.zeros(n_runs, bool)
        self.factor = factor

    def update(self, t: int, risk: np.ndarray) -> np.ndarray:
        """Records epoch ``t``'s risks; returns the runs whose weights are the new best."""
        live = ~self.stopped
        better = live & (risk <= self.best)
        self.best = np.where(better, risk, self.best)
        self.best_epoch = np.where(better, t, self.best_epoch)
        self.until = np.where(better, np.maximum(self.until, int(self.factor * t)), self.until)
        self.stopped |= live & ~better & (t > self.until)
        return better


def fit(
    xs: np.ndarray,
    ys: np.ndarray,
    xv: np.ndarray,
    yv: np.ndarray,
    targets,
    *,
    seeds,
    lams,
    target_of=None,
    hidden: int = 50,
    learning_rate: float = 1e-3,
    max_epochs: int = 200,
    min_epochs: int = 30,
    patience_factor: float = 1.5,
    reversal: float = 1.0,
    log=None,
):
    """Trains one run per ``(seed, λ, target)`` triple by the reference's protocol, all on
    the same labelled source ``(xs, ys)`` and validation split ``(xv, yv)``, and returns the
    early-stopped parameters (leading run axis; W ``(d, R, H)``) and a record.

    Run r pairs its source examples with examples of ``targets[target_of[r]]`` (unlabelled
    target samples; unused when ``lams[r] == 0``, the standard NN, which therefore serves
    every target). Seed ``s`` draws the initialisation from ``fold_in(key(s), 0)`` and epoch
    ``e``'s target examples from ``fold_in(key(s), e + 1)``. Runs that have stopped are left
    out of the remaining epochs.

    Returns:
      ``(params, info)``: ``info`` has ``best_epoch``, ``epochs`` (the last epoch run),
      ``valid_risk`` (the best) and ``seconds``.
    """
    seeds, lams = list(seeds), np.asarray(lams, np.float32)
    target_of = np.zeros(len(seeds), int) if target_of is None else np.asarray(target_of)
    if not len(seeds) == len(lams) == len(target_of):
        raise ValueError(
            f"seeds, lams and target_of must pair up; got {len(seeds)}, {len(lams)}, "
            f"{len(target_of)}"
        )
    targets = list(targets)
    import scipy.sparse

    t0 = time.perf_counter()
    keys = [jax.random.key(int(s)) for s in seeds]
    params = stack_runs([init_params(jax.random.fold_in(k, 0), xs.shape[1], hidden) for k in keys])
    src = (*csr(xs), np.asarray(ys, np.int64))
    tgt = csr(np.concatenate(targets))
    sizes = np.array([len(x) for x in targets])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    stop = EarlyStopping(len(seeds), min_epochs, patience_factor)
    best = {k: v.copy() for k, v in params.items()}
    epochs = np.zeros(len(seeds), int)
    xv = scipy.sparse.csr_matrix(np.asarray(xv, np.float32))
    for t in range(max_epochs):
        live = np.flatnonzero(~stop.stopped)
        draws = np.zeros((len(live), len(xs)), np.int64)
        for n, r in enumerate(live):
            if lams[r] > 0:
                k = jax.random.fold_in(keys[r], t + 1)
                size = int(sizes[target_of[r]])
                draws[n] = offsets[target_of[r]] + np.asarray(
                    jax.random.randint(k, (len(xs),), 0, size)
                )
        everyone = len(live) == len(seeds)
        sub = params if everyone else {k: _take(v, k, live) for k, v in params.items()}
        run_epoch(sub, src, tgt, draws, lams[live], np.float32(learning_rate), reversal)
        if not everyone:
            for k in params:
                _put(params[k], k, live, sub[k])
        risk = np.full(len(seeds), 2.0)
        risk[live] = np.mean(predict(sub, xv) != np.asarray(yv)[None], axis=1)
        epochs[live] = t
        better = stop.update(t, risk)
        if better.any():
            idx = np.flatnonzero(better)
            for k in best:
                _put(best[k], k, idx, _take(params[k], k, idx))
        if log is not None:
            log(t, risk, stop)
        if stop.stopped.all():
            break
    info = {
        "best_epoch": stop.best_epoch.tolist(),
        "epochs": epochs.tolist(),
        "valid_risk": stop.best.tolist(),
        "seconds": time.perf_counter() - t0,
    }
    return best, info


def _take(v, name, idx):
    return np.ascontiguousarray(v[:, idx]) if name == "W" else v[idx]


def _put(v, name, idx, new):
    if name == "W":
        v[:, idx] = new
    else:
        v[idx] = new


def accuracy(params, x, y, chunk: int = 2048) -> np.ndarray:
    """Accuracy ``(runs,)`` of each run's early-stopped network on ``(x, y)`` (NaN if empty)."""
    import scipy.sparse

    if x.shape[0] == 0:
        return np.full(params["b"].shape[0], np.nan)
    x = scipy.sparse.csr_matrix(np.asarray(x, np.float32))
    pred = np.concatenate(
        [predict(params, x[i : i + chunk]) for i in range(0, x.shape[0], chunk)], axis=1
    )
    return np.mean(pred == np.asarray(y)[None], axis=1)

"""Experiment 4: the LogME paper's protocol — rank a zoo of source models per target.

You et al. (2021), §5 and the reference code's ``ranking.py`` (github.com/thuml/LogME): for
each target dataset, every pre-trained model of a zoo extracts features of the target's
**training** images (the input of its last linear layer); a score (LogME; LEEP and NCE from
the model's source-class predictions) is computed from those features / predictions and the
training labels; every model is then fine-tuned on the training data and its accuracy is
measured on the target's **test** data; the scores are correlated with those accuracies over
the models with the weighted Kendall τ_w (``scipy.stats.weightedtau``, hyperbolic weights,
which favour the top of the ranking), per target.

**Our zoo and targets (CPU, offline).** The paper ranks ImageNet-pretrained CNNs (the
reference code's hub: MobileNetV2, MNASNet, DenseNet-121/169/201, ResNet-34/50/101/152,
GoogLeNet, Inception-v3) on natural-image datasets (Aircraft, Birds, Cars, CIFAR, DTD,
Pets, SUN, Caltech). Neither the models nor the data are available here, so the zoo is built by
this module (:data:`ZOO`): MLPs on 16×16 grey images (rows scaled to unit norm), each
pretrained on a different *source task* drawn from MNIST (test file, images
``[:source_pool]``): all ten digits; 300 images only; digits 0–4; even/odd; the images
rotated by 90°; inverted intensities; a narrow (16-16 instead of 64-32) network; 2.5 % of
the pretraining steps; and an untrained (random) network. They differ in source labels,
source domain, data size, capacity and training length, as the paper's zoo differs in
architecture and quality. The
targets are three datasets that no source model saw: **USPS** (train ``n_train`` of the
7291 training images, test: the 2007 test images), **scikit-learn digits** (8×8 upsampled;
``n_train`` images, test: the rest) and **MNIST-M** in grey (images ``[source_pool:]`` of the
9001-image test release, made from MNIST test digits beyond the sources' pool if the release
keeps MNIST's order, which we could not verify: ``n_train`` for training, the rest for test).

**Fine-tuning.** Every layer is fine-tuned with a new zero-initialised linear head (AdamW,
full batch, ``finetune_steps``) for each (learning rate, weight decay) of a grid; as the
paper does, the grid is searched, but the choice is made on a 20 % validation part of the
target's training data (the paper does not state its selection split), and the chosen run's
test accuracy is the model's transfer performance.

**Disjointness.** :func:`target_split` returns disjoint train/test index sets;
:func:`model_scores` receives only the training features and labels; the test labels are
read once, by :func:`_accuracy`, after fine-tuning (``tests/experiments/
test_transferability.py`` checks both).

**Statistics.** Per target and seed: τ_w, Spearman and Kendall over the models. Seeds
(pretraining initialisation and batches, target subsample, fine-tuning) repeat the whole
protocol; the intervals are percentile bootstraps over the *models* (the ranked units; the
same resampled models for every seed and target;
:func:`experiments.reproduce.stats.bootstrap_interval`). Three targets are too few to
resample, so the mean over targets has an interval over models only.
"""

from __future__ import annotations

import dataclasses
import functools
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
from scipy import stats

from experiments.transferability.common import minimise
from jtransfer import select

SCORES = ("logme", "leep", "nce", "hscore", "transrate")
SCORE_LABELS = {
    "logme": "LogME",
    "leep": "LEEP",
    "nce": "NCE",
    "hscore": "H-score",
    "transrate": "TransRate",
}
CORRELATIONS = ("weighted_tau", "spearman", "kendall")
SIDE = 16  # images are resized to SIDE x SIDE


@dataclasses.dataclass(frozen=True)
class SourceModel:
    """One model of the zoo: what it is pretrained on and how.

    Attributes:
      name: identifier.
      labels: source task: ``"digits"`` (10 classes), ``"0to4"`` (5 classes, digits 0–4
        only), ``"parity"`` (2 classes), or ``"none"`` (no pretraining, random network).
      transform: ``"none"``, ``"rot90"`` or ``"invert"`` applied to the source images.
      num_examples: source images used (None: the whole pool).
      hidden: hidden layer widths.
      steps_scale: fraction of ``config.pretrain_steps``.
    """

    name: str
    labels: str = "digits"
    transform: str = "none"
    num_examples: int | None = None
    hidden: tuple[int, ...] = (64, 32)
    steps_scale: float = 1.0


ZOO = (
    SourceModel("mnist"),
    SourceModel("mnist_300", num_examples=300),
    SourceModel("mnist_0to4", labels="0to4"),
    SourceModel("mnist_parity", labels="parity"),
    SourceModel("mnist_rot90", transform="rot90"),
    SourceModel("mnist_inverted", transform="invert"),
    SourceModel("mnist_narrow", hidden=(16, 16)),
    SourceModel("mnist_short", steps_scale=0.025),
    SourceModel("random", labels="none"),
)
ZOO_BY_NAME = {m.name: m for m in ZOO}


# ----------------------------------------------------------------------------- data


def prep_images(images: np.ndarray) -> np.ndarray:
    """Images ``(N, H, W[, C])`` with values in [0, 1] → grey, ``SIDE``×``SIDE`` (bilinear),
    flattened, rows scaled to unit L2 norm: ``(N, SIDE²)`` float32."""
    x = np.asarray(images, np.float32)
    if x.ndim == 4:
        x = x.mean(-1)
    if x.ndim != 3:
        raise ValueError(f"images must be (N, H, W) or (N, H, W, C); got shape {images.shape}")
    if x.shape[1:] != (SIDE, SIDE):
        x = np.asarray(jax.image.resize(jnp.asarray(x), (len(x), SIDE, SIDE), "linear"))
    x = x.reshape(len(x), -1)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-8)


def target_split(n: int, n_train: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint (train, test) index sets of a pool of ``n``: ``n_train`` random indices and
    the rest, both sorted."""
    if not 0 < n_train < n:
        raise ValueError(f"n_train must be in (0, n={n}); got {n_train}")
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[:n_train]), np.sort(perm[n_train:])


def load_pools(config) -> tuple[dict, dict]:
    """The source pool ``{"x", "y"}`` and the target pools ``{name: {"x", "y", "test"}}``
    (``test``: a fixed test index set, or None when :func:`target_split` draws it).

    ``config.data == "mnist"``: MNIST / USPS / MNIST-M from the manual-download folder and
    scikit-learn digits. ``"sklearn"`` (tests, no files): scikit-learn digits only, images
    ``[:900]`` as the source pool and ``[900:]`` as the single target ``digits_b``.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    dx, dy = digits.images / 16.0, digits.target.astype(np.int32)
    if config.data == "sklearn":
        source = {"x": prep_images(dx[:900]), "y": dy[:900]}
        return source, {"digits_b": {"x": prep_images(dx[900:]), "y": dy[900:], "test": None}}
    from jtransfer import data, train

    kw = {"manual_dir": str(train.manual_dir(config, must_exist=False))}
    m = data.load("mnist", split="test", **kw)
    u = data.load("usps", **kw)
    mm = data.load("mnist_m", split="test", **kw)
    n = config.source_pool
    source = {"x": prep_images(m["x"][:n] / 255.0), "y": m["y"][:n].astype(np.int32)}
    ux = np.asarray(u["x"], np.float32)
    ux = (ux - ux.min()) / max(float(ux.max() - ux.min()), 1e-8)
    targets = {
        "usps": {
            "x": prep_images(ux),
            "y": u["y"].astype(np.int32),
            "train_pool": np.flatnonzero(u["split"] == 0),
            "test": np.flatnonzero(u["split"] == 1),
        },
        "sklearn_digits": {"x": prep_images(dx), "y": dy, "test": None},
        "mnist_m": {
            "x": prep_images(mm["x"][n:] / 255.0),
            "y": mm["y"][n:].astype(np.int32),
            "test": None,
        },
    }
    return source, targets


def target_data(pool: dict, n_train: int, seed: int) -> dict:
    """Train/test arrays of one target; ``idx_train`` and ``idx_test`` are disjoint."""
    if pool.get("test") is not None:  # a fixed test split (USPS): train drawn from the rest
        train_pool = pool["train_pool"]
        pick, _ = target_split(len(train_pool), min(n_train, len(train_pool) - 1), seed)
        tr, te = np.sort(train_pool[pick]), np.asarray(pool["test"])
    else:
        tr, te = target_split(len(pool["y"]), n_train, seed)
    return {
        "x_train": pool["x"][tr],
        "y_train": pool["y"][tr],
        "x_test": pool["x"][te],
        "y_test": pool["y"][te],
        "idx_train": tr,
        "idx_test": te,
        "num_classes": int(pool["y"].max()) + 1,
    }


def source_task(model: SourceModel, source: dict, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The pretraining inputs and labels of ``model``."""
    x, y = source["x"], source["y"]
    if model.labels == "0to4":
        keep = y < 5
        x, y = x[keep], y[keep]
    elif model.labels == "parity":
        y = y % 2
    if model.transform == "rot90":
        x = np.rot90(x.reshape(-1, SIDE, SIDE), 1, axes=(1, 2)).reshape(len(x), -1)
    elif model.transform == "invert":
        x = 1.0 - x * np.sqrt(SIDE * SIDE)  # back to about [0, 1] intensities, inverted
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-8)
    if model.num_examples is not None and model.num_examples < len(y):
        pick = np.sort(np.random.default_rng(seed).permutation(len(y))[: model.num_examples])
        x, y = x[pick], y[pick]
    return np.ascontiguousarray(x, np.float32), np.asarray(y, np.int32)


# ----------------------------------------------------------------------------- model


def init_mlp(key, sizes: tuple[int, ...], num_classes: int) -> dict:
    """He-normal MLP ``sizes[0] → ... → sizes[-1]`` (ReLU) plus a linear head."""
    keys = jax.random.split(key, len(sizes))
    body = [
        (
            jax.random.normal(k, (a, b), jnp.float32) * jnp.sqrt(2.0 / a),
            jnp.zeros(b, jnp.float32),
        )
        for k, a, b in zip(keys[:-1], sizes[:-1], sizes[1:])
    ]
    head = (
        jax.random.normal(keys[-1], (sizes[-1], num_classes), jnp.float32)
        * jnp.sqrt(1.0 / sizes[-1]),
        jnp.zeros(num_classes, jnp.float32),
    )
    return {"body": body, "head": head}


def features(params: dict, x: jax.Array) -> jax.Array:
    """The input of the last linear layer (the paper's feature)."""
    h = x
    for w, b in params["body"]:
        h = jax.nn.relu(h @ w + b[None, :])
    return h


def logits(params: dict, x: jax.Array) -> jax.Array:
    w, b = params["head"]
    return features(params, x) @ w + b[None, :]


@functools.partial(jax.jit, static_argnames=("steps", "batch"))
def pretrain(params, x, y, key, *, steps: int, batch: int, learning_rate: float = 3e-3):
    """Minibatch Adam on the source cross-entropy (batches drawn with ``key``)."""
    opt = optax.adam(learning_rate)

    def loss(p, xb, yb):
        return optax.softmax_cross_entropy_with_integer_labels(logits(p, xb), yb).mean()

    def step(carry, k):
        p, st = carry
        i = jax.random.randint(k, (batch,), 0, x.shape[0])
        u, st = opt.update(jax.grad(loss)(p, x[i], y[i]), st, p)
        return (optax.apply_updates(p, u), st), None

    (params, _), _ = jax.lax.scan(step, (params, opt.init(params)), jax.random.split(key, steps))
    return params


@functools.partial(jax.jit, static_argnames=("num_classes", "steps"))
def finetune_grid(body, x, y, lrs, wds, *, num_classes: int, steps: int):
    """Fine-tunes every layer plus a new zero head, full batch AdamW, once per (lr, wd)
    pair (vmapped). Returns the stacked params."""
    d = body[-1][0].shape[1]
    p0 = {"body": body, "head": (jnp.zeros((d, num_classes)), jnp.zeros(num_classes))}

    def one(lr, wd):
        def loss(p):
            return optax.softmax_cross_entropy_with_integer_labels(logits(p, x), y).mean()

        return minimise(loss, p0, optax.adamw(lr, weight_decay=wd), steps)

    return jax.vmap(one)(lrs, wds)


def _accuracy(params, x, y) -> float:
    return float(np.mean(np.asarray(jnp.argmax(logits(params, jnp.asarray(x)), 1)) == y))


# ----------------------------------------------------------------------------- protocol


def model_scores(params: dict, x_train, y_train, *, num_classes: int) -> dict[str, float]:
    """Every score of one model on a target's **training** data (the only labels it gets)."""
    f = features(params, jnp.asarray(x_train))
    z = logits(params, jnp.asarray(x_train))
    num_source = int(z.shape[1])
    return {
        "logme": float(select.logme(f, y_train, num_classes=num_classes)),
        "leep": float(select.leep(jax.nn.softmax(z, 1), y_train, num_classes=num_classes)),
        "nce": float(
            select.nce(
                np.asarray(jnp.argmax(z, 1)),
                y_train,
                num_source_classes=num_source,
                num_classes=num_classes,
            )
        ),
        "hscore": float(select.hscore(f, y_train, num_classes=num_classes)),
        "transrate": float(select.transrate(f, y_train, num_classes=num_classes)),
    }


def finetuned_accuracy(params: dict, tgt: dict, config, seed: int) -> dict[str, float]:
    """Fine-tunes on the target's training data (grid chosen on its validation part) and
    returns the chosen run's test accuracy (plus the grid's best test accuracy, an oracle
    kept only as a labelled extra)."""
    n = len(tgt["y_train"])
    perm = np.random.default_rng(seed + 7919).permutation(n)
    n_val = max(1, int(round(config.val_fraction * n)))
    val, fit = perm[:n_val], perm[n_val:]
    grid = [(lr, wd) for lr in config.finetune_lrs for wd in config.finetune_wds]
    lrs = jnp.asarray([g[0] for g in grid], jnp.float32)
    wds = jnp.asarray([g[1] for g in grid], jnp.float32)
    stacked = finetune_grid(
        params["body"],
        jnp.asarray(tgt["x_train"][fit]),
        jnp.asarray(tgt["y_train"][fit]),
        lrs,
        wds,
        num_classes=tgt["num_classes"],
        steps=config.finetune_steps,
    )
    runs = [jax.tree.map(lambda a, i=i: a[i], stacked) for i in range(len(grid))]
    val_acc = [_accuracy(p, tgt["x_train"][val], tgt["y_train"][val]) for p in runs]
    best = int(np.argmax(val_acc))  # ties: the first in grid order
    test_acc = [_accuracy(p, tgt["x_test"], tgt["y_test"]) for p in runs]
    return {
        "accuracy": test_acc[best],
        "val_accuracy": val_acc[best],
        "lr": float(grid[best][0]),
        "wd": float(grid[best][1]),
        "oracle_accuracy": float(max(test_acc)),
    }


def build_zoo(source: dict, config, seed: int) -> dict[str, dict]:
    """Pretrains every model of ``config.zoo`` with ``seed``; returns ``{name: params}``."""
    zoo = {}
    key = jax.random.key(seed)
    for i, name in enumerate(config.zoo):
        m = ZOO_BY_NAME[name]
        x, y = source_task(m, source, seed)
        num_classes = 10 if m.labels == "none" else int(y.max()) + 1
        k_init, k_train = jax.random.split(jax.random.fold_in(key, i))
        p = init_mlp(k_init, (x.shape[1],) + tuple(m.hidden), num_classes)
        if m.labels != "none":
            steps = max(1, int(round(m.steps_scale * config.pretrain_steps)))
            p = pretrain(p, jnp.asarray(x), jnp.asarray(y), k_train, steps=steps, batch=64)
        zoo[name] = p
    return zoo


def run_seed(source: dict, targets: dict, config, seed: int) -> dict:
    """The whole protocol for one seed: ``{target: {model: {scores..., accuracy...}}}``."""
    zoo = build_zoo(source, config, seed)
    out: dict = {}
    for t_i, (tname, pool) in enumerate(targets.items()):
        tgt = target_data(pool, config.n_train, seed * 1000 + t_i)
        out[tname] = {}
        for name, params in zoo.items():
            row = model_scores(
                params, tgt["x_train"], tgt["y_train"], num_classes=tgt["num_classes"]
            )
            row.update(finetuned_accuracy(params, tgt, config, seed))
            out[tname][name] = row
    return out


def correlations(scores: np.ndarray, accs: np.ndarray) -> dict[str, float]:
    """τ_w (``scipy.stats.weightedtau``, the paper's measure), Spearman and Kendall of the
    scores vs the accuracies of the models (NaN where undefined)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "weighted_tau": float(stats.weightedtau(scores, accs)[0]),
            "spearman": float(stats.spearmanr(scores, accs)[0]),
            "kendall": float(stats.kendalltau(scores, accs)[0]),
        }


def summarise(runs: list[dict], *, num_resamples: int = 2000, seed: int = 0) -> dict:
    """Per target and overall (mean over targets): each correlation of each score, per seed
    and as the seed mean with a percentile-bootstrap 95 % interval over the models.

    ``runs``: one :func:`run_seed` result per seed (same targets and models). Returns
    ``{target_or_"mean": {score: {corr: {"per_seed": [...], "mean", "low", "high"}}}}``.
    """
    from experiments.reproduce.stats import bootstrap_interval
    from experiments.transferability.common import kendall_rows, spearman_rows

    targets = list(runs[0])
    models = list(runs[0][targets[0]])
    acc = np.array([[[r[t][m]["accuracy"] for m in models] for t in targets] for r in runs])
    n_seeds, n_t = acc.shape[:2]
    acc2 = acc.reshape(n_seeds * n_t, -1)
    out: dict = {t: {} for t in targets + ["mean"]}
    for s in SCORES:
        v = np.array([[[r[t][m][s] for m in models] for t in targets] for r in runs])
        v2 = v.reshape(n_seeds * n_t, -1)

        def per_run(idx, v2=v2):
            # (3 correlations, seeds, targets) over the models ``idx``
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                wt = [stats.weightedtau(x[idx], y[idx])[0] for x, y in zip(v2, acc2)]
            c = np.stack(
                [
                    wt,
                    spearman_rows(v2[:, idx], acc2[:, idx]),
                    kendall_rows(v2[:, idx], acc2[:, idx]),
                ]
            )
            return c.reshape(len(CORRELATIONS), n_seeds, n_t)

        def stat(idx):  # seed means per target, then the mean over targets too
            c = per_run(idx).mean(1)
            return np.concatenate([c, c.mean(1, keepdims=True)], 1).reshape(-1)

        point, low, high = bootstrap_interval(
            stat, len(models), num_resamples=num_resamples, seed=seed
        )
        shape = (len(CORRELATIONS), n_t + 1)
        point, low, high = point.reshape(shape), low.reshape(shape), high.reshape(shape)
        full = per_run(np.arange(len(models)))
        for ci, c in enumerate(CORRELATIONS):
            for tj, t in enumerate(targets + ["mean"]):
                per_seed = full[ci].mean(1) if t == "mean" else full[ci][:, tj]
                out[t].setdefault(s, {})[c] = {
                    "per_seed": [float(x) for x in per_seed],
                    "mean": float(point[ci, tj]),
                    "low": float(low[ci, tj]),
                    "high": float(high[ci, tj]),
                }
    return out


def run(config, workdir: str) -> dict:
    """Experiment 4 over ``config.logme_seeds``; writes ``logme_protocol.json`` (per seed,
    target and model: scores and accuracies) in ``workdir`` and returns flat metrics."""
    import json
    import os

    source, targets = load_pools(config)
    runs, secs = [], []
    for seed in config.logme_seeds:
        t = time.perf_counter()
        runs.append(run_seed(source, targets, config, seed))
        secs.append(time.perf_counter() - t)
        print(f"[logme_protocol] seed {seed} done in {secs[-1]:.0f} s", flush=True)
        with open(os.path.join(workdir, "logme_protocol.json"), "w") as f:  # after every seed
            done = list(config.logme_seeds)[: len(runs)]
            json.dump({"seeds": done, "runs": runs, "seconds": secs}, f)
    summ = summarise(runs, num_resamples=config.num_resamples)
    metrics: dict = {}
    for t, by_score in summ.items():
        for s, by_corr in by_score.items():
            for c, d in by_corr.items():
                metrics[f"{t}/{s}/{c}"] = d["mean"]
                metrics[f"{t}/{s}/{c}/low"] = d["low"]
                metrics[f"{t}/{s}/{c}/high"] = d["high"]
    for t in targets:
        for m in config.zoo:
            metrics[f"{t}/{m}/accuracy"] = float(np.mean([r[t][m]["accuracy"] for r in runs]))
    if config.plot:
        plot(runs[0], summ, os.path.join(workdir, "logme_protocol.png"))
    return metrics


def plot(run_: dict, summ: dict, path: str) -> str:
    """Score vs fine-tuned test accuracy, one row per target, one column per score (the first
    seed's models; titles: seed-mean τ_w)."""
    import matplotlib.pyplot as plt

    from jtransfer import train as jtrain

    targets = list(run_)
    fig, axes = plt.subplots(
        len(targets), len(SCORES), figsize=(2.6 * len(SCORES), 2.3 * len(targets)), squeeze=False
    )
    for i, t in enumerate(targets):
        models = list(run_[t])
        acc = np.array([run_[t][m]["accuracy"] for m in models])
        for j, s in enumerate(SCORES):
            ax = axes[i, j]
            v = np.array([run_[t][m][s] for m in models])
            ax.scatter(v, 100 * acc, s=12)
            for name, vi, ai in zip(models, v, acc):
                ax.annotate(name.removeprefix("mnist_"), (vi, 100 * ai), fontsize=5)
            ax.set_title(
                f"{t}: {SCORE_LABELS[s]} τw {summ[t][s]['weighted_tau']['mean']:+.2f}",
                fontsize=7,
            )
            ax.tick_params(labelsize=6)
            if j == 0:
                ax.set_ylabel("fine-tuned test acc (%)", fontsize=7)
    fig.tight_layout()
    return jtrain.save_figure(fig, path, dpi=70)

"""Digit domain shifts: a quick synthetic one and the full-suite benchmark pairs.

``config.dataset``:

* ``"sklearn"`` (quick suite): source = one random half of scikit-learn's 1797 8×8 digits;
  target = the other half, rotated by ``rotation`` degrees with Gaussian pixel noise
  (``jtransfer.data.digits``).
* ``"jda"``: the MNIST+USPS pair of JDA (Long et al., ICCV 2013): 2000 MNIST and 1800 USPS
  digits at 16×16; ``direction`` ``"M→U"`` or ``"U→M"``; transductive, as JDA: the whole
  target set is the unlabelled training target and the test set.
* ``"usps_full"``: MNIST test (10 000, resized 28→16 bilinearly) and the full USPS
  (7291 train / 2007 test). ``"M→U"``: unlabelled target = USPS train, test = USPS test;
  ``"U→M"``: source = USPS train, unlabelled target = MNIST test[:5000], test = [5000:]
  (``config.mnist_target_split``).
* ``"mnist_m"``: source = MNIST test[:4500] (padded to 32×32, grey → RGB); target = MNIST-M
  test[4500:9001] (``config.mnist_m_split``; disjoint halves: MNIST-M image i is built from
  MNIST test image i),
  transductive. The published DANN numbers use the 60k train sets, which are not here.

Every split size is a config field (``configs/default.py``; the defaults are the sizes
above): ``sklearn_source_fraction`` (0.5), ``source_val_fraction`` (0.2, the held-out source
share for λ selection), ``mnist_target_split`` (5000) and ``mnist_m_split`` (4500).

An MLP on the flattened pixels is trained with ``source_only``, ``dann``, ``coral`` or
``mmd`` by the library recipe :func:`jtransfer.recipes.fit_domain_adaptation`. λ is chosen
from ``lam_grid`` by importance-weighted accuracy (:func:`jtransfer.select.iw_accuracy`) on a
held-out 20 % of the source (:func:`jtransfer.recipes.importance_weights`);
the target-selected λ's accuracy is reported separately as the oracle.
"""

from __future__ import annotations

import os
import time
from fractions import Fraction

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jtransfer import data as jdata
from jtransfer import recipes, train

METHODS = recipes.METHODS


DATASETS = ("sklearn", "jda", "usps_full", "mnist_m")
DIRECTIONS = ("M→U", "U→M")


def _share(n: int, fraction: float) -> int:
    """``floor(n * fraction)`` computed exactly (``0.2 * n`` in floats can round across an
    integer; ``Fraction("0.2") * n`` cannot), so ``fraction = 0.2`` gives ``n // 5``."""
    return int(Fraction(str(fraction)) * n)


def make_data(config) -> dict[str, np.ndarray]:
    """Source train/val (``xs ys xv yv``), unlabelled target (``xt``) and labelled target
    test set (``xe ye``), all flattened to float32 feature rows."""
    rng = np.random.default_rng(config.seed)
    flat = lambda a: a.reshape(len(a), -1).astype(np.float32)  # noqa: E731
    if config.dataset == "sklearn":
        key = train.keys(config.seed, "shift")
        src = jdata.digits()
        tgt = jdata.digits(rotation=config.rotation, noise=config.noise, key=key)
        perm = rng.permutation(len(src["y"]))
        n_src = _share(len(perm), config.sklearn_source_fraction)
        s_idx, t_idx = perm[:n_src], perm[n_src:]
        xs, ys = flat(src["x"][s_idx]), src["y"][s_idx]
        xt, yt = flat(tgt["x"][t_idx]), tgt["y"][t_idx]
        xe, ye = xt, yt
    else:
        xs, ys, xt, xe, ye = _benchmark(config)
    if config.normalize == "l2":  # unit-norm rows (JDA's preprocessing of these features)
        xs, xt, xe = (
            a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-8) for a in (xs, xt, xe)
        )
    val = np.zeros(len(xs), bool)
    val[rng.choice(len(xs), _share(len(xs), config.source_val_fraction), replace=False)] = True
    ys, ye = np.asarray(ys, np.int32), np.asarray(ye, np.int32)
    return {
        "xs": xs[~val],
        "ys": ys[~val],
        "xv": xs[val],
        "yv": ys[val],
        "xt": xt,
        "xe": xe,
        "ye": ye,
    }


def _benchmark(config):
    """The MNIST / USPS / MNIST-M pairs (files from the manual-download folder)."""
    kw = {"manual_dir": str(train.manual_dir(config, must_exist=False))}
    flat = lambda a: a.reshape(len(a), -1).astype(np.float32)  # noqa: E731
    if config.dataset == "jda":
        d = jdata.load("mnist_usps_jda", **kw)
        m, u = d["domain"] == 0, d["domain"] == 1
        (xs, ys), (xt, yt) = (
            ((d["x"][m], d["y"][m]), (d["x"][u], d["y"][u]))
            if config.direction == "M→U"
            else ((d["x"][u], d["y"][u]), (d["x"][m], d["y"][m]))
        )
        return flat(xs), ys, flat(xt), flat(xt), yt
    if config.dataset == "usps_full":
        u = jdata.load("usps", **kw)
        m = jdata.load("mnist", split="test", **kw)
        mx = np.asarray(
            jax.image.resize(
                jnp.asarray(m["x"], jnp.float32) / 255.0, (len(m["x"]), 16, 16, 1), "linear"
            )
        )
        u_tr, u_te = u["split"] == 0, u["split"] == 1
        if config.direction == "M→U":
            return flat(mx), m["y"], flat(u["x"][u_tr]), flat(u["x"][u_te]), u["y"][u_te]
        n = config.mnist_target_split
        return (flat(u["x"][u_tr]), u["y"][u_tr], flat(mx[:n]), flat(mx[n:]), m["y"][n:])
    m = jdata.load("mnist", split="test", **kw)
    mm = jdata.load("mnist_m", split="test", **kw)
    n = config.mnist_m_split
    grey = np.pad(m["x"][:n], ((0, 0), (2, 2), (2, 2), (0, 0)))
    xs = np.repeat(grey, 3, axis=-1).astype(np.float32) / 255.0
    xt = mm["x"][n:].astype(np.float32) / 255.0
    return flat(xs), m["y"][:n], flat(xt), flat(xt), mm["y"][n:]


def validate_config(config) -> None:
    recipes.check_config(config, METHODS)
    train.validate_config(
        config,
        nonnegative=("noise",),
        positive_ints=("mnist_target_split", "mnist_m_split"),
        intervals={
            "source_val_fraction": (0.0, 1.0, "()"),
            "sklearn_source_fraction": (0.0, 1.0, "()"),
        },
        choices={"normalize": ("none", "l2"), "dataset": DATASETS},
    )
    if config.dataset not in ("sklearn", "mnist_m") and config.direction not in DIRECTIONS:
        raise ValueError(f"config.direction must be one of {DIRECTIONS}, got {config.direction!r}")
    if not config.lam_grid or min(config.lam_grid) < 0:
        raise ValueError(f"config.lam_grid must be non-empty and >= 0, got {config.lam_grid}")


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
    """Returns ``target_accuracy`` (IW-validation-selected λ), ``oracle_target_accuracy``,
    ``lam``, ``source_val_accuracy`` and ``train_seconds`` (all λ of the grid)."""
    validate_config(config)
    data = make_data(config)
    w_val = recipes.importance_weights(np.concatenate([data["xs"], data["xv"]]), data["xt"], C=0.1)[
        len(data["xs"]) :
    ]
    t0 = time.perf_counter()
    sel = recipes.select_lam(
        data["xs"],
        data["ys"],
        data["xt"],
        x_val=data["xv"],
        y_val=data["yv"],
        weights_val=w_val,
        lams=config.lam_grid,
        config=config,
        key=jax.random.key(config.seed),
        workdir=workdir,
        n_out=10,
        evals={"source_val": (data["xv"], data["yv"]), "target": (data["xe"], data["ye"])},
    )
    np.savez(os.path.join(workdir, "final_params.npz"), *jax.tree.leaves(sel.fits[0].params))
    return {
        "target_accuracy": sel.fit.metrics["target_accuracy"],
        "oracle_target_accuracy": max(f.metrics["target_accuracy"] for f in sel.fits),
        "lam": sel.lam,
        "source_val_accuracy": sel.fit.metrics["source_val_accuracy"],
        "train_seconds": time.perf_counter() - t0,
    }

"""FDU-MTL texts and their cached pooled MiniLM features (shared by ``lm_multitask`` and
``lm_fewshot``).

Data: for each of the 16 domains of ``data.FDU_MTL_DOMAINS``, ``data.load("fdu_mtl",
domain=d, split=["train", "validation", "test"])``: ``train`` (the train file less the 200
held-out lines), ``validation`` (those 200 lines: the ASP-MTL dev set) and ``test`` (the
400-line test file). Unlabelled lines are not used.

Features: ``models.extract_features`` of ``text`` by the frozen encoder, mean-pooled over
attended tokens for every hidden state in ``config.layers`` (0 = embeddings .. 6 = last
layer), truncated to ``config.max_length`` tokens, cached under ``config.cache_dir``
(resumable per chunk). ``python -m experiments.lm_multitask.cache`` fills the cache: every
domain's validation and test lines first, then the train lines in blocks (see
:func:`load_features`).
"""

from __future__ import annotations

import os
import time

import numpy as np

from experiments._lm_encoder import encoder_fns
from jtransfer import data

SPLITS = ("train", "validation", "test")


def domain_texts(domain: str, *, max_per_split: int = 0) -> dict[str, np.ndarray]:
    """``text``, ``y`` and ``split`` (str) of one domain's labelled lines, splits in order.

    With ``max_per_split`` > 0 (tiny configs) each split keeps its first
    ``max_per_split`` lines of each class.
    """
    d = data.load("fdu_mtl", domain=domain, split=list(SPLITS))
    split = np.asarray(SPLITS)[np.asarray(d["split"])]
    y = np.asarray(d["y"])
    keep = np.arange(len(y))
    if max_per_split:
        keep = np.sort(
            np.concatenate(
                [
                    np.flatnonzero((split == s) & (y == c))[:max_per_split]
                    for s in SPLITS
                    for c in (0, 1)
                ]
            )
        )
    return {"text": d["text"][keep], "y": y[keep], "split": split[keep]}


def _units(config) -> list[tuple[str, str, int]]:
    """The extraction units in cache order: every domain's validation + test lines first,
    then the train lines in blocks of ``config.train_block`` (in the fixed permutation of
    :func:`train_order`), block 0 of every domain, then block 1, ... up to
    ``config.max_train_per_domain`` (0: all), so that a partly filled cache holds the same
    number of train lines in every domain."""
    units = [(d, "eval", 0) for d in config.domains]
    cap = config.max_train_per_domain or 10**9
    num_blocks = -(-min(cap, 1400) // config.train_block)  # 1400: the largest train split
    units += [(d, "train", b) for b in range(num_blocks) for d in config.domains]
    return units


def train_order(d: dict, seed: int = 0) -> np.ndarray:
    """Row indices of the train lines of one domain in a fixed random order (numpy seed)."""
    idx = np.flatnonzero(d["split"] == "train")
    return idx[np.random.default_rng(seed).permutation(len(idx))]


def load_features(config, *, log: bool = False) -> tuple[dict[str, dict], dict[str, float]]:
    """Labels and pooled features of every domain of ``config.domains``.

    Each domain keeps all its validation and test lines and the first
    ``config.max_train_per_domain`` (0: all) train lines of :func:`train_order`.

    Returns ``({domain: {"x": (n, len(layers), H) float32, "y": (n,), "split": (n,) str}},
    {unit: seconds})``.
    """
    from jtransfer import models

    apply_fn, params, tok, ckpt = encoder_fns(config)
    small = config.get("max_per_split", 0)
    texts = {d: domain_texts(d, max_per_split=small) for d in config.domains}
    cap = config.max_train_per_domain or 10**9
    rows: dict[str, list[np.ndarray]] = {d: [] for d in config.domains}
    feats: dict[str, list[np.ndarray]] = {d: [] for d in config.domains}
    times = {}
    for dom, part, b in _units(config):
        d = texts[dom]
        if part == "eval":
            idx = np.flatnonzero(d["split"] != "train")
        else:
            order = train_order(d)[:cap]
            idx = order[b * config.train_block : (b + 1) * config.train_block]
        if len(idx) == 0:
            continue
        t0 = time.perf_counter()
        x = models.extract_features(
            apply_fn,
            params,
            list(d["text"][idx]),
            tok,
            layers=tuple(config.layers),
            max_length=config.max_length,
            batch_size=config.batch_size,
            cache_dir=config.cache_dir or None,
            checkpoint_hash=ckpt,
            cache_key_extra={"encoder": config.encoder, "dataset": "fdu_mtl"},
            chunk_size=200,
            progress=False,
        )
        rows[dom].append(idx)
        feats[dom].append(x)
        name = f"{dom}/{part}{b if part == 'train' else ''}"
        times[name] = time.perf_counter() - t0
        if log:
            print(
                f"features {name} ({len(idx)} texts): {times[name]:.1f} s "
                f"({len(idx) / times[name]:.1f} texts/s, load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
    out = {}
    for dom in config.domains:
        idx = np.concatenate(rows[dom])
        out[dom] = {
            "x": np.concatenate(feats[dom]),
            "y": texts[dom]["y"][idx],
            "split": texts[dom]["split"][idx],
        }
    return out, times


def probe_layer(feats: dict, domains, layers, *, fit_split="train", val_split="validation"):
    """The hidden state whose per-domain logistic probe has the lowest validation error.

    For every layer index ``l`` of ``layers`` (positions in the cached ``x``'s axis 1) and
    every domain, scikit-learn ``LogisticRegression(C=1)`` on the standardised ``fit_split``
    rows, scored on the ``val_split`` rows. Uses no test line.

    Returns ``(best position, {position: mean validation error over the domains})``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    errs = {}
    for l in range(len(layers)):
        e = []
        for d in domains:
            f = feats[d]
            tr, va = f["split"] == fit_split, np.isin(f["split"], val_split)
            sc = StandardScaler().fit(f["x"][tr, l])
            clf = LogisticRegression(C=1.0, max_iter=2000).fit(
                sc.transform(f["x"][tr, l]), f["y"][tr]
            )
            e.append(1.0 - clf.score(sc.transform(f["x"][va, l]), f["y"][va]))
        errs[l] = float(np.mean(e))
    return min(errs, key=errs.get), errs

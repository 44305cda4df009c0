"""Texts of the protocol and their cached pooled MiniLM features.

Data (see the README's protocol):

* labelled reviews of each Blitzer domain: ``data.load("amazon_text", domain=d, split="all")``
  (2000 rows in id order, with the ``split`` id of each row: train / validation / test). A
  domain used as **source** trains on its ``train`` + ``validation`` rows (validation for
  source-only model selection); a domain used as **target** is tested on all 2000 rows.
* unlabelled pool of each target: FDU-MTL ``unlabelled`` of the matching domain with every
  line that occurs among the target's 2000 Blitzer reviews removed (``data.text_overlap``,
  whitespace/case normalisation), then a fixed ``np.random.default_rng(pool_seed)``
  permutation cut to ``pool_size`` lines. Only ``text`` is read from the pool.

Features: ``models.extract_features`` of the review ``text`` (not the title), mean-pooled
over attended tokens for every layer in ``config.layers``, cached under ``config.cache_dir``
(resumable per chunk). Run ``python -m experiments.lm_domain_shift.cache`` to fill the
cache ahead of the experiment.
"""

from __future__ import annotations

import time

import ml_collections
import numpy as np

from experiments._lm_encoder import encoder_fns
from jtransfer import data

DOMAINS = ("books", "dvd", "electronics", "kitchen")
FDU_DOMAIN = {
    "books": "books",
    "dvd": "dvd",
    "electronics": "electronics",
    "kitchen": "kitchen_housewares",
}


def labelled_texts(domain: str) -> dict[str, np.ndarray]:
    """The 2000 labelled reviews of a Blitzer domain: ``text``, ``y``, ``split`` (str)."""
    d = data.load("amazon_text", domain=domain, split="all")
    # the split each row belongs to (train / validation / test), from the fixed partition
    ids = {
        s: set(data.load("amazon_text", domain=domain, split=s)["id"].tolist())
        for s in ("train", "validation", "test")
    }
    split = np.array([next(s for s, v in ids.items() if i in v) for i in d["id"]])
    return {"text": d["text"], "y": np.asarray(d["y"]), "split": split, "id": d["id"]}


def unlabelled_pool(
    domain: str, test_texts, *, pool_size: int | None, pool_seed: int = 0
) -> dict[str, np.ndarray]:
    """The target's FDU-MTL unlabelled pool without the lines shared with ``test_texts``.

    Only the ``text`` column of the pool is kept: its labels (all -1) are never read.
    Returns ``text`` and the number of lines ``removed``.
    """
    raw = data.load("fdu_mtl", domain=FDU_DOMAIN[domain], split="unlabelled")["text"]
    keep = ~data.text_overlap(test_texts, raw).b_in_a
    pool = raw[keep]
    order = np.random.default_rng(pool_seed).permutation(len(pool))
    if pool_size is not None:
        order = order[:pool_size]
    return {"text": pool[order], "removed": int((~keep).sum()), "raw_size": len(raw)}


def load_texts(config: ml_collections.ConfigDict) -> dict[str, dict]:
    """Labelled reviews and filtered unlabelled pools of ``config.domains``.

    With ``config.max_per_domain`` set (tiny configs), the labelled reviews are cut to a
    class-balanced subset of that many rows per split-class cell order (first rows of each
    class in id order, all splits kept) and the pool to ``pool_size`` lines.
    """
    out = {}
    for dom in config.domains:
        lab = labelled_texts(dom)
        if config.get("max_per_domain"):
            m = config.max_per_domain
            sel = np.concatenate(
                [
                    np.flatnonzero((lab["split"] == s) & (lab["y"] == c))[:m]
                    for s in ("train", "validation", "test")
                    for c in (0, 1)
                ]
            )
            sel.sort()
            lab = {k: v[sel] for k, v in lab.items()}
        pool = unlabelled_pool(
            dom,
            data.load("amazon_text", domain=dom, split="all")["text"],
            pool_size=config.pool_size,
            pool_seed=config.pool_seed,
        )
        out[dom] = {"labelled": lab, "pool": pool}
    return out


def features(
    config, texts, *, log: bool = False
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, float]]:
    """Pooled features ``(n, len(layers), H)`` of every domain's labelled reviews and pool.

    Returns ``({domain: {"labelled": X, "pool": U}}, {name: seconds})``.
    """
    from jtransfer import models

    apply_fn, params, tok, ckpt = encoder_fns(config)
    cache = config.cache_dir or None
    out, times = {}, {}
    for part in ("labelled", "pool"):  # labelled reviews of every domain first
        for dom in config.domains:
            out.setdefault(dom, {})
            t0 = time.perf_counter()
            out[dom][part] = models.extract_features(
                apply_fn,
                params,
                list(texts[dom][part]["text"]),
                tok,
                layers=tuple(config.layers),
                max_length=config.max_length,
                batch_size=config.batch_size,
                cache_dir=cache,
                checkpoint_hash=ckpt,
                cache_key_extra={"encoder": config.encoder},
                chunk_size=256,
                progress=False,
            )
            times[f"{dom}/{part}"] = time.perf_counter() - t0
            if log:
                print(f"features {dom}/{part}: {times[f'{dom}/{part}']:.1f} s", flush=True)
    return out, times

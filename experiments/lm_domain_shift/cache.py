"""Fills the feature cache: ``python -m experiments.lm_domain_shift.cache`` (resumable)."""

import time

from experiments.lm_domain_shift.features import features, load_texts

if __name__ == "__main__":
    from experiments.lm_domain_shift.configs import default

    cfg = default.get_config()
    t0 = time.perf_counter()
    txt = load_texts(cfg)
    print(
        {
            d: (len(v["labelled"]["text"]), len(v["pool"]["text"]), v["pool"]["removed"])
            for d, v in txt.items()
        },
        flush=True,
    )
    _, t = features(cfg, txt, log=True)
    print(f"total {time.perf_counter() - t0:.1f} s", flush=True)

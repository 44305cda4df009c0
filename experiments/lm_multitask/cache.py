"""Fills the feature cache: ``python -m experiments.lm_multitask.cache`` (resumable)."""

import time

from experiments._fdu_features import load_features

if __name__ == "__main__":
    from experiments.lm_multitask.configs import default

    cfg = default.get_config()
    t0 = time.perf_counter()
    load_features(cfg, log=True)
    print(f"total {time.perf_counter() - t0:.1f} s", flush=True)

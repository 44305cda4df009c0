"""Source-validation accuracy per layer (no target labels): how ``config.layer`` was chosen.

``python -m experiments.lm_domain_shift.probe_layers`` fits scikit-learn logistic regressions
(C = 0.01 and 1) on each source domain's ``train`` rows and measures their accuracy on its
``validation`` rows, per layer, and writes them to ``results/probe_layers.json`` (the README's
"Layer choice" paragraph quotes them; ``tests/experiments/test_readme_numbers.py`` checks the
quotes). Run once on books and dvd after a first grid with layer 6 (README, "Layer choice").
"""

import json
import os
import time

from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from experiments.lm_domain_shift import features as F
from experiments.lm_domain_shift import train
from experiments.lm_domain_shift.configs import default

RESULTS = os.path.join(os.path.dirname(__file__), "results", "probe_layers.json")
LAYERS, CS = (3, 4, 5, 6), (0.01, 1.0)

if __name__ == "__main__":
    t0 = time.perf_counter()
    c = default.get_config()
    c.domains = ("books", "dvd")
    t = F.load_texts(c)
    f, _ = F.features(c, t)
    acc: dict = {}
    for dom in c.domains:
        lab = t[dom]["labelled"]
        tr, va = lab["split"] == "train", lab["split"] == "validation"
        for li in LAYERS:
            x = f[dom]["labelled"][:, c.layers.index(li)]
            s = StandardScaler().fit(x[tr])
            for C in CS:
                m = LogisticRegression(C=C, max_iter=3000).fit(s.transform(x[tr]), lab["y"][tr])
                a = 100 * m.score(s.transform(x[va]), lab["y"][va])
                acc.setdefault(dom, {}).setdefault(str(li), {})[f"{C:g}"] = a
                print(f"{dom} layer {li} C {C}: validation accuracy {a:.1f}", flush=True)
    out = {
        "metric": "source validation accuracy (%), scikit-learn logistic regression",
        "accuracy": acc,  # {domain: {layer: {C: accuracy}}}
        "git_commit": train._git_commit(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "wall_seconds": time.perf_counter() - t0,
        "command": "python -m experiments.lm_domain_shift.probe_layers",
    }
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w", encoding="utf-8") as fh:
        json.dump(out, fh, indent=1)
        fh.write("\n")

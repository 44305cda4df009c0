"""Source-validation accuracy per layer (no target labels): how ``config.layer`` was chosen.

``python -m experiments.lm_domain_shift.probe_layers`` fits scikit-learn logistic regressions
(C = 0.01 and 1) on each source domain's ``train`` rows and prints their accuracy on its
``validation`` rows, per layer. Run once on books and dvd after a first grid with layer 6
(README, "Layer choice").
"""

from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from experiments.lm_domain_shift import features as F
from experiments.lm_domain_shift.configs import default

if __name__ == "__main__":
    c = default.get_config()
    c.domains = ("books", "dvd")
    t = F.load_texts(c)
    f, _ = F.features(c, t)
    for dom in c.domains:
        lab = t[dom]["labelled"]
        tr, va = lab["split"] == "train", lab["split"] == "validation"
        for li in (3, 4, 5, 6):
            x = f[dom]["labelled"][:, c.layers.index(li)]
            s = StandardScaler().fit(x[tr])
            for C in (0.01, 1.0):
                m = LogisticRegression(C=C, max_iter=3000).fit(s.transform(x[tr]), lab["y"][tr])
                acc = 100 * m.score(s.transform(x[va]), lab["y"][va])
                print(f"{dom} layer {li} C {C}: validation accuracy {acc:.1f}", flush=True)

"""Two moons, target rotated by 30°: the ADAPT documentation protocol (full budget).

Source: ``make_moons(n_samples=100, noise=0.05)`` shifted by −0.5; target = source rotated
by 30°. Network: encoder 10-10 ReLU, sigmoid task head, discriminator 10-10 ReLU (DANN);
Adam(lr 1e-3, β1 = 0.5), 800 epochs, batch 34 (3 steps per epoch). Accuracy is measured on
the (unlabelled-in-training) target points. Published (ADAPT docs, "Two moons"):
source-only 0.84, DANN 0.94, Deep CORAL 0.94.

λ (the weight of the alignment term) is fixed a priori, not tuned on the target: DANN uses
the paper's schedule λ_p = 2/(1+e^{-10p}) − 1 with λ = 1; CORAL and MMD use λ = 1.

Run: ``python -m experiments.two_moons.main --workdir runs/two_moons --config.method=dann``
"""

from experiments import _dalib


def get_config():
    c = _dalib.base_config()
    c.method = "source_only"
    c.n_samples = 100
    c.noise = 0.05
    c.angle = 30.0
    c.hidden = (10, 10)
    c.disc_hidden = (10, 10)
    c.learning_rate = 1e-3
    c.b1 = 0.5
    c.batch_size = 34
    c.num_epochs = 800
    c.lam = 1.0
    c.lam_schedule = "constant"
    c.eval_every = 300
    c.save_every = 600
    c.plot = True
    return c

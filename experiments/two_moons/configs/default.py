"""Two moons, target rotated by 30°: the ADAPT documentation protocol (full budget).

Source: ``make_moons(n_samples=100, noise=0.05)`` shifted by −0.5; target = source rotated
by 30°. Task network MLP 10-10 ReLU + sigmoid output, Adam(lr 1e-3, β1 = 0.5), 800 epochs,
batch 34 (3 steps per epoch). Accuracy is measured on the (unlabelled-in-training) target
points. Published (ADAPT docs, "Two moons"): source-only 0.84.

Run: ``python -m experiments.two_moons.main --workdir runs/two_moons``
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.method = "source_only"
    c.seed = 0
    c.n_samples = 100
    c.noise = 0.05
    c.angle = 30.0
    c.hidden = (10, 10)
    c.learning_rate = 1e-3
    c.b1 = 0.5
    c.batch_size = 34
    c.num_epochs = 800
    c.eval_every = 300
    c.save_every = 600
    c.keep_checkpoints = 2
    c.plot = True
    # Debug only: the process SIGKILLs itself after this step (used by the kill/resume test).
    c.debug_kill_at_step = -1
    return c

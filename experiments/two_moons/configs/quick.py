"""Quick-suite config: the full ADAPT protocol is already small (2400 steps); only the
intermediate checkpoints and evaluations are dropped."""

from experiments.two_moons.configs import default


def get_config():
    c = default.get_config()
    c.eval_every = 2400
    c.save_every = 2400
    return c

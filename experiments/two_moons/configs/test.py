"""Tiny config for the end-to-end tests."""

from experiments.two_moons.configs import default


def get_config():
    c = default.get_config()
    c.num_epochs = 40
    c.eval_every = 40
    c.save_every = 30
    c.plot = False
    c.num_restarts = 1
    return c

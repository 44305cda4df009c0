"""Tiny config for the end-to-end tests."""

from experiments.transferability.configs import default


def get_config():
    c = default.get_config()
    c.seeds = (0,)
    c.n_labelled = (20,)
    c.num_folds = 4
    c.steps = 100
    c.plot = False
    return c

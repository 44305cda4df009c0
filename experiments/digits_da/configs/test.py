"""Tiny config for the end-to-end test."""

from experiments.digits_da.configs import default


def get_config():
    c = default.get_config()
    c.num_steps = 300
    c.eval_every = 300
    c.save_every = 300
    c.lam_grid = (1.0,)
    return c

"""Tiny config for the end-to-end test."""

from experiments.sample_bias.configs import default


def get_config():
    c = default.get_config()
    c.num_steps = 600
    c.plot = False
    return c

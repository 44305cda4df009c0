"""Tiny config for the end-to-end test."""

from experiments.lopt_quadratics.configs import default


def get_config():
    c = default.get_config()
    c.dim = 3
    c.lstm_hidden = 4
    c.horizon = 4
    c.truncation_length = 2
    c.num_tasks = 2
    c.meta_steps = 3
    c.log_every = 2
    c.save_every = 2
    c.eval_steps = 4
    c.num_eval = 3
    c.num_tune = 2
    c.lr_grid = (0.1, 0.01)
    c.baselines = ("SGD", "Adam")
    c.plot = False
    return c

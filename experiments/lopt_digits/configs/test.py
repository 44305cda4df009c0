"""Tiny config for the end-to-end test."""

from experiments.lopt_digits.configs import default


def get_config():
    c = default.get_config()
    c.hidden = (4,)
    c.wide_hidden = (6,)
    c.batch_size = 8
    c.lstm_hidden = 4
    c.horizon = 4
    c.truncation_length = 2
    c.num_tasks = 2
    c.meta_steps = 2
    c.log_every = 1
    c.save_every = 1
    c.eval_steps = 3
    c.num_eval = 2
    c.num_tune = 2
    c.lr_grid = (0.1, 0.01)
    c.baselines = ("Adam",)
    c.variants = ("relu",)
    c.plot = False
    return c

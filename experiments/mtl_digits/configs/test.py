"""Tiny config for the end-to-end test."""

from experiments.mtl_digits.configs import default


def get_config():
    c = default.get_config()
    c.methods = ("single_task", "gradnorm", "mgda")
    c.seeds = (0,)
    c.num_train_pairs = 300
    c.num_test_pairs = 200
    c.hidden = 16
    c.batch_size = 32
    c.num_steps = 30
    c.eval_every = 15
    c.save_every = 15
    return c

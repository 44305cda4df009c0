"""Tiny config for the end-to-end test."""

from experiments.maml_sinusoid.configs import default


def get_config():
    c = default.get_config()
    c.hidden = (16, 16)
    c.num_iterations = 40
    c.chunk = 20
    c.save_every = 20
    c.meta_batch_size = 4
    c.eval_tasks = 20
    c.eval_shots = (5,)
    c.plot = True
    return c

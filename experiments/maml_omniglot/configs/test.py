"""Tiny config for the end-to-end test (digits, so no data files)."""

from experiments.maml_omniglot.configs import digits_quick


def get_config():
    c = digits_quick.get_config()
    c.hidden = 16
    c.meta_batch_size = 4
    c.num_iterations = 6
    c.train_steps = 1
    c.eval_steps = 2
    c.eval_every = 3
    c.save_every = 3
    c.eval_tasks = 20
    c.eval_tasks_during = 10
    c.eval_batch = 10
    return c

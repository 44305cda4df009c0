"""The budget measured on the shared 2-core CPU: 300 meta-steps of 8 tasks (about 20 min)."""

from experiments.lopt_digits.configs import default


def get_config():
    c = default.get_config()
    c.meta_steps = 300
    c.num_tasks = 8
    c.num_eval = 16
    c.num_tune = 4
    c.log_every = 10
    c.save_every = 50
    return c

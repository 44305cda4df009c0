"""Quick suite: same protocol, fewer steps."""

from experiments.digits_da.configs import default


def get_config():
    c = default.get_config()
    c.num_steps = 1000
    c.eval_every = 1000
    c.save_every = 1000
    return c

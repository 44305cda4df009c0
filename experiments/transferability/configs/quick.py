"""Quick suite: negative transfer on digits with 5 seeds and 30 labelled target examples."""

from experiments.transferability.configs import default


def get_config():
    c = default.get_config()
    c.seeds = tuple(range(5))
    c.n_labelled = (30,)
    return c

"""Quick suite: one seed, fewer steps (runs in well under 2 minutes on 2 cores)."""

from experiments.mtl_digits.configs import default


def get_config():
    c = default.get_config()
    c.seeds = (0,)
    c.num_train_pairs = 4000
    c.num_test_pairs = 2000
    c.num_steps = 1000
    c.eval_every = 500
    return c

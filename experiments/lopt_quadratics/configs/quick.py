"""Quick-suite budget: short meta-training (fits well under 2 minutes on 2 CPU cores)."""

from experiments.lopt_quadratics.configs import default


def get_config():
    c = default.get_config()
    c.meta_steps = 600
    c.num_tasks = 32
    c.num_eval = 128
    c.num_tune = 64
    return c

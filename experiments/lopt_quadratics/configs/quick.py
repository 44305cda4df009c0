"""Quick-suite budget: 1000 meta-steps of 128 functions (about 1.5 min of CPU time)."""

from experiments.lopt_quadratics.configs import default


def get_config():
    c = default.get_config()
    c.meta_steps = 1000
    c.num_tasks = 128  # the paper's batch of 128 functions per meta-step
    c.num_eval = 128
    c.num_tune = 64
    return c

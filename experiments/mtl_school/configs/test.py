"""Tiny config for the end-to-end test: synthetic hierarchical tasks, 1 split, few steps."""

from experiments.mtl_school.configs import default


def get_config():
    c = default.get_config()
    c.dataset = "synthetic"
    c.num_splits = 1
    c.cv_folds = 3
    c.ridge_grid = (0.1, 10.0)
    c.soft_grid = (1.0, 100.0)
    c.hard_rank = 3
    c.hard_steps = 60
    c.save_every = 30
    c.eb_steps = 100
    c.synthetic_tasks = 8
    c.synthetic_dim = 4
    return c

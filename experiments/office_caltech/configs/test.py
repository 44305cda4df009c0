"""Tiny config for the end-to-end test: two shifts, 2 trials, short MLP runs."""

from experiments.office_caltech.configs import default


def get_config():
    c = default.get_config()
    c.shifts = ("W→D", "D→W")
    c.num_trials = 2
    c.svm_cs = (1e-3, 1.0)
    c.deep_methods = ("coral",)
    c.lam_grid = (1.0,)
    c.mlp.hidden = (64,)
    c.mlp.disc_hidden = (64,)
    c.mlp.num_steps = 100
    c.mlp.eval_every = 100
    c.mlp.save_every = 100
    return c

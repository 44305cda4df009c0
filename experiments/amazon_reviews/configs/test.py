"""Tiny config for the end-to-end test: one shift, short runs."""

from experiments.amazon_reviews.configs import default


def get_config():
    c = default.get_config()
    c.shifts = ("B→K",)
    c.methods = ("source_only", "dann", "iw_logreg")
    c.lam_grid = (1.0,)
    c.lr_cs = (0.1,)
    c.mlp.num_steps = 200
    c.mlp.eval_every = 200
    c.mlp.save_every = 200
    return c

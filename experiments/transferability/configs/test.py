"""Tiny config for the end-to-end tests."""

from experiments.transferability.configs import default


def get_config():
    c = default.get_config()
    c.seeds = (0,)
    c.n_labelled = (20,)
    c.num_folds = 4
    c.steps = 100
    c.plot = False
    # LogME protocol: scikit-learn digits only (no files), 3 models, 2 seeds
    c.data = "sklearn"
    c.zoo = ("mnist", "mnist_parity", "random")
    c.logme_seeds = (0, 1)
    c.pretrain_steps = 100
    c.n_train = 300
    c.finetune_lrs = (1e-3,)
    c.finetune_wds = (0.0, 1e-2)
    c.finetune_steps = 50
    c.num_resamples = 50
    return c

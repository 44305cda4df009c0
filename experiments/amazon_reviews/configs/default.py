"""Amazon reviews, 12 shifts, DANN JMLR protocol (published DANN mean 76.3 on the raw
5000-d features; RESULTS_FROM_PAPERS.md §2).

Run: ``JTRANSFER_MANUAL_DIR=/path/to/shared/data python -m experiments.amazon_reviews.main
--workdir runs/amazon``
"""

import ml_collections

from experiments.amazon_reviews.train import METHODS, SHIFTS
from jtransfer import recipes


def get_config():
    c = ml_collections.ConfigDict()
    c.manual_dir = ""  # empty: $JTRANSFER_MANUAL_DIR or ../shared/data
    c.data_subdir = "amazon_reviews_dann"
    c.file_pattern = "{domain}_{split}.svmlight"  # domain: books/dvd/electronics/kitchen
    c.seed = 0
    c.shifts = SHIFTS
    c.methods = METHODS
    c.lam_grid = (0.1, 1.0)
    c.lr_cs = (0.01, 0.1, 1.0)  # IW logistic regression C grid
    c.domain_c = 0.01  # C of the logistic domain classifier (weights)
    mlp = recipes.default_config()  # the library recipe; method and lam set per run
    mlp.hidden = (50,)  # the paper's shallow DANN: 50 hidden units, sigmoid
    mlp.activation = "sigmoid"
    mlp.disc_hidden = ()  # logistic domain regressor on the hidden layer
    mlp.learning_rate = 1e-3
    mlp.lam_schedule = "dann"
    mlp.batch_size = 64
    mlp.num_steps = 1500
    mlp.eval_every = 1500
    mlp.save_every = 1500
    c.mlp = mlp
    return c

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
    c.shallow = shallow_config()
    return c


def shallow_config():
    """The DANN authors' shallow protocol (``GRAAL-Research/domain_adversarial_neural_network``
    at 91eeb0c: ``experiments_amazon.py`` lines 13-16 and 21-23, ``DANN.py``); the README
    table says where each value comes from."""
    c = ml_collections.ConfigDict()
    c.manual_dir = ""
    c.data_subdir = "amazon_reviews_dann"
    c.file_pattern = "{domain}_{split}.svmlight"
    c.shifts = SHIFTS
    c.seeds = (0, 1, 2, 3, 4)
    c.binarise = False  # raw counts, as load_svmlight_files + todense
    c.hidden = 50  # hidden_layer_size = 50
    c.learning_rate = 1e-3  # learning_rate = 0.001 (raw features)
    c.lam = 0.1  # lambda_adapt = 0.1 if adversarial else 0.
    c.max_epochs = 200  # maxiter = 200
    c.min_epochs = 30  # continue_until = 30
    c.patience_factor = 1.5  # continue_until = max(continue_until, int(1.5*t))
    return c

"""sklearn digits → digits rotated by 30° with pixel noise σ = 0.1 (no published number; a
quick-suite sanity check that alignment helps under a controlled shift).

Run: ``python -m experiments.digits_da.main --workdir runs/digits_da --config.method=dann``
"""

from jtransfer import recipes


def get_config():
    c = recipes.default_config()  # the library recipe's fields, overridden below
    c.seed = 0
    c.method = "source_only"
    c.dataset = "sklearn"  # see experiments/digits_da/train.py; full.py for the rest
    c.direction = "M→U"
    c.normalize = "none"  # "l2": unit-norm feature rows
    c.manual_dir = ""  # empty: $JTRANSFER_MANUAL_DIR or ../shared/data
    c.rotation = 30.0
    c.noise = 0.1
    c.hidden = (128, 64)
    c.disc_hidden = (64,)
    c.learning_rate = 1e-3
    c.batch_size = 64
    c.num_steps = 1500
    c.eval_every = 1500
    c.save_every = 1500
    c.lam_grid = (0.1, 1.0)
    c.lam_schedule = "dann"
    # Split sizes (every dataset; the defaults are the protocol's published splits):
    c.source_val_fraction = 0.2  # held-out source share for λ selection (floor of n * f)
    c.sklearn_source_fraction = 0.5  # "sklearn": source share of the 1797 digits
    c.mnist_target_split = 5000  # "usps_full" U→M: MNIST test[:n] unlabelled, [n:] test
    c.mnist_m_split = 4500  # "mnist_m": MNIST test[:n] source, MNIST-M test[n:] target
    return c

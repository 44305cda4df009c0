"""1-D sample bias (ADAPT docs "Sample bias"): source N(0, 0.5²), target U(−1.5, 1.5),
n = 100 each, MLP (100, 100) regressor. Published target MAE: source-only 0.248, KMM
(γ = 0.1) 0.162, KLIEP (σ by likelihood CV) 0.108.

Run: ``python -m experiments.sample_bias.main --workdir runs/sample_bias``
"""

import ml_collections

from experiments.sample_bias.train import METHODS


def get_config():
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.n_source = 100
    c.n_target = 100
    c.source_std = 0.5  # the shift: source x ~ N(0, source_std²) ...
    c.target_range = (-1.5, 1.5)  # ... target x ~ U(target_range)
    c.noise = 0.1  # y = f(x) + noise·ε
    c.hidden = (100, 100)
    c.learning_rate = 1e-3
    c.num_steps = 2000  # full-batch Adam steps
    c.kmm_gamma = 0.1  # ADAPT's KMM kernel exp(−γ‖x−y‖²), i.e. σ = √(1/(2γ))
    c.methods = METHODS
    c.protocol = (
        "ours"  # "ours": the fields above; "adapt": ADAPT's MLPRegressor (configs/adapt.py)
    )
    c.adapt_alpha = 1e-4  # MLPRegressor's defaults, used by protocol "adapt" only
    c.adapt_tol = 1e-4
    c.adapt_max_iter = 200
    c.plot = True
    c.mesh_shape = (1,)  # the regression batch over a "data" axis; (-1,) = all devices
    return c

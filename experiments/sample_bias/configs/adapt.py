"""ADAPT's own network and training for every method (the published protocol): scikit-learn's
``MLPRegressor((100, 100))`` with its defaults, as ADAPT's ``sample_bias`` notebook fits it
(``adapt-python/adapt``, ``src_docs/examples/sample_bias.ipynb``, cells 8, 11 and 14):
ReLU, Glorot-uniform weights and biases, Adam lr 1e-3, one full batch of the 100 points per
epoch, at most 200 epochs with sklearn's tol = 1e-4 / 10-epoch stopping rule, L2 α = 1e-4; a
weighted method fits a bootstrap resample drawn ∝ its weights (ADAPT's ``fit_estimator``
for estimators without ``sample_weight``).

Run: ``python -m experiments.sample_bias.main --workdir runs/sample_bias_adapt
--config experiments/sample_bias/configs/adapt.py``
"""

from experiments.sample_bias.configs import default


def get_config():
    c = default.get_config()
    c.protocol = "adapt"
    c.hidden = (100, 100)
    c.learning_rate = 1e-3
    return c

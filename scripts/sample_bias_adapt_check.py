"""Cross-check of the sample-bias baseline against ADAPT's own example, with scikit-learn only.

Runs cells 5 and 8-9 of ADAPT's ``sample_bias`` notebook (adapt-python/adapt,
``src_docs/examples/sample_bias.ipynb``): the data drawn after ``np.random.seed(0)``, then
``MLPRegressor((100, 100))`` fitted after ``np.random.seed(0)`` on ``f(Xs)`` (a fresh noise
draw, as the notebook does), and its target MAE (published: 0.248). Then the same network on
the same data with 20 other initialisations, to show where 0.248 sits, and our JAX
re-implementation (``experiments.sample_bias.train.fit_adapt_mlp``) with 20 initialisations
of its own, to compare the two trainings' spread.

ADAPT itself is not needed (source only does not call it) and CI does not run this script:

    PYTHONPATH=. python scripts/sample_bias_adapt_check.py
"""

from __future__ import annotations

import warnings

import numpy as np


def f(x, noise=0.1):
    return (
        (x**4) * np.exp(-(x**2)) + (x**2) * (1 - np.exp(-(x**2))) + noise * np.random.randn(len(x))
    )


def main() -> None:
    import jax
    import jax.numpy as jnp
    import sklearn
    from sklearn.metrics import mean_absolute_error
    from sklearn.neural_network import MLPRegressor

    from experiments.sample_bias import train

    warnings.filterwarnings("ignore")
    np.random.seed(0)
    xs = np.random.randn(100) * 0.5
    xt = np.random.random(100) * 3 - 1.5
    ys = f(xs)
    yt = f(xt)
    np.random.seed(0)
    est = MLPRegressor(hidden_layer_sizes=(100, 100))
    ys_fit = f(xs)
    est.fit(xs.reshape(-1, 1), ys_fit)
    mae = mean_absolute_error(est.predict(xt.reshape(-1, 1)), yt)
    print(
        f"scikit-learn {sklearn.__version__}: ADAPT's notebook, source only: MAE {mae:.3f} "
        f"(published 0.248), {est.n_iter_} epochs"
    )
    maes = []
    for seed in range(20):
        e = MLPRegressor(hidden_layer_sizes=(100, 100), random_state=seed)
        maes.append(
            mean_absolute_error(e.fit(xs.reshape(-1, 1), ys).predict(xt.reshape(-1, 1)), yt)
        )
    print(
        f"same data, 20 other initialisations: MAE {np.mean(maes):.3f} ± "
        f"{np.std(maes, ddof=1):.3f} (min {min(maes):.3f}, max {max(maes):.3f})"
    )
    # Our JAX re-implementation on the same data, 20 initialisations of its own.
    ours = []
    for seed in range(20):
        layers = train.adapt_init(jax.random.key(seed), (1, 100, 100, 1))
        p, n_iter, _ = train.fit_adapt_mlp(
            layers,
            jnp.asarray(xs[:, None], jnp.float32),
            jnp.asarray(ys, jnp.float32),
            learning_rate=1e-3,
            alpha=1e-4,
            tol=1e-4,
        )
        pred = np.asarray(train.adapt_apply(p, jnp.asarray(xt[:, None], jnp.float32)))
        ours.append(float(np.mean(np.abs(pred - yt))))
    print(
        f"our JAX MLPRegressor, same data, 20 initialisations: MAE {np.mean(ours):.3f} ± "
        f"{np.std(ours, ddof=1):.3f} (min {min(ours):.3f}, max {max(ours):.3f})"
    )


if __name__ == "__main__":
    main()

"""select.iw_accuracy and select.reverse_validation against closed forms."""

import jax.numpy as jnp
import numpy as np
import pytest

from jtransfer import select


def test_iw_accuracy_is_the_weighted_hit_rate_and_scale_free():
    rng = np.random.default_rng(0)
    pred, y = rng.integers(0, 3, 50), rng.integers(0, 3, 50)
    w = rng.random(50)
    ref = np.sum(w * (pred == y)) / np.sum(w)
    np.testing.assert_allclose(float(select.iw_accuracy(pred, y, w)), ref, rtol=1e-6)
    np.testing.assert_allclose(float(select.iw_accuracy(pred, y, 7 * w)), ref, rtol=1e-6)
    assert float(select.iw_accuracy(pred, y, np.ones(50))) == pytest.approx(np.mean(pred == y))
    with pytest.raises(ValueError, match=r"\(50,\).*\(49,\)"):
        select.iw_accuracy(pred, y[:49], w)


def test_reverse_validation_trains_backwards_and_scores_on_the_source():
    """A nearest-class-mean 'method' on 1-d data: the reverse model fitted on the
    pseudo-labelled target is scored on the source labels, with the cross-entropy of its
    logits (closed form here)."""
    xs = jnp.array([[-2.0], [-1.0], [1.0], [2.0]])
    ys = jnp.array([0, 0, 1, 1])
    xt = jnp.array([[-1.5], [0.5], [1.5]])
    seen = {}

    def fit(x, y, x_other):
        seen["args"] = (np.asarray(x), np.asarray(y), np.asarray(x_other))
        m0, m1 = x[y == 0].mean(), x[y == 1].mean()
        return lambda z: (z - (m0 + m1) / 2) * jnp.sign(m1 - m0)  # one sigmoid logit

    good = select.reverse_validation(fit, xs, ys, xt, jnp.array([0, 1, 1]))
    np.testing.assert_array_equal(seen["args"][0], np.asarray(xt))  # target as source
    np.testing.assert_array_equal(seen["args"][2], np.asarray(xs))  # source as target
    # means -1.5 and 1.0: threshold -0.25; logits on xs: -1.75, -0.75, 1.25, 2.25
    z = np.array([-1.75, -0.75, 1.25, 2.25])
    t = np.array([0, 0, 1, 1])
    ce = np.mean(np.log1p(np.exp(-z)) * t + np.log1p(np.exp(z)) * (1 - t))
    assert good.accuracy == 1.0 and good.loss == pytest.approx(ce, rel=1e-5)
    flipped = select.reverse_validation(fit, xs, ys, xt, jnp.array([1, 0, 0]))
    assert flipped.accuracy == 0.0 and flipped.loss > good.loss
    with pytest.raises(ValueError, match="pseudo_labels_target"):
        select.reverse_validation(fit, xs, ys, xt, jnp.array([0, 1]))

"""Domain discrepancies: proxy A-distance (domain-classifier error) and an MMD distance."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jtransfer import align
from jtransfer._core.checks import check_pair, check_positive
from jtransfer._core.kernels import Bandwidth
from jtransfer._core.keys import default_key
from jtransfer.select._logistic import fit_logistic


def domain_classifier_error(
    source: jax.Array,
    target: jax.Array,
    *,
    key: jax.Array | None = None,
    train_fraction: float = 0.5,
    l2: float = 1e-3,
    steps: int = 300,
) -> jax.Array:
    r"""Held-out balanced error of a logistic source-vs-target classifier.

    Each domain is split at random (``key``) into a training part (``train_fraction``) and a
    held-out part; an L2-regularised logistic regression (class-balanced loss, standardised
    inputs) is fit on the training parts and the error is
    :math:`\tfrac12(\mathrm{err}_S + \mathrm{err}_T)` on the held-out parts, so chance level
    is 0.5 whatever the sample sizes.

    Args:
      source: (n_s, d) source features.
      target: (n_t, d) target features.
      key: ``jax.random`` key for the train/held-out split (``None``: ``jax.random.key(0)``).
      train_fraction: fraction of each domain used to train the classifier.
      l2: L2 penalty of the logistic regression (> 0).
      steps: full-batch Adam steps.

    Returns:
      Scalar error in [0, 1].
    """
    xs, xt = check_pair(source, target, "source", "target")
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction!r}")
    check_positive(l2, "l2")
    ns, nt = xs.shape[0], xt.shape[0]
    ks, kt = jax.random.split(default_key(key))
    ps, pt = jax.random.permutation(ks, ns), jax.random.permutation(kt, nt)
    ms = max(1, min(ns - 1, int(round(train_fraction * ns))))
    mt = max(1, min(nt - 1, int(round(train_fraction * nt))))
    tr_s, te_s = xs[ps[:ms]], xs[ps[ms:]]
    tr_t, te_t = xt[pt[:mt]], xt[pt[mt:]]
    x = jnp.concatenate([tr_s, tr_t])
    t = jnp.concatenate([jnp.zeros(ms, x.dtype), jnp.ones(mt, x.dtype)])
    sw = jnp.concatenate([jnp.full(ms, 0.5 / ms, x.dtype), jnp.full(mt, 0.5 / mt, x.dtype)])
    model = fit_logistic(x, t, l2=l2, steps=steps, sample_weight=sw)
    err_s = jnp.mean(model.logits(te_s) > 0)
    err_t = jnp.mean(model.logits(te_t) <= 0)
    return 0.5 * (err_s + err_t)


def proxy_a_distance(
    source: jax.Array,
    target: jax.Array,
    *,
    key: jax.Array | None = None,
    train_fraction: float = 0.5,
    l2: float = 1e-3,
    steps: int = 300,
) -> jax.Array:
    r"""Proxy A-distance :math:`\hat d_A = 2(1 - 2\epsilon)` from a domain classifier's error.

    :math:`\epsilon` is the held-out balanced error of a logistic regression separating
    source from target (:func:`domain_classifier_error`). Identical domains give
    :math:`\epsilon\approx 0.5`, :math:`\hat d_A \approx 0`; separable domains give
    :math:`\epsilon = 0`, :math:`\hat d_A = 2`. A classifier worse than chance could be
    flipped, so :math:`\epsilon` is clipped to :math:`\le 0.5` and :math:`\hat d_A\in[0, 2]`.

    Args:
      source: (n_s, d) source features.
      target: (n_t, d) target features.
      key: ``jax.random`` key for the train/held-out split (``None``: ``jax.random.key(0)``).
      train_fraction: fraction of each domain used to train the classifier.
      l2: L2 penalty of the logistic regression (> 0).
      steps: full-batch Adam steps.

    Returns:
      Scalar proxy A-distance in [0, 2].

    References:
      Ben-David et al. 2007, "Analysis of Representations for Domain Adaptation", NeurIPS;
      Ben-David et al. 2010, "A theory of learning from different domains",
      https://doi.org/10.1007/s10994-009-5152-4 ; Ganin et al. 2016 (DANN),
      https://arxiv.org/abs/1505.07818 (PAD protocol).
    """
    err = domain_classifier_error(
        source, target, key=key, train_fraction=train_fraction, l2=l2, steps=steps
    )
    return 2.0 * (1.0 - 2.0 * jnp.minimum(err, 0.5))


def mmd_distance(
    source: jax.Array, target: jax.Array, *, bandwidth: Bandwidth = "median"
) -> jax.Array:
    r"""MMD distance :math:`\sqrt{\max(\widehat{\mathrm{MMD}}^2_b, 0)}` between two samples.

    Uses :func:`jtransfer.align.mmd2` with the biased (V-statistic) estimator, which is
    non-negative, with a Gaussian kernel (``bandwidth`` as there: a float, a sequence for a
    multi-kernel, or ``"median"``).

    Args:
      source: (n_s, d) source features.
      target: (n_t, d) target features.
      bandwidth: kernel bandwidth(s) or ``"median"``.

    Returns:
      Scalar MMD (≥ 0; 0 for identical samples).

    References:
      Gretton et al. 2012, "A Kernel Two-Sample Test", https://jmlr.org/papers/v13/gretton12a.html
    """
    xs, xt = check_pair(source, target, "source", "target")
    return jnp.sqrt(jnp.maximum(align.mmd2(xs, xt, bandwidth=bandwidth, estimator="biased"), 0.0))

"""jtransfer._core: helpers shared by every subpackage (private; no public API).

* :mod:`~jtransfer._core.checks` — argument checks (ranks, shapes, positive numbers, finite
  values, probability vectors, stacked per-task trees), one tracer test.
* :mod:`~jtransfer._core.keys` — :func:`~jtransfer._core.keys.default_key`, the one resolver of
  the library's key convention (keyword-only ``key: jax.Array | None = None``).
* :mod:`~jtransfer._core.distances` — pairwise squared distances and covariances.
* :mod:`~jtransfer._core.kernels` — the Gaussian-kernel bandwidth convention (median heuristic).
* :mod:`~jtransfer._core.solvers` — the QP solver (KMM, multi-kernel MMD weights) and the
  min-norm simplex solver (MGDA, CAGrad) with their linear algebra.
* :mod:`~jtransfer._core.types` — ``Array``, ``PyTree``, ``Scalar`` aliases.

Public names built on these live in the subpackages (``align.pairwise_sq_dists``,
``align.resolve_bandwidth``, ``align.covariance``); subpackages import each other only through
those public names and import ``_core`` directly.
"""

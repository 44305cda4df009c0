"""Benchmark: jtransfer.align / jtransfer.weighting against NumPy (and peers when installed).

Run from the repository root::

    python experiments/bench_align.py          # MMD 4096x256, KMM 2000, CORAL 5000x800
    python experiments/bench_align.py --small  # quick sizes for a smoke run

Timings are the median of ``--repeats`` runs after one warm-up (compile excluded, reported
separately), all in one process, float32, on whatever devices JAX sees (CPU here).
Peers (skada, ADAPT, PyTorch formulas as TLlib / pytorch-adapt write them) run only if they
import; otherwise they are reported as skipped.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from jtransfer import align, weighting  # noqa: E402


def timeit(fn, repeats):
    t0 = time.perf_counter()
    out = fn()
    jax.block_until_ready(out)
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return statistics.median(times), first, out


def have(mod):
    return importlib.util.find_spec(mod) is not None


# --------------------------------------------------------------------------- NumPy baselines
def np_mmd2_unbiased(x, y, sigmas):
    """Straightforward NumPy: pooled Gram matrix via the |a|^2+|b|^2-2ab expansion."""
    z = np.concatenate([x, y])
    sq = (z * z).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (z @ z.T), 0.0)
    k = np.zeros_like(d2)
    for s in sigmas:
        k += np.exp(-d2 / (2 * s * s))
    n, m = len(x), len(y)
    kxx, kyy, kxy = k[:n, :n], k[n:, n:], k[:n, n:]
    nk = len(sigmas)
    return ((kxx.sum() - nk * n) / (n * (n - 1)) + (kyy.sum() - nk * m) / (m * (m - 1))
            - 2 * kxy.mean())


def np_kmm_admm(xs, xt, sigma, B, eps, tol=1e-5, max_iters=20000, rho=0.1, sig=1e-6,
                alpha=1.6, check_every=25):
    """The same OSQP-style ADMM in NumPy/SciPy (Cholesky solves), same stopping rule."""
    import scipy.linalg as sl
    n_s, n_t = len(xs), len(xt)
    d2 = lambda a, b: np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None] - 2 * a @ b.T, 0)
    K = np.exp(-d2(xs, xs) / (2 * sigma**2))
    q = -(n_s / n_t) * np.exp(-d2(xs, xt) / (2 * sigma**2)).sum(1)
    A = lambda v: np.concatenate([v, [v.sum()]])
    At = lambda v: v[:n_s] + v[n_s]
    lo = np.r_[np.zeros(n_s), n_s * (1 - eps)]
    hi = np.r_[np.full(n_s, B), n_s * (1 + eps)]
    gram = np.eye(n_s) + 1.0
    fac = sl.cho_factor(K + sig * np.eye(n_s) + rho * gram)
    x, z, y = np.zeros(n_s), np.zeros(n_s + 1), np.zeros(n_s + 1)
    it = 0
    while it < max_iters:
        for _ in range(check_every):
            xt_ = sl.cho_solve(fac, sig * x - q + At(rho * z - y))
            zt = A(xt_)
            x = alpha * xt_ + (1 - alpha) * x
            zr = alpha * zt + (1 - alpha) * z
            zn = np.clip(zr + y / rho, lo, hi)
            y = y + rho * (zr - zn)
            z = zn
        it += check_every
        ax, px, aty = A(x), K @ x, At(y)
        rp, rd = np.abs(ax - z).max(), np.abs(px + q + aty).max()
        sp, sd = max(np.abs(ax).max(), np.abs(z).max()), max(np.abs(px).max(),
                                                              np.abs(aty).max(), np.abs(q).max())
        if rp <= tol + tol * sp and rd <= tol + tol * sd:
            break
        r_new = np.clip(rho * np.sqrt((rp / sp) / (rd / sd + 1e-30) + 1e-30), 1e-6, 1e6)
        if r_new > 5 * rho or r_new < rho / 5:
            rho = r_new
            fac = sl.cho_factor(K + sig * np.eye(n_s) + rho * gram)
    return np.clip(x, 0, B), it


def np_coral(xs, xt, eps):
    def mpow(c, p):
        e, v = np.linalg.eigh(c)
        return (v * np.maximum(e, 1e-12) ** p) @ v.T
    d = xs.shape[1]
    cs = np.cov(xs, rowvar=False) + eps * np.eye(d)
    ct = np.cov(xt, rowvar=False) + eps * np.eye(d)
    return xs @ mpow(cs, -0.5) @ mpow(ct, 0.5)


# --------------------------------------------------------------------------- peers (optional)
def torch_mmd2(x, y, sigmas):
    """The TLlib / pytorch-adapt formula in PyTorch (pooled Gram matrix, sum of kernels)."""
    import torch
    z = torch.cat([torch.from_numpy(x), torch.from_numpy(y)])
    d2 = torch.cdist(z, z) ** 2
    k = sum(torch.exp(-d2 / (2 * s * s)) for s in sigmas)
    n = len(x)
    nk = len(sigmas)
    return float((k[:n, :n].sum() - nk * n) / (n * (n - 1)) + (k[n:, n:].sum() - nk * n)
                 / (n * (n - 1)) - 2 * k[:n, n:].mean())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    n_mmd, d_mmd = (1024, 64) if args.small else (4096, 256)
    n_kmm = 500 if args.small else 2000
    n_cor, d_cor = (1000, 200) if args.small else (5000, 800)
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}, "
          f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f} "
          "(shared machine: expect noise)")
    rng = np.random.default_rng(0)

    # ---------------------------------------------------------------- MMD
    x = rng.normal(size=(n_mmd, d_mmd)).astype(np.float32)
    y = (rng.normal(size=(n_mmd, d_mmd)) * 1.1 + 0.05).astype(np.float32)
    base = float(np.sqrt(2 * d_mmd))
    sigmas = [base * f for f in (0.25, 0.5, 1.0, 2.0, 4.0)]
    xj, yj = jnp.asarray(x), jnp.asarray(y)
    ours = jax.jit(lambda a, b: align.mmd2(a, b, bandwidth=sigmas, estimator="unbiased"))
    t_ours, c_ours, v_ours = timeit(lambda: ours(xj, yj), args.repeats)
    zj = jnp.concatenate([xj, yj])
    mm = jax.jit(lambda z: z @ z.T)
    t_mm, _, _ = timeit(lambda: mm(zj), args.repeats)
    t_np, _, v_np = timeit(lambda: np_mmd2_unbiased(x, y, sigmas), args.repeats)
    print(f"\nMMD^2 unbiased, n=m={n_mmd}, d={d_mmd}, 5 bandwidths")
    print(f"  jtransfer  {t_ours*1e3:9.1f} ms  (first call incl. compile {c_ours:.2f} s)  "
          f"value {float(v_ours):.6f}")
    print(f"  NumPy      {t_np*1e3:9.1f} ms  value {float(v_np):.6f}   speed-up "
          f"{t_np / t_ours:.2f}x")
    print(f"  one (n+m)x d x(n+m) matmul in JAX: {t_mm*1e3:.1f} ms -> MMD runs at "
          f"{100 * t_mm / t_ours:.0f}% of the matmul bound (MMD time / matmul time = "
          f"{t_ours / t_mm:.2f})")
    if have("torch"):
        t_t, _, v_t = timeit(lambda: torch_mmd2(x, y, sigmas), args.repeats)
        print(f"  PyTorch    {t_t*1e3:9.1f} ms  value {v_t:.6f}   jtransfer speed-up "
              f"{t_t / t_ours:.2f}x")
    else:
        print("  PyTorch: not installed, skipped")
    for peer in ("skada", "adapt"):
        if not have(peer):
            print(f"  {peer}: not installed, skipped")

    # ---------------------------------------------------------------- KMM
    xs = rng.normal(size=(n_kmm, 5)).astype(np.float32)
    xt = (rng.normal(size=(n_kmm, 5)) * 0.8 + 0.3).astype(np.float32)
    sigma = 2.0
    eps = (np.sqrt(n_kmm) - 1) / np.sqrt(n_kmm)
    t_k, c_k, res = timeit(lambda: weighting.kmm(xs, xt, bandwidth=sigma), args.repeats)
    t_kn, _, (w_np, it_np) = timeit(
        lambda: np_kmm_admm(xs.astype(np.float64), xt.astype(np.float64), sigma, 1000.0, eps),
        max(1, args.repeats - 2))
    w = np.asarray(res.weights)
    print(f"\nKMM, n_s=n_t={n_kmm}, d=5")
    print(f"  jtransfer  {t_k*1e3:9.1f} ms  ({int(res.num_iters)} ADMM iterations, converged "
          f"{bool(res.converged)}; first call {c_k:.2f} s)")
    print(f"  NumPy/SciPy same ADMM (float64, Cholesky solves) {t_kn*1e3:9.1f} ms "
          f"({it_np} iterations)  speed-up {t_kn / t_k:.2f}x, weight correlation "
          f"{np.corrcoef(w, w_np)[0, 1]:.4f}")
    if have("adapt"):
        from adapt.instance_based import KMM  # noqa: F401  (peer run left to environments with it)
        print("  ADAPT installed: run its KMM(kernel='rbf') here for a comparison")
    else:
        print("  ADAPT: not installed, skipped (goal: >= 10x ADAPT, correlation >= 0.99)")

    # ---------------------------------------------------------------- CORAL
    a = rng.normal(size=(d_cor, d_cor)).astype(np.float32) / np.sqrt(d_cor)
    xs = (rng.normal(size=(n_cor, d_cor)).astype(np.float32) @ a)
    xt = rng.normal(size=(n_cor, d_cor)).astype(np.float32) * 1.3
    cor = jax.jit(lambda p, q: align.coral(p, q, eps=1.0))
    xsj, xtj = jnp.asarray(xs), jnp.asarray(xt)
    t_c, c_c, out = timeit(lambda: cor(xsj, xtj), args.repeats)
    t_cn, _, out_np = timeit(lambda: np_coral(xs, xt, 1.0), args.repeats)
    err = np.abs(np.asarray(out) - out_np).max() / np.abs(out_np).max()
    print(f"\nCORAL, n={n_cor}, d={d_cor}")
    print(f"  jtransfer  {t_c*1e3:9.1f} ms  (first call {c_c:.2f} s)")
    print(f"  NumPy      {t_cn*1e3:9.1f} ms  speed-up {t_cn / t_c:.2f}x, max rel. diff {err:.1e}")
    for peer in ("skada", "adapt", "torch"):
        if not have(peer):
            print(f"  {peer}: not installed, skipped")


if __name__ == "__main__":
    main()

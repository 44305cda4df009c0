"""Benchmark: jtransfer.align / jtransfer.weighting against NumPy (and peers when installed).

Run from the repository root::

    python experiments/bench_align.py          # MMD 4096x256, KMM 2000x20, CORAL 5000x800
    python experiments/bench_align.py --small  # quick sizes for a smoke run
    python experiments/bench_align.py --json --only numpy   # one JSON line per row

Rows go through ``experiments/_bench.py``: every implementation's value is checked against a
reference before timing (MMD²: the float64 three-block value, 2e-5 absolute; CORAL: float64
NumPy, 1e-3 relative; KMM: weight correlation with jtransfer's >= 0.99), and every round times
all implementations, so each ratio comes from one round. Both sides run float32: the NumPy
MMD² is the three-block form (xx, yy, xy; the pooled (n+m)² Gram matrix did twice the work),
the CORAL inputs are float32 (NumPy 2 turns ``float32 / np.float64(...)`` into float64) and the
NumPy CORAL forms its covariances with a float32 GEMM (``np.cov`` computes in float64). The
MMD² bound is the matrix FLOPs of ``align.mmd2``'s own blocks (the upper block triangle of each
symmetric block and the cross block, :func:`mmd_matrix_flops`) at the rate of the pooled GEMM
timed in the same rounds, not the pooled product itself. KMM is a one-off fit: its rows carry
``compile_s`` beside the warm median, and ADAPT's row is one cold fit in a subprocess.

Peers run only if they import (PyTorch with TLlib's formula, pytorch-adapt, skada in the same
process from their venv: ``PYTHONPATH=. .peers/torch/bin/python experiments/bench_align.py``).
ADAPT (TensorFlow, numpy<2) cannot share a process with JAX: its KMM and CORAL run in a
subprocess of ``$ADAPT_PYTHON`` (default .peers/adapt/bin/python), timed inside it.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time

import numpy as np
from scipy.spatial.distance import pdist

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from experiments import _bench  # noqa: E402
from jtransfer import align, weighting  # noqa: E402


def have(mod):
    return importlib.util.find_spec(mod) is not None


# --------------------------------------------------------------------------- NumPy baselines
def _np_block_sum(a, b, sigmas):
    """``sum_ij sum_u exp(-|a_i - b_j|^2 / (2 sigma_u^2))`` in float32 (one GEMM)."""
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - np.float32(2.0) * (a @ b.T)
    np.maximum(d2, np.float32(0.0), out=d2)
    k = np.zeros_like(d2)
    for s in sigmas:
        k += np.exp(d2 * np.float32(-1.0 / (2 * s * s)))
    return k.sum(dtype=np.float64)


def np_mmd2_unbiased(x, y, sigmas):
    """The strongest simple NumPy form: three blocks (xx, yy, xy), float32 throughout; the
    pooled (n+m)^2 Gram matrix of the old baseline does about twice this work."""
    n, m, nk = len(x), len(y), len(sigmas)
    sxx, syy, sxy = (
        _np_block_sum(x, x, sigmas),
        _np_block_sum(y, y, sigmas),
        _np_block_sum(x, y, sigmas),
    )
    return (sxx - nk * n) / (n * (n - 1)) + (syy - nk * m) / (m * (m - 1)) - 2 * sxy / (n * m)


def np_mmd2_f64(x, y, sigmas):
    """float64 reference value (not timed): the same three blocks in float64."""
    return np_mmd2_unbiased(x.astype(np.float64), y.astype(np.float64), sigmas)


def cached_reference(name, compute, *inputs):
    """``compute()`` (a float64 reference value, not timed), or its copy from
    ``$JTRANSFER_BENCH_REF_CACHE`` when an earlier process of the same harness run
    (``experiments/bench_alternate.py``) computed it on byte-identical ``inputs``, so that
    one-implementation-per-process runs do not recompute the float64 references in every
    process. Without the variable it just computes."""
    import hashlib

    folder = os.environ.get("JTRANSFER_BENCH_REF_CACHE")
    if not folder:
        return compute()
    h = hashlib.sha256(name.encode())
    for a in inputs:
        h.update(np.ascontiguousarray(a).tobytes())
    path = os.path.join(folder, f"{name}_{h.hexdigest()[:16]}.npy")
    if os.path.exists(path):
        return np.load(path)
    value = np.asarray(compute(), np.float64)
    tmp = f"{path}.{os.getpid()}.tmp.npy"
    np.save(tmp, value)
    os.replace(tmp, path)
    return value


def mmd_matrix_flops(n, m, d, block):
    """Matrix FLOPs of ``align.mmd2``'s unbiased path: the upper block triangle of each
    symmetric block (strips of ``block`` rows from the diagonal block on: ``d n (n + block)``)
    and the full cross block (``2 n m d``). This, not the pooled ``2 (n+m)^2 d`` product, is the
    work the algorithm does, so its bound is these FLOPs at the GEMM rate."""
    return d * n * (n + block) + d * m * (m + block) + 2.0 * n * m * d


def np_kmm_admm(
    xs, xt, sigma, B, eps, tol=1e-5, max_iters=20000, rho=0.1, sig=1e-6, alpha=1.6, check_every=25
):
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
        sp, sd = (
            max(np.abs(ax).max(), np.abs(z).max()),
            max(np.abs(px).max(), np.abs(aty).max(), np.abs(q).max()),
        )
        if rp <= tol + tol * sp and rd <= tol + tol * sd:
            break
        r_new = np.clip(rho * np.sqrt((rp / sp) / (rd / sd + 1e-30) + 1e-30), 1e-6, 1e6)
        if r_new > 5 * rho or r_new < rho / 5:
            rho = r_new
            fac = sl.cho_factor(K + sig * np.eye(n_s) + rho * gram)
    return np.clip(x, 0, B), it


def np_coral(xs, xt, eps):
    """NumPy CORAL in the inputs' dtype: ``np.cov`` computes in float64 whatever the input, so
    the covariance is formed here by one float32 GEMM (``ddof = 1``, as ``np.cov``)."""
    dt = xs.dtype

    def cov(a):
        c = a - a.mean(0, dtype=dt)
        return (c.T @ c) / dt.type(len(a) - 1) + dt.type(eps) * np.eye(a.shape[1], dtype=dt)

    def mpow(c, p):
        e, v = np.linalg.eigh(c)
        return (v * np.maximum(e, dt.type(1e-12)) ** dt.type(p)) @ v.T

    out = xs @ mpow(cov(xs), -0.5) @ mpow(cov(xt), 0.5)
    assert out.dtype == dt, out.dtype
    return out


# --------------------------------------------------------------------------- peers (optional)
def torch_mmd2(x, y, sigmas):
    """The TLlib MK-MMD formula in plain PyTorch (pooled Gram matrix, sum of Gaussian kernels,
    unbiased index weights). TLlib forms ||x_i - x_j||^2 by broadcasting an (N, N, d) tensor
    (68 GB here); ``torch.cdist`` computes the same squared distances by a matrix product."""
    import torch

    dev = "cuda" if torch.cuda.is_available() else "cpu"
    z = torch.cat([torch.from_numpy(x), torch.from_numpy(y)]).to(dev)
    d2 = torch.cdist(z, z) ** 2
    k = sum(torch.exp(-d2 / (2 * s * s)) for s in sigmas)
    n = len(x)
    nk = len(sigmas)
    return float(
        (k[:n, :n].sum() - nk * n) / (n * (n - 1))
        + (k[n:, n:].sum() - nk * n) / (n * (n - 1))
        - 2 * k[:n, n:].mean()
    )


def pytorch_adapt_mmd2(x, y, sigmas):
    """pytorch-adapt's ``MMDLoss(mmd_type="quadratic")``: kernel exp(scale * d2) averaged over
    the scales (weights 1/K), so scale_u = 1/(2 sigma_u^2) and the result times K is ours."""
    import torch
    from pytorch_adapt.layers import MMDLoss

    scales = torch.tensor([1.0 / (2 * s * s) for s in sigmas], dtype=torch.float32)
    loss = MMDLoss(kernel_scales=scales, mmd_type="quadratic", bandwidth=1.0)
    with torch.no_grad():
        return float(loss(torch.from_numpy(x), torch.from_numpy(y))) * len(sigmas)


def skada_dan(x, y, sigmas):
    """skada's ``deep.losses.dan_loss``: note its kernel is sum_u exp(-||x - y|| / sigma_u) on
    distances (not squared) and its estimator the biased one, so only the time is comparable."""
    import torch
    from skada.deep.losses import dan_loss

    with torch.no_grad():
        return float(dan_loss(torch.from_numpy(x), torch.from_numpy(y), sigmas=list(sigmas)))


_ADAPT_SCRIPT = r"""
import json, sys, time
import numpy as np
d = np.load(sys.argv[1])
out = {}
from adapt.instance_based import KMM
from adapt.feature_based import CORAL
xs, xt = d["kmm_xs"].astype(np.float64), d["kmm_xt"].astype(np.float64)
ws = []
for tol in d["kmm_tols"]:  # nan: ADAPT's default tolerances
    kmm = KMM(kernel="rbf", gamma=float(d["gamma"]), B=1000.0, max_size=len(xs), verbose=0,
              random_state=0, tol=None if np.isnan(tol) else float(tol))
    t0 = time.perf_counter(); ws.append(kmm.fit_weights(xs, xt))
    out.setdefault("kmm_s", time.perf_counter() - t0)
w = np.stack(ws)
cs, ct = d["cor_xs"], d["cor_xt"]
times = []
for _ in range(int(d["repeats"])):
    cor = CORAL(lambda_=1.0, verbose=0)
    t0 = time.perf_counter()
    emb = cor.fit_transform(cs, ct)
    times.append(time.perf_counter() - t0)
out["coral_s"] = float(np.median(times))
np.savez(sys.argv[2], kmm_w=np.asarray(w), coral=np.asarray(emb, np.float32))
print(json.dumps(out))
"""

ADAPT_PYTHON = os.environ.get(
    "ADAPT_PYTHON",
    os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", ".peers", "adapt", "bin", "python"
    ),
)


def run_adapt(kmm_xs, kmm_xt, sigma, cor_xs, cor_xt, repeats, kmm_tols=(np.nan,)):
    """ADAPT (TensorFlow, numpy<2) lives in its own venv: run KMM and CORAL in a subprocess.
    Returns (kmm seconds at the first tolerance, kmm weights (one row per tolerance; nan =
    ADAPT's defaults), coral seconds, coral output) or None when unavailable."""
    import json
    import subprocess
    import tempfile

    if not os.path.exists(ADAPT_PYTHON):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        inp, outp = os.path.join(tmp, "in.npz"), os.path.join(tmp, "out.npz")
        np.savez(
            inp,
            kmm_xs=kmm_xs,
            kmm_xt=kmm_xt,
            gamma=1.0 / (2 * sigma**2),
            cor_xs=cor_xs,
            cor_xt=cor_xt,
            repeats=repeats,
            kmm_tols=np.asarray(kmm_tols, np.float64),
        )
        r = subprocess.run(
            [ADAPT_PYTHON, "-c", _ADAPT_SCRIPT, inp, outp],
            capture_output=True,
            text=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ""},
        )
        if r.returncode != 0:
            print(f"  ADAPT subprocess failed: {r.stderr.strip().splitlines()[-1:]}")
            return None
        t = json.loads(r.stdout.strip().splitlines()[-1])
        o = np.load(outp)
        return t["kmm_s"], o["kmm_w"], t["coral_s"], o["coral"]


def skada_kmm(xs, xt, sigma):
    from skada import KMMReweightAdapter

    x = np.concatenate([xs, xt]).astype(np.float64)
    dom = np.r_[np.ones(len(xs), int), -2 * np.ones(len(xt), int)]
    ad = KMMReweightAdapter(gamma=1.0 / (2 * sigma**2), B=1000.0)
    return ad.fit(x, sample_domain=dom).source_weights_


def skada_coral(xs, xt):
    from skada import CORALAdapter

    x = np.concatenate([xs, xt])
    dom = np.r_[np.ones(len(xs), int), -2 * np.ones(len(xt), int)]
    return CORALAdapter(reg="auto").fit_transform(x, sample_domain=dom)[: len(xs)]


def bench_kmm(runner, workload, xs, xt, sigma, adapt_res, args):
    """KMM: a one-off fit, so jtransfer's compile time is part of what a user waits for; the
    rows report the warm median, ``compile_s`` and (ADAPT) the cold single fit."""
    n_kmm = xs.shape[0]
    eps = (np.sqrt(n_kmm) - 1) / np.sqrt(n_kmm)
    f = lambda: weighting.kmm(xs, xt, bandwidth=sigma)  # noqa: E731
    t0 = time.perf_counter()
    ref = np.asarray(f().weights, np.float64)  # the first call: compile + one fit
    cold = time.perf_counter() - t0
    # Weights are compared by correlation (KMM's QP is flat along some directions, so solvers
    # stopping at different tolerances differ in the weights while agreeing in the objective).
    corr = lambda w: np.asarray(  # noqa: E731
        [np.corrcoef(ref, np.asarray(w, np.float64))[0, 1]]
    )
    impls = {
        "jtransfer": _bench.Impl(
            lambda: f().weights, corr, jax.block_until_ready, jit=True, first_s=cold
        ),
        "numpy": _bench.Impl(
            lambda: np_kmm_admm(xs.astype(np.float64), xt.astype(np.float64), sigma, 1000.0, eps)[
                0
            ],
            corr,
            note="float64: the same ADMM in NumPy/SciPy, the solver's reference (not same dtype)",
        ),
    }
    if adapt_res is not None:
        impls["adapt"] = _bench.Impl(
            lambda: adapt_res[1][0],
            corr,
            times=[adapt_res[0]],
            first_s=adapt_res[0],
            note="one cold fit in a subprocess (cvxopt QP); compare with jtransfer's "
            "median_s + compile_s for a one-off fit",
        )
    if have("skada"):
        impls["skada"] = _bench.Impl(lambda: skada_kmm(xs, xt, sigma), corr)
    rows = runner.run(workload, impls, reference=np.ones(1), atol=0.01, n=max(1, args.repeats - 2))
    if "jtransfer" in rows and "adapt" in rows:
        j = rows["jtransfer"]
        t_ad = rows["adapt"]["median_s"]
        runner.say(
            f"  one-off fit: ADAPT cold {t_ad:.2f} s / jtransfer cold (compile + fit) "
            f"{j['first_s']:.2f} s = {t_ad / j['first_s']:.1f}x"
        )


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--repeats", type=int, default=3, help="calls per round (median)")
    ap.add_argument("--no-adapt", action="store_true", help="skip the ADAPT subprocess")
    ap.add_argument(
        "--kmm-ill-posed",
        action="store_true",
        help="also run KMM on d=5, sigma=2 (flat QP: solutions depend on tolerance)",
    )
    ap.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: all CPUs, as XLA)"
    )
    _bench.add_args(ap)
    return ap


def main(argv=None):
    args = build_parser().parse_args(argv)
    runner = _bench.Runner(args, device=jax.devices()[0].platform)
    n_mmd, d_mmd = (1024, 64) if args.small else (4096, 256)
    n_kmm = 500 if args.small else 2000
    n_cor, d_cor = (1000, 200) if args.small else (5000, 800)
    runner.say(
        f"jax {jax.__version__} on {jax.devices()[0].platform}, {os.cpu_count()} CPU cores, "
        f"load average {_bench.load()} (shared machine: expect noise)"
    )
    rng = np.random.default_rng(0)

    # ---------------------------------------------------------------- MMD
    x = rng.normal(size=(n_mmd, d_mmd)).astype(np.float32)
    y = (rng.normal(size=(n_mmd, d_mmd)) * np.float32(1.1) + np.float32(0.05)).astype(np.float32)
    base = float(np.sqrt(2 * d_mmd))
    sigmas = [base * f for f in (0.25, 0.5, 1.0, 2.0, 4.0)]
    xj, yj = jnp.asarray(x), jnp.asarray(y)
    ours = jax.jit(lambda a, b: align.mmd2(a, b, bandwidth=sigmas, estimator="unbiased"))
    zj = jnp.concatenate([xj, yj])
    mm = jax.jit(lambda z: z @ z.T)
    block = max(128, -(-n_mmd // 64))  # align._mmd's strip height
    flops = mmd_matrix_flops(n_mmd, n_mmd, d_mmd, block)
    wl = f"mmd2_unbiased_n{n_mmd}_d{d_mmd}_k5_f32"
    impls = {
        "jtransfer": _bench.Impl(lambda: ours(xj, yj), float, jax.block_until_ready, jit=True),
        "numpy": _bench.Impl(lambda: np_mmd2_unbiased(x, y, sigmas), float),
        "xla_gemm_pooled": _bench.Impl(
            lambda: mm(zj),
            block=jax.block_until_ready,
            check="not comparable: the pooled (n+m)x d x(n+m) product alone (rate probe)",
        ),
    }
    if have("torch"):
        import torch

        torch.set_num_threads(args.threads or os.cpu_count())
        impls["torch_tllib"] = _bench.Impl(lambda: torch_mmd2(x, y, sigmas), float)
        if have("pytorch_adapt"):
            impls["pytorch_adapt"] = _bench.Impl(lambda: pytorch_adapt_mmd2(x, y, sigmas), float)
        if have("skada"):
            impls["skada_dan"] = _bench.Impl(
                lambda: skada_dan(x, y, sigmas),
                float,
                check="not comparable: distances (not squared) and the biased estimator",
            )
    # float32 against the float64 value: |MMD^2| is ~1e-2 and its terms ~1, so 2e-5 absolute
    rows = runner.run(
        wl,
        impls,
        reference=cached_reference(wl, lambda: np_mmd2_f64(x, y, sigmas), x, y),
        atol=2e-5,
        n=args.repeats,
        gflop=flops / 1e9,
    )
    if "jtransfer" in rows and "xla_gemm_pooled" in rows:
        j, g = rows["jtransfer"], rows["xla_gemm_pooled"]
        rate = 2.0 * (2 * n_mmd) ** 2 * d_mmd / g["median_s"]
        bound = flops / rate
        runner.say(
            f"  matrix FLOPs of mmd2's own blocks {flops / 1e9:.2f} GFLOP; at the pooled GEMM's "
            f"rate ({rate / 1e9:.0f} GFLOP/s, same rounds) they take {bound * 1e3:.1f} ms -> "
            f"mmd2 runs at {100 * bound / j['median_s']:.0f}% of its own matrix bound"
        )

    # ---------------------------------------------------------------- KMM / CORAL data
    # KMM on 20-d Gaussians with the library's default bandwidth (median pairwise distance
    # of the pooled sample). There the QP has a well-determined solution: ADAPT's default
    # cvxopt run and a 1e-10-tolerance run of it correlate > 0.9999. --kmm-ill-posed adds
    # the previous setting (d = 5, sigma = 2), where the objective is flat to ~5e-7 relative
    # along many directions and ADAPT's default and tight solutions correlate only ~0.76, so
    # a weight correlation with ADAPT measures solver tolerance, not correctness.
    xs = rng.normal(size=(n_kmm, 20)).astype(np.float32)
    xt = (rng.normal(size=(n_kmm, 20)) * 0.8 + 0.3).astype(np.float32)
    sigma = float(np.median(pdist(np.concatenate([xs, xt]).astype(np.float64))))
    # np.float32 divisor: NumPy 2 promotes float32 / np.float64 scalar to float64
    a = rng.normal(size=(d_cor, d_cor)).astype(np.float32) / np.float32(np.sqrt(d_cor))
    cxs = rng.normal(size=(n_cor, d_cor)).astype(np.float32) @ a
    cxt = rng.normal(size=(n_cor, d_cor)).astype(np.float32) * np.float32(1.3)
    assert cxs.dtype == cxt.dtype == np.float32
    want_adapt = not args.no_adapt and runner.wants("adapt")
    adapt_res = (
        run_adapt(xs, xt, sigma, cxs, cxt, args.repeats, (np.nan, 1e-10)) if want_adapt else None
    )
    bench_kmm(runner, f"kmm_n{n_kmm}_d20_median_bw", xs, xt, sigma, adapt_res, args)
    if args.kmm_ill_posed:
        xs5 = rng.normal(size=(n_kmm, 5)).astype(np.float32)
        xt5 = (rng.normal(size=(n_kmm, 5)) * 0.8 + 0.3).astype(np.float32)
        res5 = (
            run_adapt(xs5, xt5, 2.0, cxs[:10], cxt[:10], 1, (np.nan, 1e-10)) if want_adapt else None
        )
        bench_kmm(runner, f"kmm_n{n_kmm}_d5_sigma2_ill_posed", xs5, xt5, 2.0, res5, args)

    # ---------------------------------------------------------------- CORAL
    cor = jax.jit(lambda p, q: align.coral(p, q, eps=1.0))
    xsj, xtj = jnp.asarray(cxs), jnp.asarray(cxt)
    ref = cached_reference(
        f"coral_n{n_cor}_d{d_cor}_f32",
        lambda: np_coral(cxs.astype(np.float64), cxt.astype(np.float64), 1.0),
        cxs,
        cxt,
    )
    impls = {
        "jtransfer": _bench.Impl(lambda: cor(xsj, xtj), block=jax.block_until_ready, jit=True),
        "numpy": _bench.Impl(lambda: np_coral(cxs, cxt, 1.0)),
    }
    if adapt_res is not None:
        impls["adapt"] = _bench.Impl(
            lambda: adapt_res[3],
            times=[adapt_res[2]],
            note="median of the subprocess's own repeats (ADAPT's CORAL computes in float64)",
        )
    if have("skada"):
        impls["skada"] = _bench.Impl(
            lambda: skada_coral(cxs, cxt), check="not comparable: Ledoit-Wolf shrinkage"
        )
    # float32 eigendecompositions of 800x800 covariances against float64: 1e-3 of the scale
    runner.run(f"coral_n{n_cor}_d{d_cor}_f32", impls, reference=ref, rtol=1e-3, n=args.repeats)
    return runner.finish()


if __name__ == "__main__":
    sys.exit(main())

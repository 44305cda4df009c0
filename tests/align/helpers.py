"""Shared test helpers for tests/align and tests/weighting: dtype fixtures and FD checks."""

import contextlib

import jax
import jax.numpy as jnp
import numpy as np

DTYPES = ("float32", "float64")


@contextlib.contextmanager
def dtype_context(name: str):
    """Enables x64 for float64 runs; yields the numpy dtype."""
    if name == "float64":
        with jax.enable_x64(True):
            yield np.float64
    else:
        yield np.float32


def tol(dtype) -> dict:
    return dict(rtol=2e-4, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-11)


def check_fd_grad(f, args, argnum=0, *, seed=0, h=1e-5, rtol=1e-6, atol=1e-8, num_dirs=3):
    """Central finite differences along random directions vs jax.grad (call inside x64)."""
    g = jax.jit(jax.grad(f, argnums=argnum))(*args)
    f = jax.jit(f)
    rng = np.random.default_rng(seed)
    x0 = np.asarray(args[argnum], dtype=np.float64)
    for _ in range(num_dirs):
        v = rng.normal(size=x0.shape)

        def at(t, v=v):
            a = list(args)
            a[argnum] = jnp.asarray(x0 + t * v)
            return float(f(*a))

        fd = (at(h) - at(-h)) / (2 * h)
        an = float(np.sum(np.asarray(g) * v))
        np.testing.assert_allclose(an, fd, rtol=rtol, atol=atol)

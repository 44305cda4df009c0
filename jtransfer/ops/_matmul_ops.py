"""Re-expresses convolutions and non-overlapping max-pools as matmuls and reshapes.

Second-order MAML on a CNN differentiates the convolution twice. On XLA:CPU the weight
gradient of a convolution (and everything built on it: per-task weights under ``vmap`` become
grouped convolutions) is emitted as a slow generic loop, and the second derivative of a
``reduce_window`` max-pool becomes a variadic ``reduce_window`` over index arrays. Written as
patch extraction (strided slices) + ``dot_general`` and as reshape + ``max``, every derivative
of any order is again a matmul, a pad or an elementwise op, which XLA:CPU runs at full speed;
under ``vmap`` with per-task weights the matmul becomes a batched matmul.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jtransfer.ops import _jaxpr


def _conv_supported(params, lhs, rhs) -> bool:
    return (
        params["feature_group_count"] == 1
        and params["batch_group_count"] == 1
        and all(d == 1 for d in params["lhs_dilation"])
        and params.get("preferred_element_type") is None
        and jnp.issubdtype(lhs.dtype, jnp.floating)
        and lhs.dtype == rhs.dtype
    )


def _im2col(x, ksz, pads, strides=None, dilation=None):
    """``(N, S..., C)`` -> ``(N, S'..., prod(K) * C)`` patches of a convolution with kernel size
    ``ksz``, padding ``pads``, window ``strides`` and kernel ``dilation`` (default 1): one
    (strided) slice of the padded input per kernel tap, concatenated along the channels."""
    nsp = len(ksz)
    strides = strides or (1,) * nsp
    dilation = dilation or (1,) * nsp
    x = jnp.pad(x, [(0, 0), *pads, (0, 0)])
    out_sz = [
        (x.shape[1 + d] - (ksz[d] - 1) * dilation[d] - 1) // strides[d] + 1 for d in range(nsp)
    ]
    cols = []
    for offs in np.ndindex(*ksz):
        start = [0] + [o * r for o, r in zip(offs, dilation, strict=True)] + [0]
        limit = (
            [x.shape[0]]
            + [s + (n - 1) * st + 1 for s, n, st in zip(start[1:-1], out_sz, strides, strict=True)]
            + [x.shape[-1]]
        )
        cols.append(lax.slice(x, start, limit, (1, *strides, 1)))
    return jnp.concatenate(cols, axis=-1)


def _transposed_pads(ksz, pads):
    return tuple((k - 1 - lo, k - 1 - hi) for k, (lo, hi) in zip(ksz, pads, strict=True))


def _conv_t(dy, w, pads):
    """The transpose of ``x -> _conv(x, w, pads)`` at ``dy``: the convolution of ``dy`` with
    the spatially flipped, in/out-swapped kernel and the complementary padding."""
    nsp = w.ndim - 2
    wf = jnp.flip(w, axis=tuple(range(nsp)))
    wf = jnp.swapaxes(wf, -1, -2)
    return _conv(dy, wf, _transposed_pads(w.shape[:nsp], pads))


def _wgrad_value(x, dy, ksz, pads):
    p = _im2col(x, ksz, pads)
    batch = tuple(range(p.ndim - 1))
    g = lax.dot_general(p, dy, ((batch, batch), ((), ())))  # (prod(K) * C, O)
    return g.reshape(*ksz, x.shape[-1], dy.shape[-1])


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _wgrad(x, dy, ksz, pads):
    """The kernel gradient ``sum_{n,s} xpad[n, s + k, c] dy[n, s, o]`` of :func:`_conv`."""
    return _wgrad_value(x, dy, ksz, pads)


def _wgrad_fwd(x, dy, ksz, pads):
    return _wgrad_value(x, dy, ksz, pads), (x, dy)


def _wgrad_bwd(ksz, pads, res, ct):
    x, dy = res
    return _conv_t(dy, ct, pads), _conv(x, ct, pads)


_wgrad.defvjp(_wgrad_fwd, _wgrad_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _conv(x, w, pads):
    """Stride-1 convolution ``x (N, S..., C)``, ``w (K..., C, O)``, ``0 <= pads <= K - 1``, as
    im2col + one ``dot_general``, with a VJP that is again such convolutions.

    Left to autodiff, the input gradient of the im2col form is the transpose of the nine (for
    3x3) strided slices: a pad and an add per kernel tap over the patch-gradient array
    (col2im), which took 19 % of the Conv4 second-order MAML step. Here the input gradient is
    the convolution of the output gradient with the flipped kernel and the kernel gradient is
    :func:`_wgrad`, whose own VJP is again these two convolutions, so derivatives of every
    order are im2col copies and matmuls (equal to autodiff's to 1e-15 in float64)."""
    p = _im2col(x, w.shape[:-2], pads)
    return lax.dot_general(p, w.reshape(-1, w.shape[-1]), (((p.ndim - 1,), (0,)), ((), ())))


def _conv_fwd(x, w, pads):
    return _conv(x, w, pads), (x, w)


def _conv_bwd(pads, res, dy):
    x, w = res
    return _conv_t(dy, w, pads), _wgrad(x, dy, w.shape[:-2], pads)


_conv.defvjp(_conv_fwd, _conv_bwd)


def _matmul_conv(
    lhs,
    rhs,
    *,
    window_strides,
    padding,
    rhs_dilation,
    dimension_numbers,
    precision,
    conv_vjp=True,
    **_,
):
    """``lax.conv_general_dilated`` (no lhs dilation, no groups) as patches @ kernel."""
    lhs_spec, rhs_spec, out_spec = dimension_numbers
    x = jnp.transpose(lhs, (lhs_spec[0], *lhs_spec[2:], lhs_spec[1]))  # N, S..., C
    w = jnp.transpose(rhs, (*rhs_spec[2:], rhs_spec[1], rhs_spec[0]))  # K..., I, O
    nsp = x.ndim - 2
    ksz = w.shape[:nsp]
    pads = tuple((int(lo), int(hi)) for lo, hi in padding)
    if (
        conv_vjp
        and precision is None
        and all(s == 1 for s in window_strides)
        and all(r == 1 for r in rhs_dilation)
        and all(0 <= lo <= k - 1 and 0 <= hi <= k - 1 for (lo, hi), k in zip(pads, ksz))
    ):
        out = _conv(x, w, pads)
    else:
        out = _strided_matmul_conv(x, w, window_strides, pads, rhs_dilation, precision)
    # out is (N, S'..., O); out_spec[i] is the output axis of logical dim i (N, C, S...).
    logical = (0, out.ndim - 1, *range(1, out.ndim - 1))
    perm = [0] * out.ndim
    for i, ax in enumerate(out_spec):
        perm[ax] = logical[i]
    return jnp.transpose(out, perm)


def _strided_matmul_conv(x, w, window_strides, padding, rhs_dilation, precision):
    """The general case (strides, dilation, any padding); derivatives by autodiff."""
    patches = _im2col(x, w.shape[: x.ndim - 2], padding, window_strides, rhs_dilation)
    return lax.dot_general(
        patches,
        w.reshape(-1, w.shape[-1]),
        (((patches.ndim - 1,), (0,)), ((), ())),
        precision=precision,
    )


def _pool_supported(params, x) -> bool:
    return (
        tuple(params["window_dimensions"]) == tuple(params["window_strides"])
        and all(p == (0, 0) for p in params["padding"])
        and all(d == 1 for d in params["base_dilation"])
        and all(d == 1 for d in params["window_dilation"])
        and jnp.issubdtype(x.dtype, jnp.floating)
    )


def _reshape_max_pool(x, *, window_dimensions, **_):
    """Non-overlapping max-pool (window == stride, VALID) as reshape + one-hot selection.

    Each window's maximum is picked by ``argmax`` (the first maximal element, as XLA's
    ``select_and_scatter`` gradient of ``reduce_window`` does) and read out as
    ``sum(window * one_hot)`` with the one-hot held constant, so every derivative is an
    elementwise product with that mask. An equality test ``window == max(window)`` (the JVP of
    ``jnp.max``) breaks under ``jit`` when XLA recomputes the window's producer in two fusions
    with different rounding: no element equals the maximum, and the gradient is lost (seen in
    float64 on Conv4 blocks: BatchNorm -> ReLU -> pool).
    """
    keep = tuple(slice(0, n - n % w) for n, w in zip(x.shape, window_dimensions, strict=True))
    x = x[keep]
    shape, inner = [], []
    for d, (n, w) in enumerate(zip(x.shape, window_dimensions, strict=True)):
        shape += [n // w, w]
        inner.append(2 * d + 1)
    outer = [2 * d for d in range(x.ndim)]
    size = int(np.prod(window_dimensions))
    windows = jnp.transpose(x.reshape(shape), (*outer, *inner)).reshape(
        *(n // w for n, w in zip(x.shape, window_dimensions, strict=True)), size
    )
    hot = jax.nn.one_hot(jnp.argmax(lax.stop_gradient(windows), axis=-1), size, dtype=windows.dtype)
    return jnp.sum(windows * lax.stop_gradient(hot), axis=-1)


_CALLS = ("pjit", "jit", "closed_call")


def _eval(jaxpr, consts, args, conv_vjp=True):
    env = {}

    def read(v):
        return v.val if _jaxpr.is_literal(v) else env[v]

    for v, x in zip(jaxpr.constvars, consts, strict=True):
        env[v] = x
    for v, x in zip(jaxpr.invars, args, strict=True):
        env[v] = x
    for eqn in jaxpr.eqns:
        invals = [read(v) for v in eqn.invars]
        name, params = eqn.primitive.name, eqn.params
        if name == "conv_general_dilated" and _conv_supported(params, *invals):
            outs = [_matmul_conv(*invals, **params, conv_vjp=conv_vjp)]
        elif name == "reduce_window_max" and _pool_supported(params, *invals):
            outs = [_reshape_max_pool(*invals, **params)]
        elif name in _CALLS and isinstance(
            params.get("jaxpr", params.get("call_jaxpr")), _jaxpr.ClosedJaxpr
        ):
            inner = params.get("jaxpr", params.get("call_jaxpr"))
            outs = _eval(inner.jaxpr, inner.consts, invals, conv_vjp)
        else:
            outs = _jaxpr.bind(eqn, invals)
        for v, o in zip(eqn.outvars, outs, strict=True):
            env[v] = o
    return [read(v) for v in jaxpr.outvars]


def matmul_ops(fn: Callable, *, conv_vjp: bool = True) -> Callable:
    r"""Returns ``fn`` with its convolutions and max-pools evaluated as matmuls and reshapes.

    The returned function computes the same values as ``fn`` (up to float rounding) but
    evaluates every ``lax.conv_general_dilated`` without input dilation or feature groups as

    .. math::
        y[n, s, o] = \sum_{k, c} x_{\text{pad}}[n, s \cdot \sigma + k \cdot \delta, c]\,
        w[k, c, o] \quad (\text{patches by strided slices, then one } \texttt{dot\_general})

    and every max ``reduce_window`` with window = stride and no padding as a reshape followed by
    a one-hot selection of each window's first maximum. Their derivatives of every order are
    then matmuls, patch copies and elementwise ops: a stride-1 convolution has a custom VJP
    whose input gradient is the convolution of the output gradient with the flipped kernel
    (not the transpose of the patch extraction, a pad and add per kernel tap) and whose
    kernel gradient's VJP is again two such convolutions.
    Use it on CPU for second-order MAML with CNNs (``maml_loss(matmul_ops(loss_fn), ...)``),
    where XLA:CPU runs convolution weight-gradients, the grouped convolutions that ``vmap``
    makes of per-task weights, and the second derivative of ``reduce_window`` slowly. On GPU
    the native ops are usually faster: leave ``fn`` as it is.

    Semantics: values and derivatives are those of ``fn``; at ties of a max-pool window the
    gradient goes to the first maximal element, as XLA's ``reduce_window`` gradient does.
    Convolutions inside ``custom_jvp``/``custom_vjp``, ``scan``,
    ``cond``, ``while`` or ``checkpoint`` bodies are left as they are; those inside ``jit``
    calls are rewritten. Float dtypes only (others are left as they are).

    Args:
      fn: a function of arrays / pytrees of arrays returning a pytree of arrays, e.g.
        ``loss_fn(params, batch)``.
      conv_vjp: ``True`` (default): stride-1 convolutions use the custom VJP above (fastest
        for reverse-over-reverse, i.e. second-order MAML). It supports reverse mode of any
        order but not forward mode: ``jax.jvp``, ``jax.jacfwd``, ``jax.hessian`` and
        :func:`jtransfer.meta.imaml`'s Hessian-vector products raise ``TypeError``
        (JAX cannot apply forward-mode autodiff to a ``custom_vjp`` function). ``False``:
        every convolution is patch slices + ``dot_general`` differentiated by autodiff (the
        behaviour before issue 21's second pass, bit for bit): any mode of differentiation.

    Returns:
      A function with the signature of ``fn``: positional arguments are traced (pytrees of
      arrays), keyword arguments are passed to ``fn`` as they are (static). It re-traces
      ``fn`` on every call (cheap under ``jit``, where it runs once per compilation).

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from jtransfer import ops
      >>> def conv(x, k):
      ...     return jax.lax.conv_general_dilated(x, k, (1, 1), "VALID")
      >>> x, k = jnp.ones((1, 1, 4, 4)), jnp.ones((1, 1, 2, 2))
      >>> bool(jnp.allclose(ops.matmul_ops(conv)(x, k), conv(x, k)))
      True

    References:
      Chellapilla, Puri, Simard 2006 (convolution as im2col + matrix multiply),
      https://inria.hal.science/inria-00112631 ; Finn, Abbeel, Levine 2017,
      https://arxiv.org/abs/1703.03400 .
    """
    if not callable(fn):
        raise ValueError(f"matmul_ops expects a callable, got {type(fn).__name__}")
    if not isinstance(conv_vjp, bool):
        raise ValueError(f"matmul_ops: conv_vjp must be a bool, got {conv_vjp!r}")

    @functools.wraps(fn)
    def wrapped(*args, **static_kwargs):
        flat, in_tree = jax.tree.flatten(args)
        closed, out_shape = jax.make_jaxpr(
            lambda *f: fn(*jax.tree.unflatten(in_tree, f), **static_kwargs), return_shape=True
        )(*flat)
        outs = _eval(closed.jaxpr, closed.consts, flat, conv_vjp)
        return jax.tree.unflatten(jax.tree.structure(out_shape), outs)

    return wrapped

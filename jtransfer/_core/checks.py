"""Argument checks shared by every subpackage (private).

Behaviour, the same for every check:

* **Shape and rank checks** read static shapes, so they run at trace time (under ``jax.jit``,
  ``vmap`` and ``grad``) and always raise ``ValueError`` naming the argument and its shape.
* **Value checks** (NaN/Inf, signs, sums, probabilities) need values: they run when the
  argument is a concrete array or Python number. On a tracer they are skipped by default, so a
  library function inside ``jax.jit`` costs nothing extra (no op is emitted; that is the opt-out
  for hot loops). In **debug mode** (:class:`debug_checks`, or ``JTRANSFER_DEBUG_CHECKS=1`` in
  the environment) a value check on a tracer emits a ``jax.experimental.checkify`` check with
  the same message instead; the traced function must then be functionalised by
  :func:`checked` (or ``checkify.checkify``), which raises the first failed check.
  :func:`is_tracer` is the one place that tells concrete and traced values apart, and
  :func:`_require` the one place that emits a check.
* **NaN is never a valid value**: every value check rejects NaN, and :func:`check_positive` /
  :func:`check_nonnegative` also reject ``±Inf`` (a hyperparameter must be a finite number).
* Checks that need a static Python value (``check_positive_int``, ``check_static_scalar``)
  raise on tracers, because the value decides shapes or control flow.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import checkify

# ----------------------------------------------------------------------------- debug mode

_ENV_VAR = "JTRANSFER_DEBUG_CHECKS"
_CHECK_FAILED_SUFFIX = " (`check` failed)"  # what checkify appends to a failed check's message


def _env_flag() -> bool:
    return os.environ.get(_ENV_VAR, "").strip().lower() not in ("", "0", "false", "no", "off")


_global_debug = _env_flag()
_local = threading.local()  # .depth > 0 while checked() traces its function


def debug_checks_enabled() -> bool:
    """True when value checks on tracers emit ``checkify`` checks (see :class:`debug_checks`)."""
    return _global_debug or getattr(_local, "depth", 0) > 0


def _set_global(enabled: bool) -> None:
    global _global_debug
    if bool(enabled) != _global_debug:
        _global_debug = bool(enabled)
        # Traces made in the other mode are cached by jit (keyed on the function and the
        # argument types, not on this flag): drop them so the next trace sees the new mode.
        jax.clear_caches()


class debug_checks(contextlib.ContextDecorator):  # noqa: N801  (used like a function)
    """Turns the value checks into ``jax.experimental.checkify`` checks under ``jit``.

    Value checks (NaN/Inf, non-positive hyperparameters, negative or zero-sum weights,
    non-probabilities, ...) normally need concrete values and are skipped on tracers, so a
    jitted call costs nothing extra. In debug mode each skipped check becomes a
    ``checkify.check`` with the same message; wrap the jitted function with :func:`checked`
    (or ``checkify.checkify``) so that a failed check is raised. An unwrapped ``jax.jit`` of a
    library call then fails to trace with JAX's "checkify.check which was not functionalized"
    error: debug mode is for finding bad inputs, not for hot loops.

    Call it to switch the mode globally (``jtransfer.debug_checks()`` on,
    ``jtransfer.debug_checks(False)`` off) or use it as a context manager / decorator, which
    restores the previous mode on exit. The environment variable ``JTRANSFER_DEBUG_CHECKS=1``
    switches it on at import. Changing the mode clears JAX's trace and compilation caches
    (``jax.clear_caches()``), so functions traced before are traced again in the new mode.

    Args:
      enabled: the mode to switch to (default ``True``).

    Example:
      >>> import jax, jax.numpy as jnp
      >>> import jtransfer
      >>> from jtransfer import align
      >>> x = jnp.zeros((4, 2)); y = jnp.ones((4, 2))
      >>> f = jtransfer.checked(lambda x, y, s: align.mmd2(x, y, bandwidth=s))
      >>> try:
      ...     f(x, y, -1.0)
      ... except ValueError as e:
      ...     print(e)
      bandwidth must be positive and finite, got -1.0
    """

    def __init__(self, enabled: bool = True):
        self._previous = _global_debug
        _set_global(enabled)

    def __enter__(self) -> debug_checks:
        return self

    def __exit__(self, *exc) -> None:
        _set_global(self._previous)

    def __repr__(self) -> str:
        return f"debug_checks(enabled={_global_debug})"


@contextlib.contextmanager
def _forced_on():
    _local.depth = getattr(_local, "depth", 0) + 1
    try:
        yield
    finally:
        _local.depth -= 1


def checked(fn: Callable[..., Any], *, jit: bool = True) -> Callable[..., Any]:
    """Wraps ``fn`` so that the library's value checks run under ``jit`` and raise ``ValueError``.

    ``fn`` is traced with debug checks on (whatever the global mode, see :class:`debug_checks`),
    jitted (unless ``jit=False``) and functionalised with ``checkify.checkify``; after each call
    the first failed check is raised as a ``ValueError`` with the same message as the eager
    check. The traces are private to the wrapper, so it never reuses a trace made without
    checks. Equivalent by hand: ``with jtransfer.debug_checks(): err, out =
    checkify.checkify(jax.jit(fn))(*args); err.throw()``.

    Args:
      fn: any function of arrays that calls library functions (it may itself be jitted).
      jit: whether to ``jax.jit`` the wrapped function (static arguments: jit ``fn`` yourself
        with ``static_argnames`` and pass ``jit=False``).

    Returns:
      A function with the signature of ``fn`` that returns ``fn``'s output or raises the first
      failed value check as ``ValueError``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jtransfer
      >>> from jtransfer import align
      >>> f = jtransfer.checked(lambda s, t, eps: align.coral(s, t, eps=eps))
      >>> try:
      ...     f(jnp.zeros((3, 2)), jnp.ones((3, 2)), -1.0)
      ... except ValueError as e:
      ...     print(e)
      eps must be positive and finite, got -1.0
    """

    @functools.wraps(fn)
    def traced(*args, **kwargs):
        with _forced_on():
            return fn(*args, **kwargs)

    inner = checkify.checkify(jax.jit(traced) if jit else traced, errors=checkify.user_checks)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        err, out = inner(*args, **kwargs)
        msg = err.get()
        if msg is not None:
            msg = msg.split("\n", 1)[0]
            if msg.endswith(_CHECK_FAILED_SUFFIX):
                msg = msg[: -len(_CHECK_FAILED_SUFFIX)]
            raise ValueError(msg)
        return out

    return wrapper


def _require(ok: Callable[[Any, Any], Any], x: Any, message: str, *fmt: Any) -> None:
    """The one value check: raises ``ValueError(message)`` unless ``ok(xp, x)`` holds.

    ``ok(xp, x)`` is written once for ``xp = numpy`` (concrete ``x``, checked now) and
    ``xp = jax.numpy`` (traced ``x``, a ``checkify.check`` in debug mode, nothing otherwise).
    ``message`` may hold ``{}`` placeholders filled with ``fmt`` (the repr of a concrete value,
    the traced value at run time).
    """
    if is_concrete(x) and not any(is_tracer(f) for f in fmt):
        if not bool(ok(np, np.asarray(x))):
            raise ValueError(message.format(*(repr(f) for f in fmt)))
    elif debug_checks_enabled():
        checkify.check(ok(jnp, jnp.asarray(x)), message, *(jnp.asarray(f) for f in fmt))


def _esc(text: str) -> str:
    """Escapes braces for a ``str.format`` template (shapes and names are literal text)."""
    return text.replace("{", "{{").replace("}", "}}")


# ----------------------------------------------------------------------------- tracers


def is_tracer(x: Any) -> bool:
    """True when ``x`` is a JAX tracer (its values are unknown at trace time)."""
    return isinstance(x, jax.core.Tracer)


def is_concrete(x: Any) -> bool:
    """True when ``x`` holds values we can read now (not a tracer)."""
    return not is_tracer(x)


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(np.shape(x))


# ----------------------------------------------------------------------------- arrays


def as_float(x: Any, name: str) -> jax.Array:
    """Converts to a floating JAX array (ints promote to the default float dtype)."""
    _warn_float64_truncated(x, name)
    try:
        arr = jnp.asarray(x)
    except TypeError as e:
        raise ValueError(f"{name} must be an array, got {type(x).__name__}") from e
    if not jnp.issubdtype(arr.dtype, jnp.floating):
        arr = arr.astype(jnp.result_type(float))
    return arr


def half_to_float32(x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array, Any]:
    """Upcasts float16/bfloat16 inputs of linear-algebra code (eigh, Cholesky, solve: LAPACK and
    XLA have no half-precision kernels) to float32; returns ``(x, y, input_dtype)`` so results
    can be cast back with ``.astype(input_dtype)``."""
    dtype = x.dtype
    if jnp.finfo(dtype).bits < 32:
        return x.astype(jnp.float32), y.astype(jnp.float32), dtype
    return x, y, dtype


def _warn_float64_truncated(x: Any, name: str) -> None:
    if (
        not jax.config.jax_enable_x64
        and getattr(x, "dtype", None) is not None
        and np.dtype(x.dtype) == np.float64
    ):
        warnings.warn(
            f"{name} is float64 but jax_enable_x64 is off, so it is computed in float32 "
            "(jax.config.update('jax_enable_x64', True) keeps float64 throughout)",
            UserWarning,
            stacklevel=_user_stacklevel(),
        )


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _user_stacklevel() -> int:
    """The ``stacklevel`` of the first caller outside the jtransfer package (for warnings)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    return level


def check_finite(x: Any, name: str) -> None:
    """Raises if an array holds NaN or Inf (a value check, see the module docstring)."""
    _require(
        lambda xp, a: xp.all(xp.isfinite(a)),
        x,
        _esc(f"{name} contains NaN or Inf (shape {_shape(x)})"),
    )


def check_matrix(x: Any, name: str, *, min_rows: int = 2, noun: str = "rows") -> jax.Array:
    """Validates a finite ``(n, d)`` matrix with ``n >= min_rows`` and ``d >= 1``.

    Returns it as a floating array. ``noun`` words the row count in the error message.
    """
    arr = as_float(x, name)
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (n, d), got shape {tuple(arr.shape)}")
    if arr.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} {noun}, got shape {tuple(arr.shape)}")
    if arr.shape[1] < 1:
        raise ValueError(f"{name} needs at least one feature, got shape {tuple(arr.shape)}")
    check_finite(arr, name)
    return arr


def check_samples(x: Any, name: str, *, min_samples: int = 2) -> jax.Array:
    """A sample matrix ``(n, d)``: :func:`check_matrix` worded in samples."""
    return check_matrix(x, name, min_rows=min_samples, noun="samples")


def check_pair(
    x: Any, y: Any, xname: str, yname: str, *, min_samples: int = 2
) -> tuple[jax.Array, jax.Array]:
    """Validates two samples with the same feature dimension; returns them in a common dtype."""
    x = check_samples(x, xname, min_samples=min_samples)
    y = check_samples(y, yname, min_samples=min_samples)
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"{xname} and {yname} must have the same feature dimension, got shapes "
            f"{tuple(x.shape)} and {tuple(y.shape)}"
        )
    dtype = jnp.result_type(x.dtype, y.dtype)
    return x.astype(dtype), y.astype(dtype)


def check_vector(x: Any, name: str, n: int | None = None, other: str = "") -> jax.Array:
    """Validates a finite vector ``(n,)`` (of length ``n`` to match ``other`` when given)."""
    arr = as_float(x, name)
    if arr.ndim != 1:
        raise ValueError(f"{name} must have shape (n,), got shape {tuple(arr.shape)}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} has shape {tuple(arr.shape)} but {other} has {n} rows")
    check_finite(arr, name)
    return arr


def check_weights(weights: Any, name: str, n: int, other: str) -> jax.Array:
    """Validates weights of shape ``(n,)``: finite, non-negative, positive sum (when concrete)."""
    w = as_float(weights, name)
    if w.shape != (n,):
        raise ValueError(
            f"{name} must have shape ({n},) to match {other}, got shape {tuple(w.shape)}"
        )
    shape = _esc(str(tuple(w.shape)))
    _require(lambda xp, a: xp.all(xp.isfinite(a)), w, f"{name} contains NaN or Inf (shape {shape})")
    _require(lambda xp, a: xp.all(a >= 0), w, f"{name} must be non-negative (shape {shape})")
    if is_concrete(w):
        total = float(np.sum(np.asarray(w)))
    elif debug_checks_enabled():
        total = jnp.sum(w)
    else:
        return w
    _require(
        lambda xp, a: xp.sum(a) > 0,
        w,
        f"{name} must have a positive sum, got {{}} (shape {shape})",
        total,
    )
    return w


def check_psd(gram: Any, name: str, *, rtol: float = 1e-4) -> None:
    """Raises unless a square matrix is finite and positive semi-definite (a value check).

    A Gram matrix :math:`G = J J^\\top` has eigenvalues :math:`\\ge 0`; rounding allows
    :math:`\\lambda_{\\min} \\ge -\\text{rtol}\\cdot\\max_t |G_{tt}|`.
    """
    check_finite(gram, name)
    shape = _esc(str(_shape(gram)))

    def ok(xp, a):
        a = 0.5 * (a + a.T)
        lam = xp.linalg.eigvalsh(a)
        return lam[0] >= -rtol * xp.max(xp.abs(xp.diagonal(a)))

    _require(
        ok,
        gram,
        f"{name} (shape {shape}) is not positive semi-definite (a Gram matrix "
        "of task gradients has no negative eigenvalue)",
    )


def check_nonnegative_entries(x: jax.Array, name: str) -> None:
    """Raises if an array has a negative entry (NaN is caught by the finite checks)."""
    _require(
        lambda xp, a: xp.all(~(a < 0)), x, _esc(f"{name} (shape {_shape(x)}) must be non-negative")
    )


def check_probabilities(
    p: jax.Array, name: str, *, rows_sum_to_one: bool = False, atol: float = 1e-3
) -> None:
    """Raises unless an array holds finite probabilities in ``[0, 1]`` (a value check).

    With ``rows_sum_to_one`` the rows of a matrix must also sum to 1 (within ``atol``).
    """
    shape = _esc(str(_shape(p)))
    _require(
        lambda xp, a: xp.all(xp.isfinite(a) & (a >= 0) & (a <= 1)),
        p,
        f"{name} must be finite probabilities in [0, 1] (shape {shape})",
    )
    if rows_sum_to_one:
        # np.allclose(rows, 1, atol) as before: |s - 1| <= atol + 1e-5
        _require(
            lambda xp, a: xp.all(xp.abs(a.sum(-1) - 1.0) <= atol + 1e-5),
            p,
            f"{name} (shape {shape}) must be non-negative rows summing to 1",
        )


def check_labels(
    labels: Any,
    name: str,
    n: int,
    other: str,
    *,
    num_classes: int | None = None,
    min_classes: int = 2,
) -> tuple[jax.Array, int]:
    """Integer labels of shape ``(n,)`` in ``0..C-1``; returns ``(labels, C)``.

    ``C`` is inferred from concrete labels; traced labels need ``num_classes``.
    """
    labels = jnp.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"{name} must have shape (n,), got shape {labels.shape}")
    if labels.shape[0] != n:
        raise ValueError(
            f"{name} has shape {labels.shape} but {other} has {n} rows (label count mismatch)"
        )
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        _require(
            lambda xp, a: xp.all(xp.mod(a, 1) == 0),
            labels,
            f"{name} must hold integer class ids, got dtype {labels.dtype}",
        )
        labels = labels.astype(jnp.int32)
    if is_concrete(labels):
        lab = np.asarray(labels)
        if lab.min() < 0:
            raise ValueError(f"{name} must be non-negative class ids, got min {lab.min()}")
        present = np.unique(lab).size
        if present < min_classes:
            raise ValueError(
                f"{name} must contain at least {min_classes} classes, got "
                f"{present} (shape {labels.shape})"
            )
        inferred = int(lab.max()) + 1
        if num_classes is None:
            num_classes = inferred
        elif inferred > num_classes:
            raise ValueError(f"{name} has class id {inferred - 1} >= num_classes={num_classes}")
    elif num_classes is None:
        raise ValueError(f"{name} is traced: pass num_classes explicitly")
    elif debug_checks_enabled():
        _require(
            lambda xp, a: xp.all(a >= 0),
            labels,
            f"{name} must be non-negative class ids, got min {{}}",
            jnp.min(labels),
        )
        _require(
            lambda xp, a: xp.all(a < num_classes),
            labels,
            f"{name} has class id {{}} >= num_classes={num_classes}",
            jnp.max(labels),
        )
    return labels, int(num_classes)


# ----------------------------------------------------------------------------- scalars


def check_positive(value: Any, name: str) -> None:
    """Raises unless a scalar/array is strictly positive and finite (NaN raises).

    A value check: skipped for tracers unless debug checks are on (see the module docstring).
    """
    if is_concrete(value):
        value = _as_number_array(value, name)
    _require(
        lambda xp, a: xp.all(xp.isfinite(a) & (a > 0)),
        value,
        f"{_esc(name)} must be positive and finite, got {{}}",
        value,
    )


def check_nonnegative(value: Any, name: str) -> None:
    """Raises unless a scalar/array is ``>= 0`` and finite (NaN raises; a value check)."""
    if is_concrete(value):
        value = _as_number_array(value, name)
    _require(
        lambda xp, a: xp.all(xp.isfinite(a) & (a >= 0)),
        value,
        f"{_esc(name)} must be non-negative and finite, got {{}}",
        value,
    )


def _as_number_array(value: Any, name: str) -> Any:
    """``value`` itself if it reads as a real number array (for the message), else raises."""
    try:
        np.asarray(value, dtype=float)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be a real number, got {value!r}") from e
    return value


def check_positive_int(value: Any, name: str, *, minimum: int = 1) -> int:
    """Returns ``value`` as an ``int`` if it is a static integer ``>= minimum`` (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be a positive int (>= {minimum}), got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be a positive int (>= {minimum}), got {value}")
    return int(value)


def check_static_scalar(value: Any, name: str) -> float:
    """Returns a static (non-traced) 0-d number as a ``float``; raises otherwise."""
    if is_tracer(value) or np.ndim(value) != 0:
        raise ValueError(f"{name} must be a static scalar, got {value!r}")
    return float(value)


def check_choice(value: Any, name: str, choices: Sequence[str]) -> None:
    """Raises unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")


# ----------------------------------------------------------------------------- pytrees


def check_same_structure(
    tree: Any, reference: Any, name: str, *, owner: str = "", hint: str = ""
) -> None:
    """Raises unless ``tree`` has the structure and leaf shapes of ``reference``.

    ``owner`` prefixes the message (e.g. the optimizer's name); ``hint`` is appended to the
    structure error (e.g. where a valid tree comes from).
    """
    prefix = f"{owner}: " if owner else ""
    got, want = jax.tree.structure(tree), jax.tree.structure(reference)
    if got != want:
        raise ValueError(f"{prefix}{name} has tree structure {got}, expected {want}{hint}")
    shapes = {
        jax.tree_util.keystr(k): _shape(x) for k, x in jax.tree_util.tree_flatten_with_path(tree)[0]
    }
    wanted = {
        jax.tree_util.keystr(k): _shape(x)
        for k, x in jax.tree_util.tree_flatten_with_path(reference)[0]
    }
    if shapes != wanted:
        raise ValueError(f"{prefix}{name} leaf shapes {shapes} do not match {wanted}")


def leading_dims(tree: Any, name: str) -> set[int]:
    """The set of leading-axis sizes of a pytree's leaves; raises for a 0-d leaf."""
    dims = set()
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        shape = _shape(leaf)
        if len(shape) < 1:
            raise ValueError(
                f"{name}{jax.tree_util.keystr(path)} has shape {shape}; every leaf of a batch "
                "of tasks needs a leading task axis"
            )
        dims.add(shape[0])
    return dims


def check_tasks(tasks: Any) -> int:
    """Validates a batch of tasks ``(support, query)``; returns the number of tasks ``T``.

    Raises:
      ValueError: if ``tasks`` is not a pair, a leaf has no task axis and per-task batch axis
        (rank < 2: an unbatched task would be read as one task per point), the leading (task)
        dimensions of the support and query leaves differ, there are no tasks (``T = 0``) or a
        per-task batch is empty.
    """
    if not isinstance(tasks, tuple | list) or len(tasks) != 2:
        raise ValueError(
            "tasks must be a pair (support, query) of batch pytrees with a "
            f"leading task axis, got {type(tasks).__name__}"
        )
    support, query = tasks
    s_dims, q_dims = leading_dims(support, "support"), leading_dims(query, "query")
    if not s_dims or not q_dims:
        raise ValueError("support and query must each contain at least one array")
    shapes = (
        f"(support shapes {jax.tree.map(np.shape, support)}, "
        f"query shapes {jax.tree.map(np.shape, query)})"
    )
    if len(s_dims | q_dims) != 1:
        raise ValueError(
            "support and query leaves must share one leading task dimension; got support "
            f"leading dims {sorted(s_dims)} and query leading dims {sorted(q_dims)} {shapes}"
        )
    num_tasks = s_dims.pop()
    if num_tasks < 1:
        raise ValueError(f"tasks has T = 0 tasks (leading task axis of size 0) {shapes}")
    for name, part in (("support", support), ("query", query)):
        for path, leaf in jax.tree_util.tree_leaves_with_path(part):
            shape = _shape(leaf)
            where = f"{name}{jax.tree_util.keystr(path)}"
            if len(shape) < 2:
                raise ValueError(
                    f"{where} has shape {shape}: every leaf of a batch of tasks needs a task "
                    "axis and a per-task batch axis (T, batch, ...); for one unbatched task add "
                    "a leading task axis, e.g. jax.tree.map(lambda a: a[None], task)"
                )
            if shape[1] == 0:
                raise ValueError(
                    f"{where} has shape {shape}: the per-task batch (axis 1) is "
                    f"empty, so there is nothing to adapt on or evaluate {shapes}"
                )
    return num_tasks


def num_tasks_of(task_grads: Any, name: str = "task_grads", *, minimum: int = 1) -> int:
    """Returns T, the common leading axis of every leaf of a stacked per-task tree."""
    leaves = jax.tree.leaves(task_grads)
    if not leaves:
        raise ValueError(f"{name} has no array leaves")
    shapes = [jnp.shape(leaf) for leaf in leaves]
    if any(len(s) == 0 for s in shapes):
        raise ValueError(f"{name}: every leaf needs a leading task axis; got leaf shapes {shapes}")
    ts = {s[0] for s in shapes}
    if len(ts) != 1:
        raise ValueError(
            f"{name}: leaves disagree on the number of tasks (leading axis); "
            f"got leaf shapes {shapes}"
        )
    t = ts.pop()
    if t < minimum:
        raise ValueError(
            f"{name}: need at least {minimum} task(s), got leading axis {t} (leaf shapes {shapes})"
        )
    return t


def check_matches_params(task_grads: Any, params: Any, name: str = "task_grads") -> None:
    """Checks that ``task_grads`` is ``params`` with one extra leading axis on every leaf."""
    if params is None:
        return
    gs, ps = jax.tree.structure(task_grads), jax.tree.structure(params)
    if gs != ps:
        raise ValueError(f"{name} tree structure {gs} does not match params structure {ps}")
    for g, p in zip(jax.tree.leaves(task_grads), jax.tree.leaves(params), strict=True):
        if jnp.shape(g)[1:] != jnp.shape(p):
            raise ValueError(
                f"{name} leaf shape {jnp.shape(g)} is not (T,) + params leaf shape {jnp.shape(p)}"
            )


def check_losses(losses: Any, name: str = "losses", *, num_tasks: int | None = None) -> int:
    """Validates a non-empty vector of per-task losses; returns its length."""
    shape = jnp.shape(losses)
    if len(shape) != 1 or shape[0] < 1:
        raise ValueError(f"{name} must be a non-empty vector of per-task losses, got shape {shape}")
    if num_tasks is not None and shape[0] != num_tasks:
        raise ValueError(f"{name} has {shape[0]} tasks, expected {num_tasks} (shape {shape})")
    return shape[0]

"""LoRA (Hu et al., 2021) as pure functions of params pytrees.

Layout
------
jtransfer models use the *kernel* convention ``y = x @ W`` with ``W`` of shape
``(d_in, d_out)`` (Flax ``nnx.Linear``; Hugging Face's PyTorch weight is ``W.T``). The paper
writes ``h = W0 x + B A x`` with ``A`` (r, d_in) and ``B`` (d_out, r), so in the kernel layout
the update is ``(B A)^T = A^T B^T``. We store the factors already transposed,

    ``a = A^T`` of shape ``(d_in, r)``   (random, Kaiming-uniform as in ``loralib``/``peft``),
    ``b = B^T`` of shape ``(r, d_out)``  (zeros, so training starts from the pretrained model),

and the merged kernel is ``W' = W + (alpha / r) * a @ b``. An adapter costs
``r * (d_in + d_out)`` parameters per adapted matrix instead of ``d_in * d_out``.

Paths
-----
A leaf's path is its ``jax.tree_util`` key path joined with ``"/"`` (dict keys, attribute
names and sequence indices as strings), with the trailing ``value`` attribute of a Flax
``nnx.Variable`` dropped, so a kernel of an ``nnx.State`` reads
``encoder/layer/0/attention/self/query/kernel``. ``targets`` are glob patterns over these
paths (:func:`fnmatch.fnmatchcase`; ``*`` also crosses ``/``) or compiled regular
expressions (:meth:`re.Pattern.search`).

Freezing the body
-----------------
Recommended: differentiate only the adapter and keep ``params`` a constant,
``jax.grad(loss)(lora, params, batch)`` with ``loss(lora, params, batch) =
task_loss(apply_fn(lora_merge(params, lora), batch))``: no gradient and no optimizer state
is ever allocated for the frozen body. When one pytree must hold everything (one optimizer,
one checkpoint), :func:`lora_optimizer` wraps an optax optimizer with
``optax.multi_transform`` so that leaves inside a :class:`LoraParams` (and leaves matching
``train`` patterns, e.g. a head) are updated and every other leaf gets an update of exactly
zero (and no optimizer state).

One adapter per domain or task
------------------------------
``lora_init(..., num_adapters=T)`` or :func:`lora_stack` put ``T`` adapters on a leading
axis. ``jax.vmap(f, in_axes=(None, 0, 0))(params, lora, batches)`` with
``f(params, lora, batch) = apply_fn(lora_merge(params, lora), batch)`` runs all domains in one
call; the frozen body is not batched (``in_axes=None``), only the adapted matrices are
materialised once per adapter (for BERT-base with W_q and W_v adapted in its 12 layers,
24 x 768 x 768 float32, about 57 MB per adapter; the other ~110M parameters are shared).

References:
  Hu, Shen, Wallis, Allen-Zhu, Li, Wang, Wang and Chen. LoRA: Low-Rank Adaptation of Large
  Language Models. ICLR 2022. https://arxiv.org/abs/2106.09685
"""

from __future__ import annotations

import dataclasses
import fnmatch
import math
import re
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jtransfer._core import checks as _checks
from jtransfer._core.keys import default_key

PyTree = Any
Pattern = str | re.Pattern

# The paper adapts the attention query and value projections (Section 7.1).
DEFAULT_TARGETS: tuple[str, ...] = ("*query/kernel", "*value/kernel")

TRAINABLE = "trainable"
FROZEN = "frozen"


class LoraFactors(NamedTuple):
    """The two factors of one adapted matrix (kernel layout, see the module docstring).

    ``a``: ``(d_in, r)`` or ``(T, d_in, r)`` when stacked; ``a = A^T`` of the paper.
    ``b``: ``(r, d_out)`` or ``(T, r, d_out)`` when stacked; ``b = B^T`` of the paper.
    """

    a: jax.Array
    b: jax.Array


@dataclasses.dataclass(frozen=True)
class LoraParams:
    """A pytree of LoRA factors for some 2-D leaves of a params pytree.

    Attributes:
      factors: nested dict mirroring the adapted paths of ``params`` (one level per path
        component), whose leaves are :class:`LoraFactors`. These arrays are the pytree leaves
        (what ``jax.grad``, optax and ``jax.vmap`` see).
      alpha: the LoRA scaling numerator (static metadata, not a leaf); the update is scaled by
        ``alpha / r``.
    """

    factors: dict
    alpha: float

    @property
    def paths(self) -> tuple[str, ...]:
        """The '/'-joined paths of the adapted matrices, sorted."""
        return tuple(sorted(_flat_factors(self)))

    @property
    def rank(self) -> int:
        """The rank r shared by all adapted matrices."""
        return next(iter(_flat_factors(self).values())).a.shape[-1]

    @property
    def num_adapters(self) -> int | None:
        """T for a stacked adapter (leading axis), None for a single one."""
        f = next(iter(_flat_factors(self).values()))
        return f.a.shape[0] if f.a.ndim == 3 else None

    @property
    def scale(self) -> float:
        """The merge scale ``alpha / r``."""
        return self.alpha / self.rank


jax.tree_util.register_dataclass(LoraParams, data_fields=["factors"], meta_fields=["alpha"])


def _key_str(k) -> str:
    if isinstance(k, jax.tree_util.DictKey):
        return str(k.key)
    if isinstance(k, jax.tree_util.GetAttrKey):
        return k.name
    if isinstance(k, jax.tree_util.SequenceKey | jax.tree_util.FlattenedIndexKey):
        return str(k.idx)
    return str(k)


def path_str(path: Sequence[Any]) -> str:
    """Joins a ``jax.tree_util`` key path with ``"/"``; a trailing ``nnx.Variable.value``
    attribute is dropped.

    Example:
      >>> import jax
      >>> [path_str(p) for p, _ in jax.tree_util.tree_flatten_with_path({"l": [1, 2]})[0]]
      ['l/0', 'l/1']
    """
    path = list(path)
    if path and isinstance(path[-1], jax.tree_util.GetAttrKey) and path[-1].name == "value":
        path = path[:-1]
    return "/".join(_key_str(k) for k in path)


def _matches(path: str, pattern: Pattern) -> bool:
    if isinstance(pattern, re.Pattern):
        return pattern.search(path) is not None
    return fnmatch.fnmatchcase(path, pattern)


def _check_patterns(name: str, patterns) -> tuple[Pattern, ...]:
    if isinstance(patterns, str | re.Pattern):
        patterns = (patterns,)
    try:
        patterns = tuple(patterns)
    except TypeError as e:
        raise ValueError(
            f"{name} must be a sequence of glob strings or compiled regexes, got {patterns!r}"
        ) from e
    for p in patterns:
        if not isinstance(p, str | re.Pattern):
            raise ValueError(f"{name} must hold glob strings or compiled regexes, got {p!r}")
    return patterns


def _flat_factors(lora: LoraParams) -> dict[str, LoraFactors]:
    flat, _ = jax.tree_util.tree_flatten_with_path(
        lora.factors, is_leaf=lambda x: isinstance(x, LoraFactors)
    )
    if not flat:
        raise ValueError("lora has no adapted matrices")
    return {path_str(p): f for p, f in flat}


def _check_lora(lora: Any, name: str = "lora") -> dict[str, LoraFactors]:
    """The factors of ``lora`` by path, after checking that they make a consistent adapter:
    a :class:`LoraParams` whose factors are arrays ``a (..., d_in, r)``, ``b (..., r, d_out)``
    with the same leading (stack) axes, the same rank ``r`` in every matrix (``alpha / r`` is
    one scale) and a finite ``alpha`` (shape checks: they hold at trace time)."""
    if not isinstance(lora, LoraParams):
        raise ValueError(f"{name} must be a LoraParams, got {type(lora).__name__}")
    if not isinstance(lora.alpha, int | float) or not math.isfinite(lora.alpha):
        raise ValueError(f"{name}.alpha must be a finite number, got {lora.alpha!r}")
    flat = _flat_factors(lora)
    ranks = {}
    for path, f in flat.items():
        if not isinstance(f, LoraFactors) or not all(hasattr(v, "shape") for v in f):
            raise ValueError(f"{name} factors of {path!r} must be LoraFactors(a, b) of arrays")
        a, b = f
        if (
            a.ndim not in (2, 3)
            or a.ndim != b.ndim
            or a.shape[-1] != b.shape[-2]
            or a.shape[:-2] != b.shape[:-2]
        ):
            raise ValueError(
                f"{name} factors of {path!r} have shapes a{tuple(a.shape)}, b{tuple(b.shape)}; "
                "expected a (d_in, r) and b (r, d_out), with the same leading adapter axis "
                "when stacked"
            )
        ranks[path] = a.shape[-1]
    if len(set(ranks.values())) > 1:
        raise ValueError(
            f"{name} has factors of different ranks {ranks}; one adapter shares one rank "
            "(its scale is alpha / r)"
        )
    return flat


def _check_scale(scale: Any) -> None:
    if scale is not None:
        if _checks.is_concrete(scale) and np.ndim(scale) != 0:
            raise ValueError(f"scale must be a scalar, got shape {np.shape(scale)}")
        _checks._require(
            lambda xp, v: xp.all(xp.isfinite(v)), scale, "scale must be finite, got {}", scale
        )


def _nest(flat: dict[str, Any]) -> dict:
    out: dict = {}
    for path, value in flat.items():
        node = out
        *head, last = path.split("/")
        for k in head:
            node = node.setdefault(k, {})
        node[last] = value
    return out


def lora_targets(params: PyTree, targets: Sequence[Pattern] = DEFAULT_TARGETS) -> dict:
    """Returns ``{path: shape}`` of the leaves of ``params`` that ``targets`` select.

    Raises ValueError naming the pattern when one pattern matches nothing, and naming the
    path and shape when a matched leaf is not 2-D.

    Example:
      >>> import jax.numpy as jnp
      >>> lora_targets({"q": {"kernel": jnp.zeros((4, 3))}, "k": {"kernel": jnp.zeros((4, 3))}},
      ...              ["q/*"])
      {'q/kernel': (4, 3)}
    """
    targets = _check_patterns("targets", targets)
    if not targets:
        raise ValueError("targets is empty: give at least one path pattern")
    leaves = [(path_str(p), x) for p, x in jax.tree_util.tree_flatten_with_path(params)[0]]
    selected: dict[str, tuple[int, ...]] = {}
    for pattern in targets:
        hits = [(p, x) for p, x in leaves if _matches(p, pattern)]
        if not hits:
            sample = ", ".join(p for p, _ in leaves[:6])
            raise ValueError(
                f"targets pattern {pattern!r} matches no leaf of params "
                f"(paths look like: {sample}{', ...' if len(leaves) > 6 else ''})"
            )
        for p, x in hits:
            shape = tuple(getattr(x, "shape", ()))
            if len(shape) != 2:
                raise ValueError(
                    f"targets pattern {pattern!r} matches {p!r} of shape {shape}; "
                    "LoRA adapts 2-D (d_in, d_out) kernels only"
                )
            selected[p] = shape
    return selected


def lora_init(
    params: PyTree,
    *,
    rank: int,
    alpha: float | None = None,
    targets: Sequence[Pattern] = DEFAULT_TARGETS,
    num_adapters: int | None = None,
    dtype=None,
    key: jax.Array | None = None,
) -> LoraParams:
    """Creates LoRA factors for the 2-D leaves of ``params`` selected by ``targets``.

    For each selected kernel ``W`` of shape ``(d_in, d_out)`` (``y = x @ W``):

    .. math::
        a \\sim \\mathcal{U}(-1/\\sqrt{d_{in}}, 1/\\sqrt{d_{in}})^{d_{in}\\times r}, \\quad
        b = 0^{r\\times d_{out}}, \\quad W' = W + \\frac{\\alpha}{r}\\, a b

    (``a = A^T``, ``b = B^T`` of the paper; Kaiming-uniform with gain
    :math:`\\sqrt{1/3}` as the reference implementations ``loralib`` and ``peft``). ``b = 0``
    makes the adapted model equal the pretrained one at initialisation. Each adapted matrix
    costs :math:`r(d_{in} + d_{out})` parameters.

    Args:
      params: any pytree (nested dicts, ``nnx.State``, ...); not modified.
      rank: r, with ``1 <= r <= min(d_in, d_out)`` for every selected matrix.
      alpha: scale numerator; default ``rank`` (scale 1, the paper sets alpha to the first r
        it tries and does not tune it).
      targets: glob patterns (or compiled regexes) over '/'-joined paths; default
        ``("*query/kernel", "*value/kernel")``, the paper's W_q and W_v.
      num_adapters: T to create T independent adapters stacked on a leading axis (for
        ``jax.vmap`` over domains or tasks), None for one adapter.
      dtype: factor dtype; default each kernel's dtype.
      key: random key for ``a`` (default ``jax.random.key(0)``).

    Returns:
      A :class:`LoraParams` whose factors mirror the selected paths.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> params = {"attn": {"query": {"kernel": jnp.ones((8, 6))},
      ...                    "value": {"kernel": jnp.ones((8, 6))}}}
      >>> lora = lora_init(params, rank=2, key=jax.random.key(1))
      >>> lora.paths, lora_num_params(lora)
      (('attn/query/kernel', 'attn/value/kernel'), 56)

    References:
      Hu et al. 2021, https://arxiv.org/abs/2106.09685 (Section 4.1).
    """
    if isinstance(rank, bool) or not isinstance(rank, int) or rank <= 0:
        raise ValueError(f"rank must be a positive int, got {rank!r}")
    if num_adapters is not None and (
        isinstance(num_adapters, bool) or not isinstance(num_adapters, int) or num_adapters <= 0
    ):
        raise ValueError(f"num_adapters must be a positive int or None, got {num_adapters!r}")
    if alpha is not None and (
        isinstance(alpha, bool | str) or _checks.is_tracer(alpha) or np.ndim(alpha) != 0
    ):
        raise ValueError(f"alpha must be a positive finite number (static), got {alpha!r}")
    alpha = float(rank if alpha is None else alpha)
    if not math.isfinite(alpha) or alpha <= 0:
        raise ValueError(f"alpha must be a positive finite number, got {alpha!r}")
    if dtype is not None and not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"dtype must be a floating dtype, got {dtype!r}")
    selected = lora_targets(params, targets)
    for path, (d_in, d_out) in selected.items():
        if rank > min(d_in, d_out):
            raise ValueError(
                f"rank={rank} exceeds min(d_in, d_out) = {min(d_in, d_out)} of "
                f"{path!r} with shape {(d_in, d_out)}"
            )
    dtypes = {
        path_str(p): x.dtype
        for p, x in jax.tree_util.tree_flatten_with_path(params)[0]
        if path_str(p) in selected
    }
    if dtype is None:
        for path, dt in sorted(dtypes.items()):
            if not jnp.issubdtype(dt, jnp.floating):
                raise ValueError(
                    f"params leaf {path!r} has dtype {dt}: LoRA adapts floating kernels "
                    "(pass dtype= for the factors, or cast the kernel)"
                )
    lead = () if num_adapters is None else (num_adapters,)
    keys = jax.random.split(default_key(key), len(selected))
    flat = {}
    for k, path in zip(keys, sorted(selected)):
        d_in, d_out = selected[path]
        dt = dtypes[path] if dtype is None else dtype
        bound = 1.0 / math.sqrt(d_in)
        a = jax.random.uniform(k, (*lead, d_in, rank), dt, -bound, bound)
        flat[path] = LoraFactors(a=a, b=jnp.zeros((*lead, rank, d_out), dt))
    return LoraParams(factors=_nest(flat), alpha=alpha)


def lora_delta(lora: LoraParams, *, scale: float | None = None) -> dict[str, jax.Array]:
    """Returns ``{path: (alpha/r) * a @ b}``, the dense update of each adapted kernel.

    Works on a single adapter (``(d_in, d_out)`` updates) and on a stacked one
    (``(T, d_in, d_out)``). ``scale`` overrides ``alpha / r``.
    """
    flat = _check_lora(lora)
    _check_scale(scale)
    s = lora.scale if scale is None else scale
    return {p: s * jnp.matmul(f.a, f.b) for p, f in flat.items()}


def lora_merge(params: PyTree, lora: LoraParams, *, scale: float | None = None) -> PyTree:
    """Returns ``params`` with every adapted kernel replaced by ``W + (alpha/r) * a @ b``.

    .. math::
        W' = W + \\frac{\\alpha}{r} a b = W + \\frac{\\alpha}{r} (B A)^T

    Pure and differentiable in both arguments; the tree structure (dicts, ``nnx.State``,
    ``nnx.Param`` wrappers) is kept and unadapted leaves are returned as they are. For a
    stacked adapter, map over the adapter axis: ``jax.vmap(lambda l: lora_merge(params, l))``.

    Args:
      params: the pytree ``lora`` was created from (same paths and kernel shapes).
      lora: a single (unstacked) adapter.
      scale: overrides ``lora.alpha / r`` (e.g. 0 to switch the adapter off).

    Returns:
      A pytree with the structure of ``params``.

    Example:
      >>> import jax.numpy as jnp
      >>> params = {"query": {"kernel": jnp.zeros((3, 2))}, "value": {"kernel": jnp.zeros((3, 2))}}
      >>> lora = lora_init(params, rank=1)
      >>> bool((lora_merge(params, lora)["query"]["kernel"] == 0).all())   # b starts at zero
      True
    """
    flat = _check_lora(lora)
    for path, f in flat.items():
        if f.a.ndim != 2 or f.b.ndim != 2:
            raise ValueError(
                f"lora factors of {path!r} have shapes a{f.a.shape}, b{f.b.shape}: "
                "a stacked adapter; merge inside jax.vmap(..., in_axes=(None, 0))"
            )
    delta = lora_delta(lora, scale=scale)
    found = set()

    def merge(path, w):
        p = path_str(path)
        if p not in delta:
            return w
        found.add(p)
        if not jnp.issubdtype(getattr(w, "dtype", np.float64), jnp.floating):
            raise ValueError(
                f"params leaf {p!r} has dtype {getattr(w, 'dtype', type(w).__name__)}: the "
                "update of a LoRA-adapted kernel would be truncated (cast the kernel to float)"
            )
        if tuple(w.shape) != delta[p].shape:
            raise ValueError(
                f"params leaf {p!r} has shape {tuple(w.shape)} but lora factors "
                f"a{flat[p].a.shape} @ b{flat[p].b.shape} give {delta[p].shape}"
            )
        return w + delta[p].astype(w.dtype)

    merged = jax.tree_util.tree_map_with_path(merge, params)
    missing = sorted(set(delta) - found)
    if missing:
        raise ValueError(f"lora adapts paths that params does not have: {missing}")
    return merged


def lora_apply(apply_fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turns ``apply_fn(params, *args)`` into ``fn(params, lora, *args)`` on merged params.

    ``fn(params, lora, *args) = apply_fn(lora_merge(params, lora), *args)``. For stacked
    adapters, ``jax.vmap(fn, in_axes=(None, 0, 0))(params, lora, batches)`` runs one adapter
    per batch slice without batching the frozen body.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> params = {"query": {"kernel": jnp.eye(3)}}
      >>> lora = lora_init(params, rank=1, targets=["query/kernel"], num_adapters=4)
      >>> fn = lora_apply(lambda p, x: x @ p["query"]["kernel"])
      >>> jax.vmap(fn, in_axes=(None, 0, 0))(params, lora, jnp.ones((4, 5, 3))).shape
      (4, 5, 3)
    """

    def fn(params, lora, *args, **kwargs):
        return apply_fn(lora_merge(params, lora), *args, **kwargs)

    return fn


def lora_num_params(lora: LoraParams) -> int:
    """Number of adapter parameters: :math:`\\sum r (d_{in} + d_{out})`, times T if stacked."""
    _check_lora(lora)
    return sum(int(x.size) for x in jax.tree.leaves(lora))


def lora_stack(loras: Sequence[LoraParams]) -> LoraParams:
    """Stacks single adapters (same paths, shapes, rank and alpha) on a new leading axis."""
    loras = list(loras)
    if not loras:
        raise ValueError("loras is empty")
    for i, l in enumerate(loras):
        _check_lora(l, f"loras[{i}]")
        if l.num_adapters is not None:
            raise ValueError(f"loras[{i}] is already stacked ({l.num_adapters} adapters)")
        if l.alpha != loras[0].alpha:
            raise ValueError(
                f"loras[{i}].alpha = {l.alpha} differs from loras[0].alpha = {loras[0].alpha}"
            )
        if jax.tree.structure(l) != jax.tree.structure(loras[0]) or any(
            x.shape != y.shape for x, y in zip(jax.tree.leaves(l), jax.tree.leaves(loras[0]))
        ):
            raise ValueError(
                f"loras[{i}] adapts other paths or shapes than loras[0]: "
                f"{l.paths} vs {loras[0].paths}"
            )
        dts = [x.dtype for x in jax.tree.leaves(l)]
        dts0 = [x.dtype for x in jax.tree.leaves(loras[0])]
        if dts != dts0:
            raise ValueError(
                f"loras[{i}] has factor dtypes {sorted(set(map(str, dts)))}, loras[0] has "
                f"{sorted(set(map(str, dts0)))}: stacking would silently promote them"
            )
    return jax.tree.map(lambda *xs: jnp.stack(xs), *loras)


def lora_unstack(lora: LoraParams) -> list[LoraParams]:
    """Splits a stacked adapter into a list of T single adapters (inverse of lora_stack)."""
    _check_lora(lora)
    t = lora.num_adapters
    if t is None:
        raise ValueError("lora is not stacked (its factors have no leading adapter axis)")
    return [jax.tree.map(lambda x, i=i: x[i], lora) for i in range(t)]


def lora_labels(tree: PyTree, *, train: Sequence[Pattern] = ()) -> PyTree:
    """Labels each leaf of ``tree`` ``"trainable"`` or ``"frozen"`` for optax.

    Leaves inside a :class:`LoraParams` node and leaves whose '/'-joined path matches a
    ``train`` pattern are ``"trainable"``; all others are ``"frozen"``.

    Args:
      tree: any pytree that holds the adapter(s), e.g. ``{"params": body, "lora": lora,
        "head": head}``.
      train: extra glob patterns (or regexes) to train, e.g. ``("head/*",)``.

    Returns:
      A pytree of strings with the structure of ``tree``.
    """
    train = _check_patterns("train", train)
    is_lora = lambda x: isinstance(x, LoraParams)  # noqa: E731
    if train:
        paths = [
            path_str(p)
            for p, x in jax.tree_util.tree_flatten_with_path(tree, is_leaf=is_lora)[0]
            if not is_lora(x)
        ]
        for pattern in train:
            if not any(_matches(p, pattern) for p in paths):
                sample = ", ".join(paths[:6])
                raise ValueError(
                    f"train pattern {pattern!r} matches no leaf of tree outside the adapters "
                    f"(paths look like: {sample}{', ...' if len(paths) > 6 else ''})"
                )

    def label(path, x):
        if isinstance(x, LoraParams):
            return jax.tree.map(lambda _: TRAINABLE, x)
        p = path_str(path)
        return TRAINABLE if any(_matches(p, pat) for pat in train) else FROZEN

    return jax.tree_util.tree_map_with_path(label, tree, is_leaf=is_lora)


def lora_optimizer(
    optimizer: optax.GradientTransformation, *, train: Sequence[Pattern] = ()
) -> optax.GradientTransformation:
    """Wraps ``optimizer`` so that only adapter leaves (and ``train`` matches) change.

    ``optax.multi_transform({"trainable": optimizer, "frozen": optax.set_to_zero()},
    lambda tree: lora_labels(tree, train=train))``: frozen leaves get an update of exactly
    zero and no optimizer state. Use it when one pytree holds body, adapters and head; the
    cheaper pattern, differentiating the adapter alone, needs no wrapper (module docstring).

    Example:
      >>> import jax, jax.numpy as jnp, optax
      >>> params = {"query": {"kernel": jnp.ones((3, 2))}}
      >>> tree = {"body": params, "lora": lora_init(params, rank=1, targets=["query/kernel"])}
      >>> tx = lora_optimizer(optax.sgd(0.1))
      >>> grads = jax.tree.map(jnp.ones_like, tree)
      >>> updates, _ = tx.update(grads, tx.init(tree), tree)
      >>> float(jnp.abs(updates["body"]["query"]["kernel"]).max())
      0.0
    """
    train = _check_patterns("train", train)
    return optax.multi_transform(
        {TRAINABLE: optimizer, FROZEN: optax.set_to_zero()},
        lambda tree: lora_labels(tree, train=train),
    )

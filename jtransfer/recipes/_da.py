"""The domain-adaptation recipe: an MLP trained by source-only, DANN, Deep CORAL or MMD on
arrays, plus label-free selection (private module; public names in ``jtransfer.recipes``)."""

from __future__ import annotations

import functools
import hashlib
import os
import time
import zlib
from collections.abc import Callable, Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

from jtransfer import align, models, parallel, select, train
from jtransfer._core.keys import default_key

METHODS = ("source_only", "dann", "coral", "mmd")


# ----------------------------------------------------------------------------- config
def default_config() -> ml_collections.ConfigDict:
    """The recipe's hyperparameters (a ConfigDict; override fields or pass keyword values).

    Fields: ``method`` (one of :data:`METHODS`); the model: ``hidden`` (encoder widths, the
    last is the feature size; ``()`` = features are the inputs), ``activation`` (``"relu"``,
    ``"sigmoid"``, ``"tanh"``, applied to the features too), ``head_hidden`` (ReLU layers of
    the task head), ``disc_hidden`` (DANN discriminator), ``init`` (``"lecun"``: Flax's
    default; ``"glorot"``: Keras' Glorot-uniform kernels); the objective: ``lam`` (weight of
    the alignment term), ``lam_schedule`` (``"constant"`` or ``"dann"``:
    :math:`\\lambda\\,(2/(1+e^{-10p})-1)`); the optimiser: ``optimizer`` (``"adam"`` or
    ``"sgd"`` with momentum 0.9), ``learning_rate``, ``lr_schedule`` (``"constant"`` or
    ``"dann"``: :math:`\\mu_0/(1+10p)^{0.75}`), ``b1``, ``weight_decay``; the loop:
    ``batch_size``, ``num_steps``, ``eval_every``, ``save_every``, ``keep_checkpoints``,
    ``mesh_shape`` (``(n,)`` data-parallel devices, ``(-1,)`` = all), ``debug_kill_at_step``.
    """
    c = ml_collections.ConfigDict()
    c.method = "source_only"
    c.hidden = (10, 10)
    c.activation = "relu"
    c.disc_hidden = (10, 10)
    c.head_hidden = ()  # hidden ReLU layers of the task head on the features
    c.init = "lecun"  # "lecun" (Flax default) or "glorot" (Keras default)
    c.lam = 1.0  # weight of the alignment / adversarial term
    c.lam_schedule = "constant"  # "constant" or "dann" (λ·(2/(1+e^{-10p}) − 1))
    c.optimizer = "adam"  # "adam" or "sgd" (momentum 0.9)
    c.learning_rate = 1e-3
    c.lr_schedule = "constant"  # "constant" or "dann" (μ0/(1+10p)^0.75)
    c.b1 = 0.9
    c.weight_decay = 0.0
    c.batch_size = 32
    c.num_steps = 1000
    c.eval_every = 500
    c.save_every = 500
    c.keep_checkpoints = 2
    c.debug_kill_at_step = -1  # debug only: SIGKILL the process after this step
    c.mesh_shape = (1,)  # "data" mesh for the source/target batches; (-1,) = all
    return c


def check_config(config: ml_collections.ConfigDict, methods=METHODS) -> None:
    """Raises ``ValueError`` naming the offending field of a :func:`default_config`-style
    config (call it before anything is written)."""
    train.validate_config(
        config,
        positive_ints=("batch_size", "num_steps", "eval_every", "save_every"),
        positive=("learning_rate",),
        nonnegative=("lam",),
        choices={
            "method": methods,
            "lam_schedule": ("constant", "dann"),
            "lr_schedule": ("constant", "dann"),
            "init": ("lecun", "glorot"),
            "optimizer": ("adam", "sgd"),
        },
    )


def make_optimizer(config) -> optax.GradientTransformation:
    """Adam (``b1``) or SGD with momentum 0.9 at ``learning_rate`` (constant, or DANN's
    :math:`\\mu_0/(1+10p)^{0.75}` with :math:`p` = step / ``num_steps``), after decoupled
    weight decay when ``weight_decay > 0``."""
    lr = config.learning_rate
    if config.lr_schedule == "dann":
        lr = lambda s: config.learning_rate / (1.0 + 10.0 * s / config.num_steps) ** 0.75  # noqa: E731
    opt = (
        optax.adam(lr, b1=config.b1) if config.optimizer == "adam" else optax.sgd(lr, momentum=0.9)
    )
    if config.weight_decay > 0:
        opt = optax.chain(optax.add_decayed_weights(config.weight_decay), opt)
    return opt


# ----------------------------------------------------------------------------- model
class DAModel(NamedTuple):
    """The recipe's network as pure functions of a params dict ``{"enc", "head", "disc"}``."""

    features: Callable  # (params["enc"], x) -> (n, d_feat)
    head: Callable  # (params["head"], f) -> logits (n, n_out)
    disc: Callable  # (params["disc"], f) -> domain logit (n,)

    def logits(self, params, x):
        """Task logits ``(n, n_out)`` of inputs ``x`` (one column: a sigmoid logit)."""
        return self.head(params["head"], self.features(params["enc"], x))


def build_model(config, in_dim: int, n_out: int, *, key: jax.Array) -> tuple[DAModel, dict]:
    """Encoder MLP (``hidden[:-1]`` → ``hidden[-1]``, activation on the output), task head
    (linear, or ``head_hidden`` ReLU layers) and a DANN domain discriminator on the features.

    ``config.init == "glorot"`` redraws every kernel Glorot-uniform,
    :math:`U(\\pm\\sqrt{6/(\\mathrm{fan_{in}}+\\mathrm{fan_{out}})})`; biases start at zero.
    The returned :class:`DAModel` is cached per architecture, so jitted loops keyed on it
    compile once per architecture.

    Returns:
      ``(model, params)``.
    """
    arch = (
        tuple(config.hidden),
        config.activation,
        tuple(config.disc_hidden),
        in_dim,
        n_out,
        tuple(config.head_hidden),
    )
    modules = _modules(arch, key)
    params = {k: (models.functional(m)[1] if m is not None else {}) for k, m in modules.items()}
    if config.init == "glorot":
        params = _glorot_kernels(params, jax.random.fold_in(key, 1))
    return _model(arch), params


def _glorot_kernels(params, key):
    """Redraws every 2-D ``kernel`` leaf Glorot-uniform (one folded key per leaf)."""
    init = jax.nn.initializers.glorot_uniform()
    leaves = jax.tree_util.tree_leaves_with_path(params)
    new = {
        jax.tree_util.keystr(path): init(jax.random.fold_in(key, i), leaf.shape, leaf.dtype)
        for i, (path, leaf) in enumerate(leaves)
        if "kernel" in jax.tree_util.keystr(path) and leaf.ndim == 2
    }
    return jax.tree_util.tree_map_with_path(
        lambda path, leaf: new.get(jax.tree_util.keystr(path), leaf), params
    )


def _modules(arch, key):
    hidden, activation, disc_hidden, in_dim, n_out, head_hidden = arch
    k_enc, k_head, k_disc = jax.random.split(key, 3)
    feat_dim = hidden[-1] if hidden else in_dim
    enc = (
        models.MLP(
            in_dim, hidden[:-1], hidden[-1], activation=activation, rngs=nnx.Rngs(params=k_enc)
        )
        if hidden
        else None
    )
    return {
        "enc": enc,
        "head": models.MLP(feat_dim, head_hidden, n_out, rngs=nnx.Rngs(params=k_head)),
        "disc": models.DomainDiscriminator(feat_dim, disc_hidden, rngs=nnx.Rngs(params=k_disc)),
    }


@functools.cache
def _model(arch) -> DAModel:
    modules = _modules(arch, jax.random.key(0))
    act = {"relu": jax.nn.relu, "sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh}[arch[1]]
    if modules["enc"] is not None:
        enc_apply = models.functional(modules["enc"])[0]

        def features(p, x):
            return act(enc_apply(p, x))
    else:

        def features(p, x):
            del p
            return x

    return DAModel(
        features, models.functional(modules["head"])[0], models.functional(modules["disc"])[0]
    )


# ----------------------------------------------------------------------------- losses
def task_loss(logits: jax.Array, labels: jax.Array, weights: jax.Array | None = None):
    """Sigmoid BCE for one logit column (labels 0/1), softmax CE otherwise; with ``weights``
    the weighted mean :math:`\\sum_i w_i\\ell_i / \\sum_i w_i`."""
    if logits.shape[-1] == 1:
        per = optax.sigmoid_binary_cross_entropy(logits[:, 0], labels.astype(logits.dtype))
    else:
        per = optax.softmax_cross_entropy_with_integer_labels(logits, labels.astype(jnp.int32))
    if weights is None:
        return jnp.mean(per)
    return jnp.sum(weights * per) / jnp.sum(weights)


def da_loss(
    model: DAModel,
    params,
    x_source,
    y_source,
    x_target,
    *,
    method: str,
    lam: jax.Array | float,
    weights_source=None,
    shard: Callable = lambda x: x,
) -> jax.Array:
    """One batch of the recipe's objective, :math:`L_{task}(source) + \\lambda\\,L_{align}`.

    ``dann``: the domain loss of a discriminator behind a gradient-reversal layer of strength
    λ (``align.gradient_reversal``, ``align.domain_adversarial_loss``); ``coral``:
    λ·``align.coral_loss`` of the features; ``mmd``: λ·``align.mmd2_multi``;
    ``source_only``: the task loss alone (``x_target`` unused, may be None).
    """
    fs = model.features(params["enc"], shard(x_source))
    loss = task_loss(
        model.head(params["head"], fs),
        shard(y_source),
        None if weights_source is None else shard(weights_source),
    )
    if method == "source_only":
        return loss
    ft = model.features(params["enc"], shard(x_target))
    if method == "dann":
        d_s = model.disc(params["disc"], align.gradient_reversal(fs, lam))
        d_t = model.disc(params["disc"], align.gradient_reversal(ft, lam))
        return loss + align.domain_adversarial_loss(d_s, d_t)
    if method == "coral":
        return loss + lam * align.coral_loss(fs, ft)
    if method == "mmd":
        return loss + lam * align.mmd2_multi(fs, ft)
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")


# ----------------------------------------------------------------------------- training
def _batch_idx(key, step, n, batch):
    """Indices of batch ``step`` from per-epoch permutations of ``n`` points."""
    per_epoch = -(-n // batch)
    epoch, i = step // per_epoch, step % per_epoch
    perm = jax.random.permutation(jax.random.fold_in(key, epoch), n)
    return jnp.take(perm, (i * batch + jnp.arange(batch)) % n)


class _Hyper(NamedTuple):
    method: str
    batch_size: int
    num_steps: int
    lam_schedule: str
    optimizer: str
    learning_rate: float
    lr_schedule: str
    b1: float
    weight_decay: float
    mesh: jax.sharding.Mesh | None = None


def _loss_fn(model, hyper, p, consts, step):
    xs, ys, xt, ws, s_key, t_key, lam0 = consts
    ns, nt, bs = xs.shape[0], xt.shape[0], hyper.batch_size
    i_s = _batch_idx(s_key, step, ns, min(bs, ns))
    lam = lam0 * (
        align.dann_lambda(step / hyper.num_steps) if hyper.lam_schedule == "dann" else 1.0
    )
    x_t = None if hyper.method == "source_only" else xt[_batch_idx(t_key, step, nt, min(bs, nt))]
    return da_loss(
        model,
        p,
        xs[i_s],
        ys[i_s],
        x_t,
        method=hyper.method,
        lam=lam,
        weights_source=None if ws is None else ws[i_s],
        shard=lambda x: parallel.constrain(x, hyper.mesh, "data"),
    )


@functools.partial(jax.jit, static_argnums=(0, 1))
def _run(model, hyper, params, opt_state, consts, start, stop):
    """Steps ``start .. stop-1`` in one ``fori_loop``; compiled once per (model, hyper)."""
    optimizer = make_optimizer(
        ml_collections.ConfigDict({k: v for k, v in hyper._asdict().items() if k != "mesh"})
    )

    def body(step, carry):
        params, opt_state, _ = carry
        loss, grads = jax.value_and_grad(lambda p: _loss_fn(model, hyper, p, consts, step))(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return jax.lax.fori_loop(start, stop, body, (params, opt_state, jnp.float32(0.0)))


def _named_key(key: jax.Array, name: str) -> jax.Array:
    """``fold_in(key, crc32(name))``: with ``key = jax.random.key(seed)`` this is
    ``jtransfer.train.keys(seed, name)``."""
    return jax.random.fold_in(key, zlib.crc32(name.encode()) & 0x7FFFFFFF)


def _arrays_sha256(*arrays) -> str:
    """One SHA-256 over the arrays' dtypes, shapes and bytes (``None`` entries included)."""
    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            h.update(b"none")
            continue
        a = np.asarray(a)
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


class DAResult(NamedTuple):
    """What :func:`fit_domain_adaptation` returns."""

    model: DAModel  # the network's pure functions
    params: dict  # trained parameters {"enc", "head", "disc"}
    metrics: dict  # "<eval>_accuracy", "train_seconds", "num_steps"
    n_out: int  # logit columns (1: binary sigmoid)
    config: ml_collections.ConfigDict  # the resolved config (method and overrides applied)
    key: jax.Array  # the key it was trained with

    @property
    def apply_fn(self) -> Callable:
        """``apply_fn(params, x) -> logits``."""
        return self.model.logits


def _n_out(y_source) -> int:
    y = np.asarray(y_source)
    k = int(y.max()) + 1 if y.size else 2
    return 1 if k <= 2 else k


def fit_domain_adaptation(
    x_source,
    y_source,
    x_target,
    *,
    method: str | None = None,
    config: ml_collections.ConfigDict | None = None,
    key: jax.Array | None = None,
    workdir: str | None = None,
    weights_source=None,
    n_out: int | None = None,
    evals: Mapping[str, tuple] | None = None,
    **overrides,
) -> DAResult:
    r"""Trains a domain-adapted MLP classifier on labelled source and unlabelled target arrays.

    Each step draws a source batch :math:`B_s` and a target batch :math:`B_t` (per-epoch
    permutations from ``key``) and minimises

    .. math:: L = \mathrm{CE}(h(f(x_s)), y_s) + \lambda_p\,L_{\mathrm{align}}(f(x_s), f(x_t))

    with :math:`L_{\mathrm{align}}` the DANN domain loss behind gradient reversal, Deep CORAL
    or multi-bandwidth MMD² (``method``), :math:`\lambda_p` constant or DANN's schedule.
    The whole loop is jitted (a ``fori_loop`` between evaluation/checkpoint events); with a
    ``workdir`` a killed run resumes bit-identically from its latest checkpoint.

    Args:
      x_source: ``(n_s, d)`` labelled source inputs (float).
      y_source: ``(n_s,)`` source labels in ``0..k-1`` (``k = 2``: one sigmoid logit).
      x_target: ``(n_t, d)`` unlabelled target inputs.
      method: ``"source_only"``, ``"dann"``, ``"coral"`` or ``"mmd"`` (default
        ``config.method``).
      config: a :func:`default_config`-style ConfigDict (default :func:`default_config`).
      key: PRNG key for the initialisation and the batch orders (default
        ``jax.random.key(0)``).
      workdir: folder for checkpoints and ``metrics.jsonl`` (resumes from it); None writes
        nothing.
      weights_source: optional ``(n_s,)`` importance weights of the source task loss.
      n_out: logit columns (default: 1 for binary labels, else ``max(y_source) + 1``).
      evals: ``{name: (x, y)}`` sets whose accuracy is logged and returned as
        ``"<name>_accuracy"`` (monitoring only: nothing is selected on them).
      **overrides: config fields to override, e.g. ``lam=0.5, num_steps=2000``.

    Returns:
      :class:`DAResult` ``(model, params, metrics, n_out, config, key)``;
      ``result.apply_fn(params, x)`` gives logits, :func:`predict` and :func:`accuracy`
      evaluate it.

    Example:
      >>> from jtransfer import data, recipes
      >>> d = data.two_moons(angle=30.0)
      >>> r = recipes.fit_domain_adaptation(d["xs"], d["ys"], d["xt"], method="dann",
      ...                                   num_steps=30, eval_every=30, save_every=30)
      >>> sorted(r.metrics), r.n_out
      (['num_steps', 'train_seconds'], 1)

    References:
      Ganin et al. 2016 (DANN), https://arxiv.org/abs/1505.07818; Sun & Saenko 2016 (Deep
      CORAL), https://arxiv.org/abs/1607.01719; Long et al. 2015 (DAN),
      https://arxiv.org/abs/1502.02791
    """
    config = ml_collections.ConfigDict((config or default_config()).to_dict())
    for k, v in overrides.items():
        if k not in config:
            raise ValueError(f"unknown config field {k!r}; fields: {sorted(config.keys())}")
        config[k] = v
    if method is not None:
        config.method = method
    check_config(config)
    xs = jnp.asarray(x_source, jnp.float32)
    xt = jnp.asarray(x_target, jnp.float32)
    ys = jnp.asarray(y_source)
    if xs.ndim != 2 or xt.ndim != 2 or xs.shape[1] != xt.shape[1] or ys.shape != xs.shape[:1]:
        raise ValueError(
            f"x_source (n_s, d), y_source (n_s,) and x_target (n_t, d) expected, "
            f"got shapes {tuple(xs.shape)}, {tuple(ys.shape)}, {tuple(xt.shape)}"
        )
    ws = None if weights_source is None else jnp.asarray(weights_source, jnp.float32)
    if ws is not None and ws.shape != ys.shape:
        raise ValueError(f"weights_source must have shape {tuple(ys.shape)}, got {tuple(ws.shape)}")
    n_out = _n_out(y_source) if n_out is None else int(n_out)
    b_s, b_t = min(config.batch_size, len(xs)), min(config.batch_size, len(xt))
    mesh = parallel.mesh_from_config(
        config,
        "data",
        divides={
            "batch_size": b_s,
            **({"batch_size (capped at the target size)": b_t} if b_t != b_s else {}),
        },
    )
    evals = dict(evals or {})
    key = default_key(key)
    init_key, s_key, t_key = (_named_key(key, n) for n in ("init", "source", "target"))
    model, params = build_model(config, xs.shape[1], n_out, key=init_key)
    hyper = _Hyper(
        config.method,
        int(config.batch_size),
        int(config.num_steps),
        config.lam_schedule,
        config.optimizer,
        float(config.learning_rate),
        config.lr_schedule,
        float(config.b1),
        float(config.weight_decay),
        mesh,
    )
    consts = (xs, ys, xt, ws, s_key, t_key, jnp.float32(config.lam))
    if mesh is not None:  # data parallel: parameters and data replicated, batches sharded
        consts = parallel.replicate(consts, mesh)

    def run_chunk(state, start, stop):
        p, o, loss = _run(
            model,
            hyper,
            state["params"],
            state["opt_state"],
            consts,
            jnp.int32(start),
            jnp.int32(stop),
        )
        return {"params": p, "opt_state": o}, {"train_loss": loss}

    def evaluate(state, step=None):
        del step
        return {f"{k}_accuracy": _accuracy(model, state["params"], *v) for k, v in evals.items()}

    state = {"params": params, "opt_state": make_optimizer(config).init(params)}
    if workdir is None:  # nothing to resume or write: one chunk
        if mesh is not None:
            state = parallel.replicate(state, mesh)
        t0 = time.perf_counter()
        state = jax.block_until_ready(run_chunk(state, 0, config.num_steps)[0])
        secs = time.perf_counter() - t0
    else:  # jtransfer.train's loop: restore, chunks between events, metrics, save, resume
        # The record covers what determines the numbers: the config, the key and the data.
        record = {
            **config.to_dict(),
            "key": np.asarray(jax.random.key_data(key)).tolist(),
            "n_out": n_out,
            "data_sha256": _arrays_sha256(xs, ys, xt, ws),
        }
        with train.Run(
            workdir,
            config=record,
            exempt=("plot", "save_every", "debug_kill_at_step"),
            save_every=config.save_every,
            keep=config.keep_checkpoints,
        ) as run:
            out = train.train_loop(
                run,
                state,
                num_steps=config.num_steps,
                run_chunk=run_chunk,
                eval_every=config.eval_every,
                evaluate=evaluate,
                reduce="last",
                mesh=mesh,
                debug_kill_at_step=config.debug_kill_at_step,
            )
        state, secs = out.state, out.train_seconds
    metrics = dict(evaluate(state))
    metrics.update(train_seconds=secs, num_steps=float(config.num_steps))
    return DAResult(model, state["params"], metrics, n_out, config, key)


# ----------------------------------------------------------------------------- evaluation
@functools.partial(jax.jit, static_argnums=0)
def _predict_jit(model, params, x):
    logits = model.logits(params, x)
    return (
        (logits[:, 0] > 0).astype(jnp.int32)
        if logits.shape[-1] == 1
        else jnp.argmax(logits, axis=-1).astype(jnp.int32)
    )


def _accuracy(model, params, x, y, chunk: int = 8192) -> float:
    if len(x) == 0:
        return float("nan")
    pred = np.concatenate(
        [
            np.asarray(_predict_jit(model, params, jnp.asarray(x[i : i + chunk])))
            for i in range(0, len(x), chunk)
        ]
    )
    return float(np.mean(pred == np.asarray(y)))


def predict(result: DAResult, x, *, params=None) -> np.ndarray:
    """Predicted labels ``(n,)`` int32 of ``x`` (sigmoid logit > 0, or the argmax);
    ``params`` defaults to ``result.params``."""
    params = result.params if params is None else params
    x = np.asarray(x, np.float32)
    if len(x) == 0:
        return np.zeros((0,), np.int32)
    return np.concatenate(
        [
            np.asarray(_predict_jit(result.model, params, jnp.asarray(x[i : i + 8192])))
            for i in range(0, len(x), 8192)
        ]
    )


def accuracy(result: DAResult, x, y, *, params=None) -> float:
    """Accuracy of the classifier on ``(x, y)`` (evaluated in chunks; NaN when empty)."""
    return _accuracy(
        result.model, result.params if params is None else params, np.asarray(x, np.float32), y
    )


# ----------------------------------------------------------------------------- selection
def reverse_validate(
    result: DAResult,
    x_source,
    y_source,
    x_target,
    *,
    config: ml_collections.ConfigDict | None = None,
    key: jax.Array | None = None,
    workdir: str | None = None,
    params=None,
    **overrides,
) -> select.ReverseValidation:
    """Reverse validation (``jtransfer.select.reverse_validation``) of a fitted recipe: the
    target is labelled by ``result`` (or by ``params``), a reverse model is fitted from the
    pseudo-labelled target to the source with ``result.config`` and ``result.key`` (unless
    ``config``/``key``/``**overrides`` say otherwise; ``workdir`` for its checkpoints) and
    scored on the source labels.

    Returns:
      ``select.ReverseValidation(accuracy, loss)`` (higher accuracy, then lower loss, wins).
    """
    pseudo = predict(result, x_target, params=params)
    pseudo = pseudo.astype(np.float32 if result.n_out == 1 else np.int32)

    config = result.config if config is None else config
    key = result.key if key is None else key

    def fit(xs, ys, xt):
        r = fit_domain_adaptation(
            xs, ys, xt, config=config, key=key, workdir=workdir, n_out=result.n_out, **overrides
        )
        return lambda x: r.model.logits(r.params, jnp.asarray(x, jnp.float32))

    return select.reverse_validation(fit, x_source, y_source, x_target, pseudo)


def importance_weights(
    x_source, x_target, *, C: float = 1.0, max_weight: float = 20.0
) -> np.ndarray:
    """Importance weights :math:`w \\approx q/p` of source points for IW validation, as the DA
    experiments use them: ``jtransfer.select.domain_classifier_weights`` (the library's one
    selection weighting) with an absolute cap ``max_weight`` and no quantile cap
    (``clip_quantile=None``), normalised to mean 1 over all of ``x_source``.

    Kept with these settings so the experiments' numbers do not change; new code should call
    ``select.domain_classifier_weights(x_train, x_target, x_eval=x_val)`` (quantile cap, mean 1
    on the validation set) and ``select.select_by_risk``.

    Args:
      x_source: ``(n_s, d)`` source inputs (the classifier's class 0).
      x_target: ``(n_t, d)`` target inputs (class 1).
      C: the classifier's inverse regularisation strength.
      max_weight: cap on the ratio before normalisation.

    Returns:
      ``(n_s,)`` float32 weights of the source points, mean 1 (slice out a held-out
      validation part after the call to keep its weights on the same scale).
    """
    return select.domain_classifier_weights(
        x_source, x_target, C=C, clip_quantile=None, max_weight=max_weight
    )


class LamSelection(NamedTuple):
    """What :func:`select_lam` returns (one entry per fitted λ in ``lams``, ``fits`` and
    ``iw_accuracies``)."""

    lam: float  # the chosen λ
    index: int  # its position in ``lams``
    fit: DAResult  # the chosen λ's fit (``fits[index]``)
    lams: tuple[float, ...]  # the λ fitted, in order (``(0.0,)`` for ``source_only``)
    iw_accuracies: tuple[float, ...]  # importance-weighted validation accuracy of each
    fits: tuple[DAResult, ...]  # every fit (e.g. for target-selected "oracle" columns)


def select_lam(
    x_source,
    y_source,
    x_target,
    *,
    x_val,
    y_val,
    weights_val,
    lams,
    key: jax.Array | None = None,
    workdir: str | None = None,
    **fit_kwargs,
) -> LamSelection:
    r"""Chooses λ from a grid by importance-weighted accuracy on held-out source data.

    For each :math:`\lambda_j` of ``lams`` a model :math:`h_j` =
    :func:`fit_domain_adaptation` ``(x_source, y_source, x_target, lam=`` :math:`\lambda_j`
    ``)`` is trained, all with the same ``key`` (same initialisation and batch order), and
    scored by ``jtransfer.select.iw_accuracy`` on the validation points :math:`(x_i, y_i)`
    with weights :math:`w_i \approx q(x_i)/p(x_i)`,

    .. math:: \widehat{\mathrm{acc}}_j = \frac{\sum_i w_i\,[h_j(x_i) = y_i]}{\sum_i w_i},
              \qquad j^\star = \min \arg\max_j \widehat{\mathrm{acc}}_j

    (ties go to the first λ of the grid). No target label is read. ``source_only`` ignores
    λ, so for it only λ = 0 is fitted. The validation points are held out of ``x_source``;
    the experiments take their weights from :func:`importance_weights` of the whole source
    (training and validation points) against ``x_target``, sliced to the validation points.

    Args:
      x_source: ``(n_s, d)`` labelled source inputs used for training.
      y_source: ``(n_s,)`` their labels.
      x_target: ``(n_t, d)`` unlabelled target inputs.
      x_val: ``(n_v, d)`` held-out labelled source inputs (selection only).
      y_val: ``(n_v,)`` their labels.
      weights_val: ``(n_v,)`` importance weights of the validation points.
      lams: the grid of alignment weights λ (in the order ties are broken).
      key: PRNG key of every fit (default ``jax.random.key(0)``).
      workdir: folder whose ``lam<λ>`` subfolders hold each fit's checkpoints and metrics
        (a rerun resumes them); None writes nothing.
      **fit_kwargs: passed to :func:`fit_domain_adaptation` (``method``, ``config``,
        ``n_out``, ``evals``, config overrides); not ``lam``.

    Returns:
      :class:`LamSelection` ``(lam, index, fit, lams, iw_accuracies, fits)``.

    Example:
      >>> import numpy as np
      >>> from jtransfer import data, recipes
      >>> d = data.two_moons(angle=30.0)
      >>> xs, ys = np.asarray(d["xs"]), np.asarray(d["ys"])
      >>> w = recipes.importance_weights(xs, d["xt"])[-20:]
      >>> s = recipes.select_lam(xs[:-20], ys[:-20], d["xt"], x_val=xs[-20:], y_val=ys[-20:],
      ...                        weights_val=w, lams=(0.1, 1.0), method="coral",
      ...                        num_steps=20, eval_every=20, save_every=20)
      >>> s.lam in (0.1, 1.0), len(s.fits), s.fit is s.fits[s.index]
      (True, 2, True)

    References:
      Sugiyama, Krauledat & Müller 2007, "Covariate Shift Adaptation by Importance Weighted
      Cross Validation", JMLR 8, https://jmlr.org/papers/v8/sugiyama07a.html
    """
    if "lam" in fit_kwargs:
        raise ValueError("select_lam takes the grid as lams=, not lam=")
    lams = tuple(lams)
    if not lams:
        raise ValueError("lams must be a non-empty sequence of λ values, got ()")
    shapes = [tuple(np.shape(a)) for a in (x_val, y_val, weights_val)]
    if len(shapes[1]) != 1 or shapes[0][:1] != shapes[1] or shapes[2] != shapes[1]:
        raise ValueError(
            f"x_val (n_v, d), y_val (n_v,) and weights_val (n_v,) expected, got shapes "
            f"{shapes[0]}, {shapes[1]} and {shapes[2]}"
        )
    method = fit_kwargs.get("method") or (fit_kwargs.get("config") or default_config()).method
    if method == "source_only":
        lams = (0.0,)
    fits, scores = [], []
    for lam in lams:
        fit = fit_domain_adaptation(
            x_source,
            y_source,
            x_target,
            lam=lam,
            key=key,
            workdir=None if workdir is None else os.path.join(workdir, f"lam{lam}"),
            **fit_kwargs,
        )
        fits.append(fit)
        scores.append(float(select.iw_accuracy(predict(fit, x_val), y_val, weights_val)))
    index = max(range(len(lams)), key=scores.__getitem__)  # the first of the best
    return LamSelection(lams[index], index, fits[index], lams, tuple(scores), tuple(fits))

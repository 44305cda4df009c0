"""Shared machinery for the domain-adaptation experiments (two moons, digits, Office, Amazon).

One training loop serves every feature-alignment method on an MLP:

* ``source_only``: task loss on labelled source batches.
* ``dann``: task loss + domain classifier behind a gradient-reversal layer (Ganin et al.
  2016, https://arxiv.org/abs/1505.07818).
* ``coral``: task loss + λ·Deep CORAL loss on the features (Sun & Saenko 2016,
  https://arxiv.org/abs/1607.01719).
* ``mmd``: task loss + λ·MMD² on the features, multi-bandwidth Gaussian kernel (the DAN
  family, Long et al. 2015, https://arxiv.org/abs/1502.02791).

The loop is jitted as a whole: ``lax.fori_loop`` runs from one event (evaluation, checkpoint,
end) to the next, so a run costs a handful of compilations and dispatches. Batches come from
``fold_in(key, epoch)`` permutations, so a killed and resumed run replays exactly the batches of
an uninterrupted one (bit-identical parameters).

The alignment losses are ``jtransfer.align``'s (gradient reversal, DANN λ schedule and
domain loss, Deep CORAL, MMD²).
"""

from __future__ import annotations

import functools
import os
import signal
import time
from collections.abc import Callable, Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

from jtransfer import align, models, parallel, train

METHODS = ("source_only", "dann", "coral", "mmd")
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def data_dir(subdir: str, configured: str | None = None) -> str:
    """The benchmark folder: ``configured``, ``$JTRANSFER_MANUAL_DIR``, or ``../shared/data``."""
    root = configured or os.environ.get(
        "JTRANSFER_MANUAL_DIR", os.path.join(ROOT, "..", "shared", "data"))
    path = os.path.join(root, subdir)
    if not os.path.isdir(path):
        raise FileNotFoundError(f"benchmark folder {path} not found; set JTRANSFER_MANUAL_DIR")
    return path


# ----------------------------------------------------------------------------- losses
def mmd2_multi(fs, ft, scales=(0.25, 0.5, 1.0, 2.0, 4.0)):
    """Biased MMD² (``align.mmd2``) with a sum of Gaussian kernels, σ = scale × σ₀ where σ₀² is
    the mean pairwise squared distance of the pooled batch, taken without gradient (DAN's
    heuristic; the mean instead of the median because a sort per step dominated run time)."""
    z = jax.lax.stop_gradient(jnp.concatenate([fs, ft], axis=0))
    sq = jnp.sum(z * z, axis=1)
    d2 = jnp.maximum(sq[:, None] + sq[None, :] - 2.0 * z @ z.T, 0.0)
    sigma0 = jnp.sqrt(jnp.mean(d2) + 1e-8)
    return align.mmd2(fs, ft, bandwidth=sigma0 * jnp.asarray(scales, fs.dtype),
                      estimator="biased")


def task_loss(logits, labels, weights=None):
    """Sigmoid BCE for one logit (labels in {0,1}), softmax CE otherwise; optional weights."""
    if logits.shape[-1] == 1:
        per = optax.sigmoid_binary_cross_entropy(logits[:, 0], labels.astype(logits.dtype))
    else:
        per = optax.softmax_cross_entropy_with_integer_labels(logits, labels.astype(jnp.int32))
    if weights is None:
        return jnp.mean(per)
    return jnp.sum(weights * per) / jnp.sum(weights)


def predict(logits):
    return (logits[:, 0] > 0).astype(jnp.int32) if logits.shape[-1] == 1 else jnp.argmax(
        logits, axis=-1).astype(jnp.int32)


# ----------------------------------------------------------------------------- model
class Nets(NamedTuple):
    features: Callable   # (params["enc"], x) -> (n, d_feat)
    head: Callable       # (params["head"], f) -> logits
    disc: Callable       # (params["disc"], f) -> domain logit (n,)

    def logits(self, params, x):
        return self.head(params["head"], self.features(params["enc"], x))


def build_nets(config, in_dim: int, n_out: int, key) -> tuple[Nets, dict]:
    """Encoder MLP (hidden[:-1] → hidden[-1], activation on the output), a task head (linear,
    or an MLP with ``config.head_hidden`` ReLU layers), and a DANN domain discriminator on the
    features. ``hidden=()`` gives a model on x itself.

    ``config.init``: ``"lecun"`` keeps Flax's default kernels (LeCun normal); ``"glorot"``
    redraws every kernel Glorot-uniform, U(±√(6/(fan_in+fan_out))), Keras' default (used to
    reproduce ADAPT's Keras examples). Biases start at zero either way.

    The returned :class:`Nets` is cached per architecture, so jitted loops keyed on it are
    compiled once per architecture, not once per run.
    """
    arch = (tuple(config.hidden), config.activation, tuple(config.disc_hidden), in_dim, n_out,
            tuple(config.head_hidden))
    modules = _modules(arch, key)
    params = {k: (models.functional(m)[1] if m is not None else {}) for k, m in modules.items()}
    if config.init == "glorot":
        params = _glorot_kernels(params, jax.random.fold_in(key, 1))
    return _nets(arch), params


def _glorot_kernels(params, key):
    """Redraws every 2-D ``kernel`` leaf Glorot-uniform (one folded key per leaf)."""
    init = jax.nn.initializers.glorot_uniform()
    leaves = jax.tree_util.tree_leaves_with_path(params)
    new = {jax.tree_util.keystr(path): init(jax.random.fold_in(key, i), leaf.shape, leaf.dtype)
           for i, (path, leaf) in enumerate(leaves)
           if "kernel" in jax.tree_util.keystr(path) and leaf.ndim == 2}
    return jax.tree_util.tree_map_with_path(
        lambda path, leaf: new.get(jax.tree_util.keystr(path), leaf), params)


def _modules(arch, key):
    hidden, activation, disc_hidden, in_dim, n_out, head_hidden = arch
    k_enc, k_head, k_disc = jax.random.split(key, 3)
    feat_dim = hidden[-1] if hidden else in_dim
    enc = (models.MLP(in_dim, hidden[:-1], hidden[-1], activation=activation,
                      rngs=nnx.Rngs(params=k_enc)) if hidden else None)
    return {"enc": enc,
            "head": models.MLP(feat_dim, head_hidden, n_out, rngs=nnx.Rngs(params=k_head)),
            "disc": models.DomainDiscriminator(feat_dim, disc_hidden,
                                               rngs=nnx.Rngs(params=k_disc))}


@functools.cache
def _nets(arch) -> Nets:
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
    return Nets(features, models.functional(modules["head"])[0],
                models.functional(modules["disc"])[0])


# ----------------------------------------------------------------------------- config
def base_config() -> ml_collections.ConfigDict:
    """Defaults shared by the DA experiments; each experiment overrides what it needs."""
    c = ml_collections.ConfigDict()
    c.method = "source_only"
    c.seed = 0
    c.hidden = (10, 10)
    c.activation = "relu"
    c.disc_hidden = (10, 10)
    c.head_hidden = ()             # hidden ReLU layers of the task head on the features
    c.init = "lecun"               # "lecun" (Flax default) or "glorot" (Keras default)
    c.lam = 1.0                    # weight of the alignment / adversarial term
    c.lam_schedule = "constant"    # "constant" or "dann" (λ·(2/(1+e^{-10p}) − 1))
    c.optimizer = "adam"           # "adam" or "sgd" (momentum 0.9)
    c.learning_rate = 1e-3
    c.lr_schedule = "constant"     # "constant" or "dann" (μ0/(1+10p)^0.75)
    c.b1 = 0.9
    c.weight_decay = 0.0
    c.batch_size = 32
    c.num_steps = 1000
    c.eval_every = 500
    c.save_every = 500
    c.keep_checkpoints = 2
    c.plot = False
    c.debug_kill_at_step = -1      # debug only: SIGKILL the process after this step
    c.mesh_shape = (1,)            # "data" mesh for the source/target batches; (-1,) = all
    return c


def validate_config(config, methods=METHODS) -> None:
    """Raises ``ValueError`` naming the offending field (before anything is written)."""
    if config.method not in methods:
        raise ValueError(f"config.method must be one of {methods}, got {config.method!r}")
    for name in ("batch_size", "num_steps", "eval_every", "save_every"):
        v = config[name]
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"config.{name} must be a positive int, got {v!r}")
    for name in ("learning_rate",):
        if not config[name] > 0:
            raise ValueError(f"config.{name} must be > 0, got {config[name]!r}")
    if not config.lam >= 0:
        raise ValueError(f"config.lam must be >= 0, got {config.lam!r}")
    if config.lam_schedule not in ("constant", "dann"):
        raise ValueError(f"config.lam_schedule must be 'constant' or 'dann', "
                         f"got {config.lam_schedule!r}")
    if config.lr_schedule not in ("constant", "dann"):
        raise ValueError(f"config.lr_schedule must be 'constant' or 'dann', "
                         f"got {config.lr_schedule!r}")
    shape = tuple(config.get("mesh_shape", (1,)))
    if len(shape) != 1 or not (shape[0] == -1 or (isinstance(shape[0], int) and shape[0] >= 1)):
        raise ValueError(f"config.mesh_shape must be (n,) with n >= 1 or -1, got {shape}")
    if config.init not in ("lecun", "glorot"):
        raise ValueError(f"config.init must be 'lecun' or 'glorot', got {config.init!r}")
    if config.optimizer not in ("adam", "sgd"):
        raise ValueError(f"config.optimizer must be 'adam' or 'sgd', got {config.optimizer!r}")


def make_optimizer(config) -> optax.GradientTransformation:
    lr = config.learning_rate
    if config.lr_schedule == "dann":
        lr = lambda s: config.learning_rate / (1.0 + 10.0 * s / config.num_steps) ** 0.75  # noqa: E731
    opt = (optax.adam(lr, b1=config.b1) if config.optimizer == "adam"
           else optax.sgd(lr, momentum=0.9))
    if config.weight_decay > 0:
        opt = optax.chain(optax.add_decayed_weights(config.weight_decay), opt)
    return opt


# ----------------------------------------------------------------------------- training
def make_data_mesh(config, batch_sizes) -> jax.sharding.Mesh | None:
    """The ``data`` mesh of ``config.mesh_shape`` (``(-1,)`` = every device), or None for one
    device. Raises ``ValueError`` when a batch size is not a multiple of the mesh size."""
    mesh = parallel.mesh_from_shape(tuple(config.get("mesh_shape", (1,))), ("data",))
    if mesh.size == 1:
        return None
    for b in batch_sizes:
        if b % mesh.size:
            raise ValueError(f"config.mesh_shape={tuple(config.mesh_shape)} gives {mesh.size} "
                             f"devices, which do not divide the batch size {b}")
    return mesh


def _shard(mesh, x):
    """Splits ``x``'s leading (batch) axis over the ``data`` mesh axis (no-op without mesh)."""
    if mesh is None or x is None:
        return x
    spec = jax.sharding.PartitionSpec("data", *([None] * (x.ndim - 1)))
    return jax.lax.with_sharding_constraint(x, jax.sharding.NamedSharding(mesh, spec))


def _batch_idx(key, step, n, batch):
    """Indices of batch ``step`` from per-epoch permutations of ``n`` points."""
    per_epoch = -(-n // batch)
    epoch, i = step // per_epoch, step % per_epoch
    perm = jax.random.permutation(jax.random.fold_in(key, epoch), n)
    return jnp.take(perm, (i * batch + jnp.arange(batch)) % n)


def accuracy(nets: Nets, params, x, y, *, chunk: int = 8192) -> float:
    """Accuracy of the classifier on ``(x, y)`` (evaluated in chunks)."""
    if len(x) == 0:
        return float("nan")
    preds = [np.asarray(_predict_jit(nets, params, jnp.asarray(x[i:i + chunk])))
             for i in range(0, len(x), chunk)]
    return float(np.mean(np.concatenate(preds) == np.asarray(y)))


@functools.partial(jax.jit, static_argnums=0)
def _predict_jit(nets, params, x):
    return predict(nets.logits(params, x))


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


def _loss_fn(nets, hyper, p, consts, step):
    xs, ys, xt, ws, s_key, t_key, lam0 = consts
    ns, nt, bs = xs.shape[0], xt.shape[0], hyper.batch_size
    i_s = _batch_idx(s_key, step, ns, min(bs, ns))
    fs = nets.features(p["enc"], _shard(hyper.mesh, xs[i_s]))
    loss = task_loss(nets.head(p["head"], fs), _shard(hyper.mesh, ys[i_s]),
                     None if ws is None else _shard(hyper.mesh, ws[i_s]))
    if hyper.method == "source_only":
        return loss
    lam = lam0 * (align.dann_lambda(step / hyper.num_steps) if hyper.lam_schedule == "dann"
                  else 1.0)
    i_t = _batch_idx(t_key, step, nt, min(bs, nt))
    ft = nets.features(p["enc"], _shard(hyper.mesh, xt[i_t]))
    if hyper.method == "dann":
        d_s = nets.disc(p["disc"], align.gradient_reversal(fs, lam))
        d_t = nets.disc(p["disc"], align.gradient_reversal(ft, lam))
        return loss + align.domain_adversarial_loss(d_s, d_t)
    if hyper.method == "coral":
        return loss + lam * align.coral_loss(fs, ft)
    return loss + lam * mmd2_multi(fs, ft)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _run(nets, hyper, params, opt_state, consts, start, stop):
    """Steps ``start .. stop-1`` in one ``fori_loop``; compiled once per (nets, hyper)."""
    optimizer = make_optimizer(ml_collections.ConfigDict(
        {k: v for k, v in hyper._asdict().items() if k != "mesh"}))

    def body(step, carry):
        params, opt_state, _ = carry
        loss, grads = jax.value_and_grad(
            lambda p: _loss_fn(nets, hyper, p, consts, step))(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return jax.lax.fori_loop(start, stop, body, (params, opt_state, jnp.float32(0.0)))


def train_da(config, workdir: str, data: Mapping[str, np.ndarray], *, n_out: int,
             evals: Mapping[str, tuple[np.ndarray, np.ndarray]] = ()):
    """Trains ``config.method`` on ``data`` (``xs``, ``ys``, ``xt``, optional ``ws`` source
    weights), resuming from ``workdir``'s checkpoints.

    Args:
      config: a :func:`base_config`-style ConfigDict (already validated).
      workdir: where checkpoints and ``metrics.jsonl`` go.
      data: ``xs`` (n, d) float, ``ys`` (n,) labels (0/1 when ``n_out == 1``), ``xt``
        (m, d) unlabelled target inputs, optional ``ws`` (n,) importance weights.
      n_out: 1 for a binary (sigmoid) problem, the number of classes otherwise.
      evals: ``{name: (x, y)}`` sets whose accuracy is logged and returned as
        ``<name>_accuracy`` (monitoring only; nothing is selected on them here).

    Returns:
      ``(metrics, nets, params)``; metrics has ``<eval>_accuracy``, ``train_seconds``,
      ``num_steps``.
    """
    mesh = make_data_mesh(config, {min(config.batch_size, len(data["xs"])),
                                   min(config.batch_size, len(data["xt"]))})
    os.makedirs(workdir, exist_ok=True)
    evals = dict(evals)
    init_key, s_key, t_key = train.keys(config.seed, "init", "source", "target")
    xs = jnp.asarray(data["xs"], jnp.float32)
    ys = jnp.asarray(data["ys"])
    xt = jnp.asarray(data["xt"], jnp.float32)
    ws = None if data.get("ws") is None else jnp.asarray(data["ws"], jnp.float32)
    nets, params = build_nets(config, xs.shape[1], n_out, init_key)
    hyper = _Hyper(config.method, int(config.batch_size), int(config.num_steps),
                   config.lam_schedule, config.optimizer, float(config.learning_rate),
                   config.lr_schedule, float(config.b1), float(config.weight_decay), mesh)
    optimizer = make_optimizer(config)
    consts = (xs, ys, xt, ws, s_key, t_key, jnp.float32(config.lam))
    ckpt = train.CheckpointManager(os.path.join(workdir, "checkpoints"),
                                   save_every=config.save_every, keep=config.keep_checkpoints)
    state, step = ckpt.restore_or({"params": params, "opt_state": optimizer.init(params)})
    params, opt_state = state["params"], state["opt_state"]
    if mesh is not None:  # data parallel: parameters and data replicated, batches sharded
        params, opt_state, consts = parallel.replicate((params, opt_state, consts), mesh)
    writer = train.MetricWriter(workdir, tensorboard=False)
    kill, num_steps = config.debug_kill_at_step, config.num_steps
    t0 = time.perf_counter()
    while step < num_steps:
        stop = min(num_steps, (step // config.eval_every + 1) * config.eval_every,
                   (step // config.save_every + 1) * config.save_every)
        if step < kill < stop:
            stop = kill
        params, opt_state, loss = _run(nets, hyper, params, opt_state, consts,
                                       jnp.int32(step), jnp.int32(stop))
        step = stop
        if step % config.eval_every == 0 or step == num_steps:
            writer.write(step, {"train_loss": float(loss), **{
                f"{k}_accuracy": accuracy(nets, params, *v) for k, v in evals.items()}})
        ckpt.save(step, {"params": params, "opt_state": opt_state}, force=step == num_steps)
        if step == kill:
            ckpt.close()
            writer.close()
            os.kill(os.getpid(), signal.SIGKILL)
    jax.block_until_ready(params)
    secs = time.perf_counter() - t0
    ckpt.close()
    writer.close()
    metrics = {f"{k}_accuracy": accuracy(nets, params, *v) for k, v in evals.items()}
    metrics.update(train_seconds=secs, num_steps=float(num_steps))
    return metrics, nets, params


def save_params(params, path: str) -> None:
    np.savez(path, *[np.asarray(a) for a in jax.tree.leaves(params)])


# ----------------------------------------------------------------------------- selection
def domain_classifier_weights(xs, xt, *, clip: float = 20.0, C: float = 1.0) -> np.ndarray:
    """Importance weights w(x) ≈ q(x)/p(x) = (n_s/n_t)·P(t|x)/P(s|x) from a logistic-regression
    domain classifier on the inputs (Bickel et al. 2007), clipped to [0, clip] and normalised
    to mean 1. Used for importance-weighted validation (Sugiyama et al. 2007)."""
    from sklearn.linear_model import LogisticRegression

    x = np.concatenate([xs, xt])
    d = np.concatenate([np.zeros(len(xs)), np.ones(len(xt))])
    clf = LogisticRegression(C=C, max_iter=1000).fit(x, d)
    p = np.clip(clf.predict_proba(xs)[:, 1], 1e-6, 1 - 1e-6)
    w = np.clip(len(xs) / len(xt) * p / (1 - p), 0.0, clip)
    return (w / w.mean()).astype(np.float32)


def reverse_validation(config, workdir: str, data: Mapping[str, np.ndarray], nets: Nets, params,
                       *, n_out: int) -> tuple[float, float]:
    """Reverse validation (Zhong et al. 2010; the DANN paper's model-selection protocol,
    Ganin et al. 2016 §5.1.2, https://arxiv.org/abs/1505.07818): label the target with the
    trained model η, train a *reverse* model η_r with the same method and config on the
    pseudo-labelled target as source and the (unlabelled) source as target, and score η_r on
    the true source labels. Uses no target label; a high score says η's target labelling is
    one the method can carry back to the source.

    Returns:
      ``(accuracy, log_loss)`` of η_r on the source (the loss breaks accuracy ties).
    """
    pseudo = np.asarray(_predict_jit(nets, params, jnp.asarray(data["xt"], jnp.float32)))
    rdata = {"xs": data["xt"], "ys": pseudo.astype(np.float32 if n_out == 1 else np.int32),
             "xt": data["xs"]}
    m, rnets, rparams = train_da(config, workdir, rdata, n_out=n_out,
                                 evals={"reverse": (data["xs"], data["ys"])})
    logits = rnets.logits(rparams, jnp.asarray(data["xs"], jnp.float32))
    return m["reverse_accuracy"], float(task_loss(logits, jnp.asarray(data["ys"])))


def iw_accuracy(nets: Nets, params, x, y, w) -> float:
    """Importance-weighted accuracy Σ wᵢ·[ŷᵢ = yᵢ] / Σ wᵢ (a target-free risk estimate)."""
    pred = np.asarray(_predict_jit(nets, params, jnp.asarray(x)))
    return float(np.sum(w * (pred == np.asarray(y))) / np.sum(w))


def mean_std(values) -> str:
    v = np.asarray(values, float)
    return f"{v.mean():.3f} ± {v.std():.3f}"

"""Inner-problem interface (``Task``) and the task families: quadratics and MLPs on digits."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np

from jtransfer._core import checks as _checks
from jtransfer._core.extras import import_extra
from jtransfer.data import sample_quadratics


@runtime_checkable
class Task(Protocol):
    """An inner optimisation problem.

    ``init(key) -> params`` samples initial parameters; ``loss(params, key, batch) -> scalar``
    is the objective on a batch. Optionally ``sample(key) -> batch`` draws a batch (tasks
    without it are called with ``batch=None``). Tasks that are pytrees (for example the
    registered dataclasses below) can be ``vmap``-ed: a batch of tasks is one task whose
    array fields have a leading task axis.
    """

    def init(self, key: jax.Array) -> Any: ...

    def loss(self, params: Any, key: jax.Array, batch: Any) -> jax.Array: ...


def sample_batch(task: Task, key: jax.Array) -> Any:
    """``task.sample(key)`` when the task defines it, else ``None``."""
    sample = getattr(task, "sample", None)
    return None if sample is None else sample(key)


@dataclasses.dataclass(frozen=True)
class QuadraticTask:
    r"""The random quadratic :math:`f(\theta) = \lVert W\theta - y\rVert^2` of Andrychowicz et al.

    Attributes:
      w: ``(d, d)`` matrix :math:`W`.
      y: ``(d,)`` target :math:`y`.
      init_scale: standard deviation of the Gaussian initial :math:`\theta` (static).
    """

    w: jax.Array
    y: jax.Array
    init_scale: float = 1.0

    def init(self, key: jax.Array) -> jax.Array:
        return self.init_scale * jax.random.normal(key, self.y.shape, self.y.dtype)

    def loss(self, params: jax.Array, key: jax.Array, batch: Any = None) -> jax.Array:
        del key, batch
        r = self.w @ params - self.y
        return jnp.sum(jnp.square(r))


jax.tree_util.register_dataclass(QuadraticTask, data_fields=["w", "y"], meta_fields=["init_scale"])


def quadratic_tasks(
    *, num_tasks: int, dim: int = 10, init_scale: float = 1.0, key: jax.Array | None = None
) -> QuadraticTask:
    """A batch of random quadratics (leading axis ``num_tasks``) as one vmappable task.

    ``W`` and ``y`` are i.i.d. standard normal, as in Andrychowicz et al. (2016),
    https://arxiv.org/abs/1606.04474 (section 3.1); sampled by
    ``jtransfer.data.sample_quadratics`` with ``key`` (``None``: ``jax.random.key(0)``).
    """
    if int(num_tasks) != num_tasks or num_tasks < 1 or int(dim) != dim or dim < 1:
        raise ValueError(
            f"quadratic_tasks: num_tasks and dim must be positive integers, got "
            f"{num_tasks} and {dim}"
        )
    w, y = sample_quadratics(num_functions=num_tasks, dim=dim, key=key)
    return QuadraticTask(w=jnp.asarray(w), y=jnp.asarray(y), init_scale=init_scale)


def quadratic_task(key: jax.Array, *, dim: int = 10, init_scale: float = 1.0) -> QuadraticTask:
    """One random quadratic (a task family: ``functools.partial(quadratic_task, dim=10)``).

    The key is positional here because this *is* a task family, called as
    ``task_family(key)`` by the meta-gradient estimators (the ``Task``/``init(key)`` protocol).
    """
    return jax.tree.map(
        lambda a: a[0], quadratic_tasks(num_tasks=1, dim=dim, init_scale=init_scale, key=key)
    )


_ACTIVATIONS = {"sigmoid": jax.nn.sigmoid, "relu": jax.nn.relu, "tanh": jnp.tanh}


@dataclasses.dataclass(frozen=True)
class MLPTask:
    """Softmax cross-entropy of an MLP on a fixed dataset, trained on random minibatches.

    Attributes:
      x: ``(N, D)`` float inputs.
      y: ``(N,)`` int labels in ``[0, num_classes)``.
      hidden: hidden widths (static).
      activation: ``"sigmoid"``, ``"relu"`` or ``"tanh"`` (static).
      batch_size: minibatch size (static).
      num_classes: number of classes (static).
    """

    x: jax.Array
    y: jax.Array
    hidden: tuple[int, ...] = (20,)
    activation: str = "sigmoid"
    batch_size: int = 128
    num_classes: int = 10

    def init(self, key: jax.Array) -> list[dict]:
        sizes = (self.x.shape[-1], *self.hidden, self.num_classes)
        keys = jax.random.split(key, len(sizes) - 1)
        return [
            {
                "w": jax.random.normal(k, (a, b), self.x.dtype) / jnp.sqrt(a).astype(self.x.dtype),
                "b": jnp.zeros((b,), self.x.dtype),
            }
            for k, a, b in zip(keys, sizes[:-1], sizes[1:], strict=True)
        ]

    def apply(self, params: list[dict], x: jax.Array) -> jax.Array:
        act = _ACTIVATIONS[self.activation]
        for layer in params[:-1]:
            x = act(x @ layer["w"] + layer["b"][None])
        return x @ params[-1]["w"] + params[-1]["b"][None]

    def sample(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        idx = jax.random.randint(key, (self.batch_size,), 0, self.x.shape[0])
        return self.x[idx], self.y[idx]

    def loss(self, params: list[dict], key: jax.Array, batch: Any) -> jax.Array:
        del key
        x, y = (self.x, self.y) if batch is None else batch
        logits = self.apply(params, x)
        logp = jax.nn.log_softmax(logits)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))


jax.tree_util.register_dataclass(
    MLPTask,
    data_fields=["x", "y"],
    meta_fields=["hidden", "activation", "batch_size", "num_classes"],
)


def mlp_task(
    x: Any,
    y: Any,
    *,
    hidden: Sequence[int] = (20,),
    activation: str = "sigmoid",
    batch_size: int = 128,
    num_classes: int | None = None,
) -> MLPTask:
    """An :class:`MLPTask` with validated inputs (``x (N, D)``, ``y (N,)`` ints).

    Raises:
      ValueError: ``x`` not ``(N, D)`` or holding NaN/Inf; ``y`` not ``(N,)``, not integer
        class ids (float labels are not truncated), negative, or ``>= num_classes``; a bad
        activation, batch size or width.
    """
    x_shape, y_shape = np.shape(x), np.shape(y)
    if len(x_shape) != 2 or y_shape != x_shape[:1]:
        raise ValueError(f"mlp_task: need x (N, D) and y (N,), got {x_shape} and {y_shape}")
    x = jnp.asarray(x, jnp.float32)
    _checks.check_finite(x, "mlp_task: x")
    y, num_classes = _checks.check_labels(
        y, "mlp_task: y", x_shape[0], "x", num_classes=num_classes, min_classes=1
    )
    y = y.astype(jnp.int32)
    if activation not in _ACTIVATIONS:
        raise ValueError(
            f"mlp_task: activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}"
        )
    if batch_size < 1 or any(h < 1 for h in hidden):
        raise ValueError(f"mlp_task: batch_size {batch_size} and hidden {hidden} must be positive")
    return MLPTask(
        x=x,
        y=y,
        hidden=tuple(int(h) for h in hidden),
        activation=activation,
        batch_size=int(batch_size),
        num_classes=int(num_classes),
    )


def digits_mlp_task(
    *,
    hidden: Sequence[int] = (20,),
    activation: str = "sigmoid",
    batch_size: int = 128,
    split: str = "train",
) -> MLPTask:
    """An MLP on scikit-learn's 8x8 digits (pixels / 16), the small stand-in for MNIST.

    ``split`` ``"train"`` takes the first 1500 of the 1797 images, ``"test"`` the rest,
    ``"all"`` all of them. The paper's MNIST network is one hidden layer of 20 sigmoid units
    trained with minibatches of 128 (Andrychowicz et al., 2016, section 3.2).
    """
    # embedded with scikit-learn, no download
    load_digits = import_extra(
        "sklearn.datasets", "data", "jtransfer.lopt.digits_mlp_task"
    ).load_digits

    data = load_digits()
    x, y = data.data.astype(np.float32) / 16.0, data.target.astype(np.int32)
    parts = {"train": slice(0, 1500), "test": slice(1500, None), "all": slice(None)}
    if split not in parts:
        raise ValueError(f"digits_mlp_task: split must be one of {sorted(parts)}, got {split!r}")
    return mlp_task(
        x[parts[split]],
        y[parts[split]],
        hidden=hidden,
        activation=activation,
        batch_size=batch_size,
        num_classes=10,
    )

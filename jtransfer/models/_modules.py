"""Flax NNX models used across jtransfer's experiments."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from jtransfer._core.checks import check_positive_int

_ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "gelu": jax.nn.gelu,
    "elu": jax.nn.elu,
    "identity": lambda x: x,
}


def _activation(name: str) -> Callable[[jax.Array], jax.Array]:
    if name not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {name!r}")
    return _ACTIVATIONS[name]


def _check_input(module_name: str, x: jax.Array, expected_tail: tuple[int | None, ...]) -> None:
    """Raises ValueError if ``x`` does not end with ``expected_tail`` (None = any size)."""
    tail_ok = x.ndim >= len(expected_tail) + 1 and all(
        e is None or s == e for s, e in zip(x.shape[x.ndim - len(expected_tail) :], expected_tail)
    )
    if not tail_ok:
        want = "(batch, " + ", ".join("?" if e is None else str(e) for e in expected_tail) + ")"
        raise ValueError(f"{module_name}: input x must have shape {want}, got {tuple(x.shape)}")


class MLP(nnx.Module):
    """Multi-layer perceptron ``in_features -> *hidden -> out_features``.

    The last layer is linear (no activation). ``hidden=()`` gives a linear model, e.g.
    logistic regression when trained with a sigmoid/softmax cross-entropy.
    """

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int],
        out_features: int,
        *,
        activation: str = "relu",
        rngs: nnx.Rngs,
    ):
        check_positive_int(in_features, "in_features")
        check_positive_int(out_features, "out_features")
        if isinstance(hidden, str) or not isinstance(hidden, Sequence):
            raise ValueError(
                f"hidden must be a sequence of layer widths, e.g. ({hidden!r},) for "
                f"one hidden layer or () for none, got {hidden!r}"
            )
        for i, h in enumerate(hidden):
            check_positive_int(h, f"hidden[{i}]")
        self.in_features = in_features
        self.activation = activation
        self._act = _activation(activation)
        sizes = [in_features, *hidden, out_features]
        self.layers = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(sizes[:-1], sizes[1:])])

    def features(self, x: jax.Array) -> jax.Array:
        """The last hidden representation (the input itself when there are no hidden layers)."""
        _check_input("MLP", x, (self.in_features,))
        for layer in self.layers[:-1]:
            x = self._act(layer(x))
        return x

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.layers[-1](self.features(x))


class ConvBlock(nnx.Module):
    """3×3 conv (``same`` padding) → BatchNorm → ReLU → 2×2 max-pool."""

    def __init__(self, in_channels: int, out_channels: int, *, rngs: nnx.Rngs):
        self.conv = nnx.Conv(
            in_channels, out_channels, kernel_size=(3, 3), padding="SAME", rngs=rngs
        )
        self.norm = nnx.BatchNorm(out_channels, momentum=0.9, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = jax.nn.relu(self.norm(self.conv(x)))
        return nnx.max_pool(x, window_shape=(2, 2), strides=(2, 2), padding="VALID")


class Conv4(nnx.Module):
    """The MAML / Prototypical-networks Conv4 backbone with a linear head.

    Four blocks of [3×3 conv with ``hidden`` filters, BatchNorm, ReLU, 2×2 max-pool]
    followed by a linear classifier on the flattened features (Finn et al. 2017,
    https://arxiv.org/abs/1703.03400, §5.2; Vinyals et al. 2016). Input is NHWC; for 28×28
    Omniglot the feature map is 1×1×64.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        hidden: int = 64,
        image_size: int = 28,
        rngs: nnx.Rngs,
    ):
        check_positive_int(in_channels, "in_channels")
        check_positive_int(num_classes, "num_classes")
        check_positive_int(hidden, "hidden")
        check_positive_int(image_size, "image_size")
        self.in_channels = in_channels
        self.image_size = image_size
        chans = [in_channels, hidden, hidden, hidden, hidden]
        self.blocks = nnx.List([ConvBlock(a, b, rngs=rngs) for a, b in zip(chans[:-1], chans[1:])])
        side = image_size
        for _ in range(4):
            side //= 2
        if side < 1:
            raise ValueError(f"image_size={image_size} is too small for 4 max-pools (need >= 16)")
        self.head = nnx.Linear(hidden * side * side, num_classes, rngs=rngs)

    def features(self, x: jax.Array) -> jax.Array:
        _check_input("Conv4", x, (self.image_size, self.image_size, self.in_channels))
        for block in self.blocks:
            x = block(x)
        return x.reshape(x.shape[0], -1)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.head(self.features(x))


class LeNet(nnx.Module):
    """LeNet-style CNN for digits (as in DANN's MNIST→MNIST-M model, Ganin et al. 2016).

    conv5×5(32) → ReLU → max-pool 2 → conv5×5(48) → ReLU → max-pool 2 → FC 100 → ReLU →
    FC 100 → ReLU → FC ``num_classes``. Input NHWC with side ``image_size`` (16, 28 or 32).
    """

    def __init__(self, in_channels: int, num_classes: int, *, image_size: int = 28, rngs: nnx.Rngs):
        check_positive_int(in_channels, "in_channels")
        check_positive_int(num_classes, "num_classes")
        if image_size < 12:
            raise ValueError(f"image_size must be >= 12 for LeNet, got {image_size}")
        self.in_channels = in_channels
        self.image_size = image_size
        self.conv1 = nnx.Conv(in_channels, 32, kernel_size=(5, 5), padding="SAME", rngs=rngs)
        self.conv2 = nnx.Conv(32, 48, kernel_size=(5, 5), padding="SAME", rngs=rngs)
        side = image_size // 2 // 2
        self.fc1 = nnx.Linear(48 * side * side, 100, rngs=rngs)
        self.fc2 = nnx.Linear(100, 100, rngs=rngs)
        self.head = nnx.Linear(100, num_classes, rngs=rngs)

    def features(self, x: jax.Array) -> jax.Array:
        _check_input("LeNet", x, (self.image_size, self.image_size, self.in_channels))
        pool = lambda h: nnx.max_pool(h, window_shape=(2, 2), strides=(2, 2), padding="VALID")
        x = pool(jax.nn.relu(self.conv1(x)))
        x = pool(jax.nn.relu(self.conv2(x)))
        x = x.reshape(x.shape[0], -1)
        return jax.nn.relu(self.fc2(jax.nn.relu(self.fc1(x))))

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.head(self.features(x))


class DomainDiscriminator(nnx.Module):
    """Domain classifier on features: MLP with one logit (source = 0, target = 1).

    The DANN discriminator (Ganin et al. 2016, https://arxiv.org/abs/1505.07818): hidden
    ReLU layers, one output logit for a binary cross-entropy. Put
    ``jtransfer.align.gradient_reversal`` in front of it for adversarial training.
    """

    def __init__(self, in_features: int, hidden: Sequence[int] = (100,), *, rngs: nnx.Rngs):
        self.net = MLP(in_features, hidden, 1, activation="relu", rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.net(x)[..., 0]

"""scikit-learn's 8x8 digits with configurable domain shifts (rotation, inversion, noise,
blur, scale). The images ship with scikit-learn, so no files or network are needed."""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy import ndimage as jndimage

from jtransfer._core.extras import import_extra
from jtransfer._core.keys import default_key

__all__ = ["DigitShift", "apply_shift", "digits"]


class DigitShift(NamedTuple):
    """A domain shift applied to images, in this order: scale, rotation, blur, inversion,
    additive noise. The default (all fields at their defaults) is the identity.

    Attributes:
      rotation: counter-clockwise rotation in degrees about the image centre (bilinear,
        zero outside; multiples of 90 are exact).
      invert: replace intensity ``v`` by ``1 - v`` (images are in [0, 1]).
      noise: standard deviation of additive Gaussian noise (not clipped); needs a key.
      blur: standard deviation in pixels of a Gaussian blur (zero padding, kernel radius
        ``int(4 * blur + 0.5)``, as ``scipy.ndimage.gaussian_filter`` with mode "constant").
      scale: zoom factor about the centre (> 1 enlarges; bilinear, zero outside).
    """

    rotation: float = 0.0
    invert: bool = False
    noise: float = 0.0
    blur: float = 0.0
    scale: float = 1.0


def _check_shift(shift: DigitShift) -> None:
    if not isinstance(shift, DigitShift):
        raise ValueError(f"shift must be a DigitShift; got {type(shift).__name__}")
    for name in ("rotation", "noise", "blur", "scale"):
        if not math.isfinite(float(getattr(shift, name))):
            raise ValueError(f"shift.{name} must be finite; got {getattr(shift, name)!r}")
    if shift.noise < 0:
        raise ValueError(f"shift.noise must be >= 0; got {shift.noise}")
    if shift.blur < 0:
        raise ValueError(f"shift.blur must be >= 0; got {shift.blur}")
    if shift.scale <= 0:
        raise ValueError(f"shift.scale must be > 0; got {shift.scale}")


def _affine_sample(images: jax.Array, matrix: np.ndarray) -> jax.Array:
    """Output pixel p reads input pixel ``c + matrix @ (p - c)`` (bilinear, zero outside)."""
    h, w = images.shape[-2:]
    c = np.array([(h - 1) / 2.0, (w - 1) / 2.0])
    rows, cols = np.meshgrid(
        np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij"
    )
    p = np.stack([rows.ravel(), cols.ravel()]) - c[:, None]
    src = (matrix @ p + c[:, None]).astype(np.float32)
    coords = [jnp.asarray(src[0].reshape(h, w)), jnp.asarray(src[1].reshape(h, w))]
    flat = images.reshape((-1, h, w))
    out = jax.vmap(lambda im: jndimage.map_coordinates(im, coords, order=1, mode="constant"))(flat)
    return out.reshape(images.shape)


def _rotate(images: jax.Array, degrees: float) -> jax.Array:
    quarter = degrees / 90.0
    if quarter == round(quarter):
        return jnp.rot90(images, k=int(round(quarter)) % 4, axes=(-2, -1))
    t = np.deg2rad(degrees)
    # (row, col) with rows pointing down: a counter-clockwise turn of the picture by t reads
    # the input at the clockwise-rotated position.
    inverse = np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])
    return _affine_sample(images, inverse)


def _blur_matrix(n: int, kernel: np.ndarray) -> np.ndarray:
    """(n, n) matrix of a 'same'-size 1-D convolution with zero padding."""
    radius = len(kernel) // 2
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    d = j - i + radius
    return np.where((d >= 0) & (d < len(kernel)), kernel[np.clip(d, 0, len(kernel) - 1)], 0.0)


def _gaussian_blur(images: jax.Array, sigma: float) -> jax.Array:
    radius = int(4.0 * sigma + 0.5)
    if radius == 0:
        return images
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (t / sigma) ** 2)
    kernel /= kernel.sum()
    h, w = images.shape[-2:]
    bh = jnp.asarray(_blur_matrix(h, kernel), images.dtype)
    bw = jnp.asarray(_blur_matrix(w, kernel), images.dtype)
    return jnp.einsum("ij,...jk,lk->...il", bh, images, bw)


def apply_shift(images: jax.Array, shift: DigitShift, *, key: jax.Array | None = None) -> jax.Array:
    r"""Applies a :class:`DigitShift` to a batch of single-channel images.

    With ``T_s`` the scaling, ``R_\alpha`` the rotation, ``G_\sigma`` the blur:

    .. math::
        x' = \mathrm{inv}(G_\sigma * (R_\alpha \circ T_s)(x)) + \eta\,\varepsilon,
        \qquad \varepsilon \sim \mathcal N(0, I).

    Args:
      images: array ``(..., H, W)`` with values in [0, 1].
      shift: the shift configuration.
      key: a ``jax.random`` key for the noise (``None``: ``jax.random.key(0)``).

    Returns:
      float32 array with the shape of ``images``.
    """
    _check_shift(shift)
    images = jnp.asarray(images, jnp.float32)
    if images.ndim < 2:
        raise ValueError(f"images must have shape (..., H, W); got {images.shape}")
    if shift.scale != 1.0:
        images = _affine_sample(images, np.eye(2) / shift.scale)
    if shift.rotation != 0.0:
        images = _rotate(images, float(shift.rotation))
    if shift.blur > 0.0:
        images = _gaussian_blur(images, float(shift.blur))
    if shift.invert:
        images = 1.0 - images
    if shift.noise > 0.0:
        noise = jax.random.normal(default_key(key), images.shape, images.dtype)
        images = images + shift.noise * noise
    return images


def digits(
    shift: DigitShift | None = None, *, key: jax.Array | None = None, **shift_kwargs
) -> dict[str, np.ndarray]:
    """scikit-learn's handwritten digits (1797 images, 8x8, 10 classes), optionally shifted.

    Intensities are ``sklearn``'s 0..16 counts divided by 16, so in [0, 1].
    Pass a :class:`DigitShift` or its fields as keywords, e.g. ``digits(rotation=30)``.

    Args:
      shift: a :class:`DigitShift`; ``None`` with no keywords gives the original images.
      key: a ``jax.random`` key for the noise (``None`` means ``jax.random.key(0)``).
      **shift_kwargs: fields of :class:`DigitShift` (not together with ``shift``).

    Returns:
      dict with ``x`` (1797, 8, 8) float32 and ``y`` (1797,) int32 in 0..9.

    References:
      UCI "Optical Recognition of Handwritten Digits" (Alpaydin & Kaynak 1998), as
      bundled by scikit-learn (``sklearn.datasets.load_digits``).
    """
    load_digits = import_extra("sklearn.datasets", "data", "jtransfer.data.digits").load_digits

    if shift is not None and shift_kwargs:
        raise ValueError("digits: pass either shift or its fields as keywords, not both")
    if shift is None:
        try:
            shift = DigitShift(**shift_kwargs)
        except TypeError as e:
            raise ValueError(f"digits: unknown shift field in {sorted(shift_kwargs)}") from e
    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)
    if shift != DigitShift():
        x = np.asarray(apply_shift(x, shift, key=key))
    return {"x": x, "y": bunch.target.astype(np.int32)}

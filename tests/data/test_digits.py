"""Domain-shift configs on scikit-learn digits, checked against NumPy and SciPy."""

import jax
import numpy as np
import pytest
import scipy.ndimage as ndi
from sklearn.datasets import load_digits

from jtransfer import data
from jtransfer.data import DigitShift, apply_shift
from jtransfer.data._digits import _affine_sample


@pytest.fixture(scope="module")
def images():
    return (load_digits().images[:64] / 16.0).astype(np.float32)


def test_original_digits():
    d = data.digits()
    ref = load_digits()
    assert d["x"].shape == (1797, 8, 8) and d["y"].shape == (1797,)
    np.testing.assert_allclose(d["x"], ref.images / 16.0, rtol=1e-6)
    np.testing.assert_array_equal(d["y"], ref.target)
    assert sorted(np.unique(d["y"])) == list(range(10))


def test_rotating_by_90_four_times_gives_the_original(images):
    x = images
    for _ in range(4):
        x = np.asarray(apply_shift(x, DigitShift(rotation=90)))
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(
        apply_shift(images, DigitShift(rotation=90)), np.rot90(images, 1, axes=(1, 2))
    )


@pytest.mark.parametrize("angle", [30.0, -45.0, 90.0])
def test_rotation_matches_scipy(images, angle):
    ref = np.stack(
        [
            ndi.rotate(im.astype(np.float64), angle, reshape=False, order=1, mode="grid-constant")
            for im in images
        ]
    )
    if angle == 90.0:  # exercise the general interpolation path, not the exact rot90 one
        t = np.deg2rad(angle)
        got = _affine_sample(images, np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]]))
    else:
        got = apply_shift(images, DigitShift(rotation=angle))
    np.testing.assert_allclose(got, ref, atol=1e-5)


@pytest.mark.parametrize("scale", [0.7, 1.5])
def test_scale_matches_scipy(images, scale):
    c = np.array([3.5, 3.5])
    ref = np.stack(
        [
            ndi.affine_transform(
                im.astype(np.float64),
                np.eye(2) / scale,
                offset=c - c / scale,
                order=1,
                mode="grid-constant",
            )
            for im in images
        ]
    )
    np.testing.assert_allclose(apply_shift(images, DigitShift(scale=scale)), ref, atol=1e-5)


@pytest.mark.parametrize("sigma", [0.5, 1.0])
def test_blur_matches_scipy(images, sigma):
    ref = np.stack(
        [ndi.gaussian_filter(im.astype(np.float64), sigma, mode="constant") for im in images]
    )
    np.testing.assert_allclose(apply_shift(images, DigitShift(blur=sigma)), ref, atol=1e-5)


def test_invert_and_noise(images):
    inv = np.asarray(apply_shift(images, DigitShift(invert=True)))
    np.testing.assert_allclose(inv, 1.0 - images)
    k = jax.random.key(2)
    noisy = np.asarray(apply_shift(images, DigitShift(noise=0.3), key=k))
    np.testing.assert_array_equal(noisy, apply_shift(images, DigitShift(noise=0.3), key=k))
    resid = noisy - images
    assert abs(resid.std() - 0.3) < 0.03 and abs(resid.mean()) < 0.03
    default = apply_shift(images, DigitShift(noise=0.3))  # key=None: jax.random.key(0)
    np.testing.assert_array_equal(
        default, apply_shift(images, DigitShift(noise=0.3), key=jax.random.key(0))
    )


def test_digits_keywords_and_validation():
    d = data.digits(rotation=180, invert=True)
    ref = 1.0 - np.rot90(load_digits().images / 16.0, 2, axes=(1, 2))
    np.testing.assert_allclose(d["x"], ref, atol=1e-6)
    with pytest.raises(ValueError, match="scale"):
        data.digits(scale=0.0)
    with pytest.raises(ValueError, match="blur"):
        data.digits(blur=-1.0)
    with pytest.raises(ValueError, match="unknown"):
        data.digits(rotate=3)

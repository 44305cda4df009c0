"""jtransfer.data: embedded datasets, domain-shift generators, task samplers and TFDS builders.

Generated data (no files): :func:`sample_sinusoid_tasks`, :func:`sample_quadratics`,
:func:`two_moons`, :func:`sample_bias_regression`, :func:`digits` with :class:`DigitShift`.
Few-shot episodes: :func:`sample_episodes` and :func:`episode_sampler`.
"""

from jtransfer.data._digits import DigitShift, apply_shift, digits
from jtransfer.data._episodes import ClassIndex, class_index, episode_sampler, sample_episodes
from jtransfer.data._synthetic import (
    SinusoidInfo,
    bias_regression_function,
    sample_bias_regression,
    sample_quadratics,
    sample_sinusoid_tasks,
    two_moons,
)

__all__ = [
    "ClassIndex",
    "DigitShift",
    "SinusoidInfo",
    "apply_shift",
    "bias_regression_function",
    "class_index",
    "digits",
    "episode_sampler",
    "sample_bias_regression",
    "sample_episodes",
    "sample_quadratics",
    "sample_sinusoid_tasks",
    "two_moons",
]

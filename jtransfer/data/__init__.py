"""jtransfer.data: embedded datasets, domain-shift generators, task samplers and TFDS builders.

Generated data (no files): :func:`sample_sinusoid_tasks`, :func:`sample_quadratics`,
:func:`two_moons`, :func:`sample_bias_regression`, :func:`digits` with :class:`DigitShift`.
Benchmarks (TFDS builders over the manual-download folder): :func:`load`, :func:`build`,
including the text benchmarks ``amazon_text`` (Blitzer reviews) and ``fdu_mtl``;
:func:`text_overlap` measures exact duplicates between text collections.
Any other TFDS dataset (a builder of your own included): :func:`load_tfds`.
Few-shot episodes: :func:`sample_episodes`, :func:`episode_sampler`, and Omniglot with the
MAML protocol, :func:`omniglot_few_shot` (TFDS) and :func:`omniglot_arrays` (the arrays of
``experiments/maml_omniglot``), :func:`add_rotations`.
"""

from jtransfer.data._digits import DigitShift, apply_shift, digits
from jtransfer.data._episodes import (
    ClassIndex,
    EpisodeSampler,
    class_index,
    episode_sampler,
    sample_episodes,
)
from jtransfer.data._load import DATASETS, build, default_data_dir, load
from jtransfer.data._omniglot import add_rotations, omniglot_arrays, omniglot_few_shot
from jtransfer.data._sources import (
    AMAZON_DOMAINS,
    AMAZON_TEXT_DOMAINS,
    FDU_MTL_DOMAINS,
    JDA_DOMAINS,
    OFFICE_CLASSES,
    OFFICE_DOMAINS,
    OMNIGLOT_SPLITS,
    SOURCES,
    DataFileError,
    default_manual_dir,
    resolve_files,
)
from jtransfer.data._synthetic import (
    SinusoidInfo,
    bias_regression_function,
    sample_bias_regression,
    sample_quadratics,
    sample_sinusoid_tasks,
    two_moons,
)
from jtransfer.data._text import (
    AMAZON_TEXT_SPLIT_SIZES,
    AMAZON_TEXT_SPLITS,
    FDU_MTL_SPLITS,
    FDU_MTL_VALIDATION_SIZE,
    TEXT_SPLIT_SEED,
    TextOverlap,
    normalize_text,
    text_overlap,
)
from jtransfer.data._tfds import load_tfds

__all__ = [
    "AMAZON_DOMAINS",
    "AMAZON_TEXT_DOMAINS",
    "AMAZON_TEXT_SPLITS",
    "AMAZON_TEXT_SPLIT_SIZES",
    "FDU_MTL_DOMAINS",
    "FDU_MTL_SPLITS",
    "FDU_MTL_VALIDATION_SIZE",
    "TEXT_SPLIT_SEED",
    "TextOverlap",
    "normalize_text",
    "text_overlap",
    "DATASETS",
    "JDA_DOMAINS",
    "OFFICE_CLASSES",
    "OFFICE_DOMAINS",
    "OMNIGLOT_SPLITS",
    "SOURCES",
    "DataFileError",
    "build",
    "default_data_dir",
    "default_manual_dir",
    "load",
    "load_tfds",
    "omniglot_few_shot",
    "omniglot_arrays",
    "add_rotations",
    "resolve_files",
    "ClassIndex",
    "DigitShift",
    "EpisodeSampler",
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

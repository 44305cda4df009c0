"""Session fixtures: one temporary TFDS data dir, each dataset built once per session."""

import pytest

from jtransfer import data
from tests.conftest import manual_dir_or_skip


@pytest.fixture(scope="session")
def data_dir(tfds_data_dir):
    return tfds_data_dir


@pytest.fixture(scope="session")
def loaded(data_dir):
    """``load(name, **kwargs)`` memoised for the session."""
    cache = {}

    def get(name, **kwargs):
        key = (name, tuple(sorted(kwargs.items())))
        if key not in cache:
            manual = manual_dir_or_skip(data.SOURCES[name].folder)
            cache[key] = data.load(name, manual_dir=manual, data_dir=data_dir, **kwargs)
        return cache[key]

    return get

"""data: bad inputs in one table (#17 items 6 and 8); no download, no data files needed."""

import jax
import numpy as np
import pytest

from jtransfer import data
from tests.bad_inputs import Case, check_case, ids

X = np.zeros((6, 2), np.float32)
Y = np.array([0, 0, 1, 1, 2, 2])

CASES = [
    Case(
        "load: domain=[]",
        lambda: data.load("amazon_text", domain=[]),
        (),
        "domain must name at least one",
        "static",
    ),
    Case(
        "load: split=[]",
        lambda: data.load("amazon_text", split=[]),
        (),
        "split must name at least one",
        "static",
    ),
    Case(
        "load: unknown dataset",
        lambda: data.load("imagenet_sketch"),
        (),
        "unknown dataset",
        "static",
    ),
    Case(
        "load: unknown domain",
        lambda: data.load("amazon_text", domain="toys"),
        (),
        "domain",
        "static",
    ),
    Case("two_moons: noise -1", lambda: data.two_moons(noise=-1.0), (), "noise", "static"),
    Case("two_moons: n_samples 0", lambda: data.two_moons(n_samples=0), (), "n_samples", "static"),
    Case(
        "sample_episodes: num_ways > classes",
        lambda: data.sample_episodes(
            X, Y, num_ways=4, num_shots=1, num_queries=1, num_episodes=1, key=jax.random.key(0)
        ),
        (),
        "num_ways",
        "static",
    ),
    Case(
        "sample_episodes: num_shots 0",
        lambda: data.sample_episodes(
            X, Y, num_ways=2, num_shots=0, num_queries=1, num_episodes=1, key=jax.random.key(0)
        ),
        (),
        "num_shots",
        "static",
    ),
    Case(
        "episode_sampler: x and y lengths differ",
        lambda: data.episode_sampler(X[:5], Y, num_ways=2, num_shots=1, num_queries=1),
        (),
        "x and y",
        "static",
    ),
    Case(
        "episode_sampler: float labels",
        lambda: data.episode_sampler(X, Y + 0.5, num_ways=2, num_shots=1, num_queries=1),
        (),
        "y must hold integer labels",
        "static",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_bad_input(case):
    check_case(case)

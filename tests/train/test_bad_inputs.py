"""train: bad inputs in one table (#17 items 7-8), incl. a --config file that does not exist."""

import sys

import pytest

from jtransfer import train
from tests.bad_inputs import Case, check_case, ids


def _experiment_main_with(argv):
    def run():
        old = sys.argv
        sys.argv = ["main.py", *argv]
        try:
            train.experiment_main("two_moons", lambda config, workdir: {})
        finally:
            sys.argv = old

    return run


CASES = [
    Case(
        "experiment_main: --config=missing.py",
        _experiment_main_with(["--config=experiments/two_moons/configs/missing.py"]),
        (),
        "--config file 'experiments/two_moons/configs/missing.py' does not exist",
        "static",
        SystemExit,
    ),
    Case(
        "experiment_main: --config missing.py:arg",
        _experiment_main_with(["--config", "nowhere/cfg.py:small"]),
        (),
        "--config file 'nowhere/cfg.py' does not exist",
        "static",
        SystemExit,
    ),
    Case("keys: a string seed", lambda: train.keys("0"), (), "seed", "static"),
    Case("keys: repeated names", lambda: train.keys(0, "a", "a"), (), "a", "static"),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_bad_input(case):
    check_case(case)

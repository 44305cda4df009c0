"""Quick-suite config: the full ADAPT protocol is already small (2400 steps)."""

from experiments.two_moons.configs import default


def get_config():
    return default.get_config()

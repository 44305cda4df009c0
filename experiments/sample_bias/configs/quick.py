"""Quick suite: the protocol is already small; same as the default."""

from experiments.sample_bias.configs import default


def get_config():
    return default.get_config()

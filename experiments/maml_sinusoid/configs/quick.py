"""Quick-suite config: the paper protocol with 4 000 instead of 70 000 meta-iterations."""

from experiments.maml_sinusoid.configs import default


def get_config():
    c = default.get_config()
    c.num_iterations = 4_000
    c.save_every = 2_000
    return c

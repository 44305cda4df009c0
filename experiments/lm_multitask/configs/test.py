"""Tiny lm_multitask config for the tests: random 2-layer encoder, synthetic texts, seconds."""

from experiments.lm_multitask.configs import default


def get_config():
    c = default.get_config()
    c.domains = ("books", "dvd", "mr")
    c.encoder = "tiny_random"
    c.layers = (0, 2)
    c.layer = -1  # exercise the validation probe
    c.max_length = 16
    c.batch_size = 8
    c.forward_chunk = 0
    c.cache_dir = ""
    c.rank = 4
    c.batch_per_domain = 4
    c.num_steps = 4
    c.eval_every = 2
    c.soft_grid = (1.0, 10.0)
    c.seeds = (0,)
    c.train_block = 8
    c.speed_repeats = 2
    c.probe_small_train = 6
    c.plot = False
    return c

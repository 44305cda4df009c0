"""Tiny lm_fewshot config for the tests: random 2-layer encoder, synthetic texts, seconds."""

from experiments.lm_fewshot.configs import default


def get_config():
    c = default.get_config()
    c.meta_test = ("books", "dvd")
    c.meta_train = ("mr", "imdb")
    c.encoder = "tiny_random"
    c.layers = (0, 2)
    c.layer = 1
    c.max_length = 16
    c.batch_size = 8
    c.forward_chunk = 0
    c.cache_dir = ""
    c.train_block = 8
    c.rank = 4
    c.shots = (2,)
    c.num_queries = 3
    c.meta_steps = 2
    c.episodes_per_domain = 1
    c.inner_steps = 2
    c.test_steps = 2
    c.mt_steps = 2
    c.mt_batch = 4
    c.num_test_episodes = 4
    return c

"""lm_fewshot on FDU-MTL, CPU configuration (README: protocol).

Same cached MiniLM features as ``lm_multitask`` (``experiments/_fdu_features.py``: the cache
is shared when encoder, layers, max_length and train lines agree).

Run: ``python -m experiments.lm_fewshot.main --workdir runs/lm_fewshot``
"""

import os

import ml_collections

from jtransfer import data

META_TEST = ("books", "dvd", "electronics", "kitchen_housewares")


def get_config():
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.meta_test = META_TEST
    c.meta_train = tuple(d for d in data.FDU_MTL_DOMAINS if d not in META_TEST)
    c.max_per_split = 0
    # features (must match lm_multitask's to share its cache)
    c.encoder = "minilm"
    c.layers = (0, 1, 2, 3, 4, 5, 6)
    c.max_length = 32
    c.max_train_per_domain = 0  # as lm_multitask (shares its cache)
    c.train_block = 200
    c.batch_size = 64
    c.forward_chunk = 16
    c.cache_dir = os.path.join(os.path.expanduser("~"), ".cache", "jtransfer", "features")
    c.layer = -1  # position in layers; -1: chosen by probes on the meta-training domains
    # learner and episodes
    c.rank = 16
    c.shots = (1, 5, 10)
    c.num_queries = 15
    c.methods = (
        "maml",
        "fomaml",
        "anil",
        "reptile",
        "metasgd",
        "ft_multitask",
        "ft_scratch",
        "prototype",
    )
    c.meta_steps = 300
    c.episodes_per_domain = 2  # meta-batch = 2 x 12 domains
    c.mesh_shape = (1,)  # devices for the meta-batch axis ((-1,): all; must divide it)
    c.meta_lr = 1e-3
    c.inner_lr = 0.1
    c.inner_steps = 1  # meta-training inner steps (5 compile for minutes each on this CPU)
    c.test_steps = 10
    c.metasgd_steps = 1
    c.reptile_step = 0.1
    c.mt_steps = 800  # hard-sharing pre-training of ft_multitask
    c.mt_batch = 32
    c.num_test_episodes = 600
    return c

"""lm_multitask on FDU-MTL, CPU configuration (README: protocol).

Frozen all-MiniLM-L6-v2; pooled features of every hidden state cached once
(``experiments/_fdu_features.py``); a residual bottleneck adapter per domain or shared
(``experiments/_fdu_adapter.py``) on the cached features of ``layer``. ``configs/gpu.py``
describes the LoRA-on-the-body version.

Run: ``python -m experiments.lm_multitask.main --workdir runs/lm_multitask``
"""

import os

import ml_collections

from experiments.lm_multitask.train import METHODS
from jtransfer import data


def get_config():
    c = ml_collections.ConfigDict()
    # data
    c.domains = tuple(data.FDU_MTL_DOMAINS)
    c.max_per_split = 0  # 0: every line (tiny configs cut each split-class cell)
    # encoder and features (one pass, cached; see experiments/_fdu_features.py)
    c.encoder = "minilm"
    c.layers = (0, 1, 2, 3, 4, 5, 6)
    c.max_length = 32  # tokens (CPU budget: see the README)
    c.max_train_per_domain = 0  # 0: every train line; else the first of a fixed permutation
    c.train_block = 200  # train lines per cache unit (see features.load_features)
    c.batch_size = 64  # encoder batch
    c.forward_chunk = 16
    c.cache_dir = os.path.join(os.path.expanduser("~"), ".cache", "jtransfer", "features")
    # adapters and training
    c.layer = -1  # position in layers the adapters read; -1: chosen by validation probes
    c.rank = 32  # adapter bottleneck
    c.batch_per_domain = 32
    c.learning_rate = 1e-3
    c.num_steps = 800
    c.eval_every = 50
    c.mesh_shape = (1,)  # devices for the domain axis ((-1,): all; must divide the domains)
    c.methods = METHODS  # every method, in train.METHODS' order
    c.soft_grid = (1.0, 10.0, 100.0, 1000.0)  # strength lambda (per-example scale)
    c.fisher_batch = 8  # rows per domain for the curvature of soft_learned
    c.soft_init_log_sigma = -1.15  # 1 / sigma^2 = 10 at the start
    c.adv_weight = 0.05  # ASP-MTL's lambda
    c.orth_weight = 0.01  # ASP-MTL's gamma
    c.disc_hidden = 64
    c.private_init = 0.01  # std of the private adapters' up-projection at the start
    c.cagrad_c = 0.4
    c.seeds = (0, 1, 2)
    # detector and speed
    c.probe_small_train = 200  # README gaps: a probe on this many train lines vs all
    c.detector_confidence = 0.95
    c.speed_repeats = 20
    c.plot = True
    c.results_file = ""
    return c

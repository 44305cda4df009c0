"""Tiny config for the end-to-end test: a 2-layer random BERT over a toy tokenizer, 2 domains
(2 shifts), 8 reviews per split and class, a 16-line pool, 1 seed, a few steps."""

from experiments.lm_domain_shift.configs import default


def get_config():
    c = default.get_config()
    c.domains = ("books", "kitchen")
    c.max_per_domain = 8
    c.pool_size = 16
    c.encoder = "tiny_random"
    c.layers = (0, 1, 2)
    c.layer = 2
    c.max_length = 16
    c.batch_size = 8
    c.forward_chunk = 0
    c.cache_dir = ""
    c.seeds = (0,)
    c.lam_grid = (0.3,)
    c.weight_pca = 4
    c.kmm_iters = 200
    c.kliep_iters = 50
    c.linear.num_steps = c.linear.eval_every = c.linear.save_every = 20
    c.mlp.num_steps = c.mlp.eval_every = c.mlp.save_every = 20
    c.mlp.hidden = c.mlp.disc_hidden = (8,)
    c.linear.batch_size = c.mlp.batch_size = 8
    return c

"""Tiny adapted-encoder config for the end-to-end test: the 2-layer random BERT of
``test.py``, LoRA on its top block, 1 shift, 1 seed, a few steps."""

from experiments.lm_domain_shift.configs import lora_cpu, test


def get_config():
    c = test.get_config()
    c.adapt = lora_cpu.get_config().adapt
    c.adapt.max_length = 16
    c.adapt.cache_batch = 8
    c.adapt.cache_domains = ()
    c.adapt.lora_rank = 2
    c.adapt.lora_alpha = 4.0
    c.adapt.batch_size = 4
    c.adapt.num_steps = 4
    c.adapt.eval_every = 2
    c.adapt.eval_batch = 8
    c.adapt.disc_hidden = (4,)
    c.adapt.shifts = ("B->K",)
    c.adapt.seeds = (0,)
    return c

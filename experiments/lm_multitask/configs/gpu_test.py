"""Tiny LoRA-in-the-body config for the tests: random 2-layer encoder, synthetic texts."""

from experiments.lm_multitask.configs import gpu, test


def get_config():
    c = gpu.get_config()
    t = test.get_config()
    for k in ("domains", "encoder", "max_length", "batch_per_domain", "soft_grid", "seeds"):
        c[k] = t[k]
    c.lora.rank = 2
    c.lora.learning_rate = 1e-2
    # stacked, soft-penalty and shared + aggregator paths (soft_learned compiles per-example
    # gradients through the body: minutes on a loaded CPU, left out of the test)
    c.methods = ("single_task", "soft_val", "pcgrad")
    c.soft_grid = (10.0,)
    c.fisher_batch = 2
    c.num_steps = 4
    c.eval_every = 2
    c.eval_batch = 4
    return c

"""Adapted encoder on one GPU (issue #18 item 3): LoRA on all 6 blocks of MiniLM.

``python -m experiments.lm_domain_shift.lora --config experiments/lm_domain_shift/configs/
lora_gpu.py --workdir DIR``: the runner of ``lora.py`` with ``top_layers=6`` (only the
embedding output is cached, every block is adapted), 128 word pieces, rank 8 (α 16) on the
query / key / value / attention-output / FFN kernels of every block, a logistic head on the
attention-mask mean of the last block; source-only and MMD / Deep CORAL / DANN on the pooled
states of a source and a target batch, (λ, stopping step) chosen by DEV on the source
validation reviews; all 12 shifts, 3 seeds. Not run in this repository (no GPU here): the
CPU configuration that was run is ``lora_cpu.py``.
"""

from experiments.lm_domain_shift.configs import lora_cpu


def get_config():
    c = lora_cpu.get_config()
    a = c.adapt
    a.top_layers = 6
    a.max_length = 128
    a.cache_batch = 256
    a.batch_size = 32
    a.learning_rate = 2e-4
    a.head_skip = False  # the embedding output would be the skip: head on the last block only
    a.num_steps = 1500
    a.eval_every = 250
    a.eval_last = True
    a.eval_batch = 500
    a.lam_grid = (0.1, 0.3, 1.0)
    a.disc_hidden = (256,)
    a.shifts = (
        "B->D", "B->E", "B->K", "D->B", "D->E", "D->K",
        "E->B", "E->D", "E->K", "K->B", "K->D", "K->E",
    )  # fmt: skip
    return c

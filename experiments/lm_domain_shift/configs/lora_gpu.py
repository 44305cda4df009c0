"""Adapted encoder (issue #18 item 3) -- NOT RUN, and its runner is not written yet.

The configuration intended for one GPU: LoRA (``jtransfer.adapters``) on the query/key/value/
output and FFN kernels of all 6 MiniLM layers, rank 8, α 16, a logistic head on the
mean-pooled last layer; the source-only run (hard sharing of the pretrained body) and the
same with MMD / Deep CORAL / DANN on the pooled states of a source and a target batch
(``align.mmd2_multi`` / ``coral_loss`` / ``domain_adversarial_loss``), λ on the grid of the
frozen runs chosen by DEV on the source validation rows, as in ``train.py``. The 4 shifts
with the largest source-only error of ``results/frozen.json`` first, 3 seeds, then all 12.

The CPU alternative the issue suggests (cached lower layers, adapters on the top layer only,
64 tokens) is ``cpu_top_layers`` below. Neither has a runner: see the README's "Not done".
"""

from experiments.lm_domain_shift.configs import default


def get_config():
    c = default.get_config()
    c.adapt = dict(
        lora_rank=8,
        lora_alpha=16.0,
        lora_targets=(
            "attention/query",
            "attention/key",
            "attention/value",
            "attention/output",
            "intermediate",
            "output",
        ),
        trainable_layers=(0, 1, 2, 3, 4, 5),  # all 6 on a GPU
        cpu_top_layers=(5,),  # CPU variant: cache layer-5 input, adapt layer 6
        max_length=128,
        batch_size=32,
        learning_rate=2e-4,
        num_steps=1500,
        methods=("source_only", "mmd", "coral", "dann"),
        shifts="largest_source_only_error:4",
        seeds=(0, 1, 2),
    )
    return c

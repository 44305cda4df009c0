"""LoRA in the body (the issue's GPU configuration): runner ``lora_body.py``, NOT RUN on a GPU.

For one GPU: the adapter of each domain is LoRA (``jtransfer.adapters.lora_init``: rank 8,
alpha 16, on the query / key / value / attention-output and FFN kernels of all 6 MiniLM
layers), the frozen body shared by the 16 stacked adapters through ``jax.vmap(...,
in_axes=(None, 0, ...))`` (not copied per domain), a logistic head per domain on the
mean-pooled last layer, 128 word pieces, every train line, 3 seeds. The methods are those of
``lora_body.METHODS`` (no shared-private variants).

Run: ``python -m experiments.lm_multitask.main --workdir runs/lm_multitask_gpu
--config experiments/lm_multitask/configs/gpu.py``
"""

from experiments.lm_multitask.configs import default


def get_config():
    c = default.get_config()
    c.max_length = 128
    c.max_train_per_domain = 0  # every train line
    c.adapter = "lora_body"
    c.lora = dict(
        rank=8,
        alpha=16.0,
        # paths of jtransfer.models.BertEncoder's params (adapters.path_str)
        targets=(
            "layers/*/query/kernel",
            "layers/*/key/kernel",
            "layers/*/value/kernel",
            "layers/*/attention_output/kernel",
            "layers/*/intermediate/kernel",
            "layers/*/output/kernel",
        ),
        layer=-1,  # hidden state the heads read (mean-pooled): the last block
        learning_rate=2e-4,
    )
    c.methods = (  # lora_body.METHODS
        "single_task",
        "hard",
        "soft_val",
        "soft_learned",
        "uncertainty",
        "pcgrad",
        "cagrad",
        "mgda",
        "imtl_g",
    )
    c.batch_per_domain = 16
    c.num_steps = 3000
    c.eval_every = 250
    c.eval_batch = 100  # validation / test rows per forward (divides 200 and 400)
    return c

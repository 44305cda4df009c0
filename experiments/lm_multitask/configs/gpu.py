"""LoRA on the body (the issue's GPU configuration) -- NOT RUN, no runner yet (README "Not done").

Intended for one GPU: the same methods as ``default.py``, with the adapter of each domain being
LoRA (``jtransfer.adapters.lora_init(..., num_adapters=16)``: rank 8, alpha 16, on the query /
key / value / output and FFN kernels of all 6 MiniLM layers), the frozen body shared by the 16
adapters through ``jax.vmap(..., in_axes=(None, 0))`` (``adapters.lora_stack``; the library's
test shows the body is not copied), a logistic head per domain on the mean-pooled last layer,
128 word pieces, every train line, 3 seeds. ``train.py`` implements only the CPU adapter on
cached features (``experiments/_fdu_adapter.py``); this file records the settings so that a GPU
runner can be added without re-deciding them.
"""

from experiments.lm_multitask.configs import default


def get_config():
    c = default.get_config()
    c.max_length = 128
    c.max_train_per_domain = 0  # every train line
    c.adapter = "lora_body"  # not implemented by train.py: see the module docstring
    c.lora = dict(
        rank=8,
        alpha=16.0,
        targets=(
            "attention/query",
            "attention/key",
            "attention/value",
            "attention/output",
            "intermediate",
            "output",
        ),
        learning_rate=2e-4,
    )
    c.batch_per_domain = 16
    c.num_steps = 3000
    c.eval_every = 250
    return c

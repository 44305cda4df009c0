"""Runs lm_multitask: ``python -m experiments.lm_multitask.main --workdir DIR``.

With ``--config experiments/lm_multitask/configs/gpu.py`` (``config.adapter ==
"lora_body"``) it runs the LoRA-in-the-body runner (``lora_body.py``) instead of the CPU
adapter on cached features.
"""

from experiments.lm_multitask import lora_body, train
from jtransfer.train import experiment_main


def train_and_evaluate(config, workdir: str) -> dict:
    """``lora_body.train_and_evaluate`` for ``config.adapter == "lora_body"``, else
    ``train.train_and_evaluate``."""
    if config.get("adapter") == "lora_body":
        return lora_body.train_and_evaluate(config, workdir)
    return train.train_and_evaluate(config, workdir)


if __name__ == "__main__":
    experiment_main("lm_multitask", train_and_evaluate)

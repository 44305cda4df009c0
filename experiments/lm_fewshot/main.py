"""Runs lm_fewshot: ``python -m experiments.lm_fewshot.main --workdir DIR``."""

from experiments.lm_fewshot import train
from jtransfer.train import experiment_main

if __name__ == "__main__":
    experiment_main("lm_fewshot", train.train_and_evaluate)

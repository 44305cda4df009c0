"""Runs lm_multitask: ``python -m experiments.lm_multitask.main --workdir DIR``."""

from experiments.lm_multitask import train
from jtransfer.train import experiment_main

if __name__ == "__main__":
    experiment_main("lm_multitask", train.train_and_evaluate)

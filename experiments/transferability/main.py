"""Runs a transferability study: ``python -m experiments.transferability.main --workdir DIR``."""

from experiments.transferability import train
from jtransfer.train import experiment_main

if __name__ == "__main__":
    experiment_main("transferability", train.train_and_evaluate)

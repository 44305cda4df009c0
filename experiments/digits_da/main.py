"""Runs the digits domain-shift experiment:
``python -m experiments.digits_da.main --workdir DIR``."""

from experiments.digits_da import train
from jtransfer.train import experiment_main

if __name__ == "__main__":
    experiment_main("digits_da", train.train_and_evaluate)

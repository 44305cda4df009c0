"""Runs the multi-digits experiment: ``python -m experiments.mtl_digits.main --workdir DIR``."""

from experiments.mtl_digits import train
from jtransfer.train import experiment_main

if __name__ == "__main__":
    experiment_main("mtl_digits", train.train_and_evaluate)

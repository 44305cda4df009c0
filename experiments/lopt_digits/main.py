"""Runs the digits experiment: ``python -m experiments.lopt_digits.main --workdir DIR``."""

from experiments.lopt_digits import train
from jtransfer.train import experiment_main

if __name__ == "__main__":
    experiment_main("lopt_digits", train.train_and_evaluate)

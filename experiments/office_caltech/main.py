"""Runs the Office-Caltech10 experiment:
``python -m experiments.office_caltech.main --workdir DIR``."""

from experiments.office_caltech import train
from jtransfer.train import experiment_main

if __name__ == "__main__":
    experiment_main("office_caltech", train.train_and_evaluate)

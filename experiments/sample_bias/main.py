"""Runs the sample-bias experiment: ``python -m experiments.sample_bias.main --workdir DIR``."""

from experiments.sample_bias import train
from jtransfer.train import experiment_main

if __name__ == "__main__":
    experiment_main("sample_bias", train.train_and_evaluate)

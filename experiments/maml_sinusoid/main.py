"""Runs the MAML sinusoid experiment: ``python -m experiments.maml_sinusoid.main --workdir DIR``."""

from experiments.maml_sinusoid import train
from jtransfer.train import experiment_main

if __name__ == "__main__":
    experiment_main("maml_sinusoid", train.train_and_evaluate)

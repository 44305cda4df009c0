"""Runs the two-moons experiment: ``python -m experiments.two_moons.main --workdir DIR``."""

from experiments.two_moons import train
from jtransfer.train import experiment_main

if __name__ == "__main__":
    experiment_main("two_moons", train.train_and_evaluate)

"""Runs the School experiment: ``python -m experiments.mtl_school.main --workdir DIR``."""

from experiments.mtl_school import train
from jtransfer.train import experiment_main

if __name__ == "__main__":
    experiment_main("mtl_school", train.train_and_evaluate)

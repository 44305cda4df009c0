"""Runs the quadratics experiment: ``python -m experiments.lopt_quadratics.main --workdir DIR``."""

from experiments.lopt_quadratics import train
from jtransfer.train import experiment_main

if __name__ == "__main__":
    experiment_main("lopt_quadratics", train.train_and_evaluate)

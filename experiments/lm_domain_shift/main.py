"""Runs the frozen grid: ``python -m experiments.lm_domain_shift.main --workdir DIR``."""

from experiments.lm_domain_shift import train
from jtransfer.train import experiment_main

if __name__ == "__main__":
    experiment_main("lm_domain_shift", train.train_and_evaluate)

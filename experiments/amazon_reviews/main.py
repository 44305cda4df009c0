"""Runs the Amazon reviews experiment:
``python -m experiments.amazon_reviews.main --workdir DIR``."""

from experiments.amazon_reviews import train
from jtransfer.train import experiment_main

if __name__ == "__main__":
    experiment_main("amazon_reviews", train.train_and_evaluate)

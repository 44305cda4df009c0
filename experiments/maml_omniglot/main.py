"""Runs MAML / FOMAML / Reptile few-shot classification.

``python -m experiments.maml_omniglot.main``
"""

from experiments.maml_omniglot import train
from jtransfer.train import experiment_main

if __name__ == "__main__":
    experiment_main("maml_omniglot", train.train_and_evaluate)

"""The reproduction runner: ``python -m experiments.reproduce --suite quick``."""

"""Learned LSTM optimizer vs tuned baselines on random quadratics: registered with ``reproduce``."""

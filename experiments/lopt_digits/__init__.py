"""Learned LSTM optimizer on a digits MLP and its generalisation: registered with ``reproduce``."""

"""1-D sample-selection-bias regression (ADAPT's toy): registered with ``reproduce``."""

"""Multi-digits (two side-by-side sklearn digits): registered with ``reproduce``."""

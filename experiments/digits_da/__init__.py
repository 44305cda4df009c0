"""Digit shifts registered with ``reproduce``: sklearn digits → rotated/noisy digits (quick
and full), and MNIST↔USPS (JDA pair and full USPS) and MNIST → MNIST-M (full only)."""

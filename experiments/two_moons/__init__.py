"""Two moons with a 30°-rotated target (ADAPT's toy): registered with ``reproduce``.

Source-only, DANN, Deep CORAL and MMD on the ADAPT protocol (network, optimiser, epochs and λ
of ADAPT's example), each run with 5 restarts of which the reverse-validation best is kept (no
target labels); one decision-boundary panel per method (seed 0).
"""

"""Knowing when transfer helps (issue 9): negative-transfer detection on digits (quick and
full), score–accuracy correlation and label-free model selection on Office-Caltech10 and
Amazon reviews (full). Registered with ``reproduce``."""

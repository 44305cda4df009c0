"""Amazon reviews, 12 shifts (full suite): DANN JMLR protocol, plus source-only, MMD, Deep
CORAL MLPs and importance-weighted logistic regression."""

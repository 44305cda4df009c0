"""Office-Caltech10 SURF, 12 shifts (full suite): NA and CORAL + linear SVM in both of the
CORAL paper's protocols, and source-only / MMD / Deep CORAL / DANN MLPs."""

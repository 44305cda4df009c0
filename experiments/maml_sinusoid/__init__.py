"""MAML sinusoid regression (Finn et al. 2017, §5.1, App. C Table 2), registered with
``reproduce``."""

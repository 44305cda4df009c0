"""Full-suite digit pairs: ``full.py:<shift>`` with shift one of ``SHIFTS``.

* ``jda_mu`` / ``jda_um``: JDA's MNIST(2000)+USPS(1800) at 16×16, MNIST→USPS / USPS→MNIST,
  transductive. Reference points (RESULTS_FROM_PAPERS.md §4): 1-NN 65.94 / 44.70 (the NN
  baseline of JDA, ICCV 2013, as recalled; checked on these files); jindongwang's benchmark
  lists DANN 77.1 for MNIST→USPS with LeNet on the full sets (secondary, other protocol).
* ``usps_mu`` / ``usps_um``: MNIST test (resized to 16×16) and the full USPS 7291/2007.
* ``mnist_m``: MNIST test[:4500] → MNIST-M test[4500:9001] (disjoint halves).

MLP on the flattened pixels (256 or 3072 inputs, rows scaled to unit norm), λ grid by IW
source validation.

Run: ``JTRANSFER_MANUAL_DIR=/path/to/shared/data python -m experiments.digits_da.main
--workdir runs/digits_jda_mu --config experiments/digits_da/configs/full.py:jda_mu
--config.method=dann``
"""

from experiments.digits_da.configs import default

SHIFTS = {
    "jda_mu": ("jda", "M→U"),
    "jda_um": ("jda", "U→M"),
    "usps_mu": ("usps_full", "M→U"),
    "usps_um": ("usps_full", "U→M"),
    "mnist_m": ("mnist_m", "M→U"),
}


def get_config(shift: str = "jda_mu"):
    if shift not in SHIFTS:
        raise ValueError(f"shift must be one of {sorted(SHIFTS)}, got {shift!r}")
    c = default.get_config()
    c.dataset, c.direction = SHIFTS[shift]
    c.normalize = "l2"
    c.hidden = (512, 256) if shift == "mnist_m" else (256, 128)
    c.disc_hidden = (256,)
    c.weight_decay = 5e-4  # as the Office MLPs; fixed a priori
    c.num_steps = 1500
    c.eval_every = 1500
    c.save_every = 1500
    return c

"""Office-Caltech10 SURF, all 12 shifts, both CORAL protocols, plus MLP methods.

Published (CORAL, AAAI 2016): Table 1 (sampled) NA avg 37.8, CORAL avg 46.7; Table 3 (all
source) NA avg 41.1, CORAL avg 48.8 (../shared/data/RESULTS_FROM_PAPERS.md §1).

Run: ``JTRANSFER_MANUAL_DIR=/path/to/shared/data python -m experiments.office_caltech.main
--workdir runs/office_caltech``
"""

import ml_collections

from experiments.office_caltech.data import SHIFTS
from jtransfer import recipes


def get_config():
    c = ml_collections.ConfigDict()
    c.manual_dir = ""  # empty: $JTRANSFER_MANUAL_DIR or ../shared/data
    c.data_subdir = "office_caltech10_surf"  # the folder in manual_dir
    c.file_pattern = "{domain}_SURF_L10.mat"  # domain: amazon, Caltech10, dslr, webcam
    c.seed = 0
    c.shifts = SHIFTS
    c.protocols = ("sampled", "all")
    c.num_trials = 20
    c.svm_cs = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3, 1e4)
    c.coral_eps = 1.0
    c.deep_methods = ("source_only", "mmd", "coral", "dann")
    c.lam_grid = (0.1, 1.0)
    mlp = recipes.default_config()  # the library recipe; method and lam set per run
    mlp.hidden = (256,)
    mlp.disc_hidden = (256,)
    mlp.learning_rate = 1e-3
    mlp.weight_decay = 5e-4
    mlp.batch_size = 64
    mlp.num_steps = 1500
    mlp.eval_every = 1500
    mlp.save_every = 1500
    c.mlp = mlp
    return c

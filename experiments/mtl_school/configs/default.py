"""School (ILEA, 139 schools = tasks), full protocol.

Protocol (Bakker & Heskes 2003; Evgeniou, Micchelli & Pontil 2005; Argyriou, Evgeniou &
Pontil 2008): for each of 10 seeds, split every task's students at random 75 % / 25 %;
report the explained variance 1 − MSE/Var(y) on the pooled test students (in %) and the
RMSE in exam-score units, mean ± std over the 10 splits.

Methods: single-task ridge (shared λ by 5-fold CV), pooled ridge, hard sharing (shared
linear trunk of rank ``hard_rank`` + per-task linear heads, Adam), fixed soft sharing
(Evgeniou & Pontil's regularised MTL, λ by 5-fold CV) and learned soft sharing
(empirical Bayes on the exact marginal likelihood: per-task σ_t and, as a variant, one
shared σ).

Run: ``python -m experiments.mtl_school.main --workdir runs/mtl_school``
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.dataset = "school"  # or "synthetic" (hierarchical linear tasks, for tests)
    c.manual_dir = ""  # "" -> $JTRANSFER_MANUAL_DIR or ../shared/data
    c.max_tasks = 0  # 0 = all tasks
    c.num_splits = 10
    c.seed = 0
    c.train_fraction = 0.75
    c.cv_folds = 5
    c.ridge_grid = (0.01, 0.1, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)
    c.soft_grid = (0.1, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 1e4)
    # hard sharing
    c.hard_rank = 6
    c.hard_steps = 3000
    c.hard_learning_rate = 1e-2
    c.hard_l2 = 1e-2  # L2 on trunk and head weights (standardised units)
    c.save_every = 1000
    # learned soft sharing (empirical Bayes)
    c.eb_steps = 1500
    c.eb_learning_rate = 0.05
    c.plot = True
    # devices: tasks split over a ("task",) mesh of this shape; (-1,) = all devices; the mesh
    # size must divide the number of tasks (School has 139)
    c.mesh_shape = (1,)
    # synthetic data (dataset="synthetic")
    c.synthetic_tasks = 20
    c.synthetic_dim = 6
    return c

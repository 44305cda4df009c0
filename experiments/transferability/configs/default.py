"""Transferability experiments, full budget.

``config.experiment`` picks the study:

* ``"negative_transfer"`` (experiment 3, embedded sklearn digits): cases where transfer
  must hurt (label-permuted source, pixel-permuted source, strong label shift) and where it
  helps (no shift, pixel noise, contrast); the detector is
  ``select.negative_transfer_report`` on cross-validated paired correctness on the few
  labelled target examples; reports hit rate and false-alarm rate. No published number:
  the protocol is ours.
* ``"correlation"`` (experiment 1): Spearman/Kendall between each transferability score or
  discrepancy and the measured transfer accuracy over the 12 shifts of Office-Caltech10
  (SURF) and Amazon reviews. Goal (issue 9): Spearman ≥ 0.6 for the best score.
* ``"model_selection"`` (experiment 2): DomainBed-style table — target accuracy of the
  candidate chosen by each label-free criterion vs source validation vs the oracle.
* ``"logme_protocol"`` (experiment 4, MNIST / USPS / MNIST-M / sklearn digits): the LogME
  paper's protocol — a zoo of source models ranked per target by scores on the target's
  training data vs their fine-tuned test accuracy (weighted Kendall τ_w, Spearman,
  Kendall, bootstrap intervals over models); see ``logme_protocol.py``.

Run: ``python -m experiments.transferability.main --workdir runs/transferability
--config experiments/transferability/configs/default.py --config.experiment=correlation``
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.experiment = "negative_transfer"
    c.seed = 0
    # negative transfer (digits)
    c.seeds = tuple(range(10))
    c.n_labelled = (30, 60)
    c.num_folds = 5
    c.l2 = 1e-3
    c.steps = 300
    c.confidence = 0.95
    c.plot = True
    # Scale-out: the independent fits of a case (CV folds x {adapted, baseline}; the L2 grid
    # of the model-selection study) are sharded over a ("fit",) mesh of this shape; (-1,) =
    # every device. Padding makes any device count work; results equal 1 device.
    c.mesh_shape = (1,)
    # real data (correlation / model selection)
    c.datasets = ("office_caltech10", "amazon_reviews")
    # the shifts "<S>-><T>" of each dataset (domain letters of realdata.DOMAINS); all 12
    c.shifts = ml_collections.ConfigDict(
        {
            "office_caltech10": tuple(f"{s}->{t}" for s in "ACDW" for t in "ACDW" if s != t),
            "amazon_reviews": tuple(f"{s}->{t}" for s in "BDEK" for t in "BDEK" if s != t),
        }
    )
    c.manual_dir = ""  # "" = $JTRANSFER_MANUAL_DIR or ../shared/data
    c.source_val_fraction = 0.2
    c.candidate_l2 = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
    c.candidate_steps = (30, 300)
    c.max_target = 1000  # cap on points per domain for PAD, MMD, SND, domain classifier
    c.pca_dim = 64  # LogME on a source-PCA embedding of this size (logme_pca)
    c.coral_eps = 1.0  # CORAL's ridge (cov + eps I), Sun et al. 2016
    c.coral_accuracy = True  # set per dataset by realdata.run (Office-Caltech10 only)
    # optional JSON of accuracies measured elsewhere, per dataset (realdata.add_external_accuracies)
    c.external_accuracies = ml_collections.ConfigDict(
        {"office_caltech10": "", "amazon_reviews": ""}
    )
    # LogME protocol (experiment 4; logme_protocol.py)
    c.data = "mnist"  # "mnist": MNIST / USPS / MNIST-M / sklearn digits; "sklearn": tests only
    c.zoo = (
        "mnist",
        "mnist_300",
        "mnist_0to4",
        "mnist_parity",
        "mnist_rot90",
        "mnist_inverted",
        "mnist_narrow",
        "mnist_short",
        "random",
    )
    c.logme_seeds = (0, 1, 2, 3, 4)
    c.source_pool = 5000  # MNIST test images [:source_pool] pretrain the zoo
    c.pretrain_steps = 600  # minibatch Adam steps (batch 64, lr 3e-3)
    c.n_train = 400  # target training images (scores read these; 20 % select the grid)
    c.val_fraction = 0.2
    c.finetune_lrs = (1e-3, 1e-2)
    c.finetune_wds = (0.0,)
    c.finetune_steps = 150  # full-batch AdamW steps
    c.num_resamples = 2000  # bootstrap resamples (over models)
    return c

"""Multi-digits: two scikit-learn digits side by side (overlapping), tasks = left / right digit.

A MultiMNIST-style two-task problem built from the 8×8 scikit-learn digits: each input is
an 8 × (16 − overlap) image whose left and right halves are two random digits (pixel-wise
maximum where they overlap); task 0 classifies the left digit and task 1 the right one.
Images of the train pairs come from the first 1200 digits, test pairs from the remaining 597.

Model: hard sharing (``jtransfer.mtl.hard_sharing``): MLP trunk (2 × ``hidden`` ReLU) + one
linear 10-way head per task. Methods: single-task networks, equal weighting, uncertainty
weighting, DWA, GradNorm, PCGrad, MGDA, CAGrad, IMTL-G. Adam, same steps for all.

Run: ``python -m experiments.mtl_digits.main --workdir runs/mtl_digits``
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.methods = (
        "single_task",
        "equal",
        "uncertainty",
        "dwa",
        "gradnorm",
        "pcgrad",
        "mgda",
        "cagrad",
        "imtl_g",
    )
    c.seeds = (0, 1, 2)
    c.overlap = 4
    c.num_train_pairs = 6000
    c.num_test_pairs = 3000
    c.hidden = 64
    c.batch_size = 128
    c.num_steps = 3000
    c.learning_rate = 1e-3
    c.eval_every = 500
    c.save_every = 1000
    c.cagrad_c = 0.4
    c.gradnorm_alpha = 1.5
    c.gradnorm_lr = 0.025
    c.dwa_temperature = 2.0
    c.plot = True
    # devices: each minibatch split over a ("data",) mesh of this shape; (-1,) = all devices
    c.mesh_shape = (1,)
    return c

"""Random 10-d quadratics f(θ) = ‖Wθ − y‖² (Andrychowicz et al., 2016, §3.1, Fig. 2).

Paper: a 2-layer coordinate-wise LSTM (20 units) meta-trained with truncated BPTT
(unrolls of 20 steps, 100-step horizon) and Adam; on held-out functions its loss curve lies
below SGD, RMSprop, ADAM and NAG (each with a tuned learning rate) over 100 steps. The paper
gives curves, not numbers. https://arxiv.org/abs/1606.04474

Run: ``python -m experiments.lopt_quadratics.main --workdir runs/lopt_quadratics``
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.dim = 10
    c.init_scale = 1.0
    c.lopt = "lstm"
    c.lstm_hidden = 20
    c.output_scale = 0.1
    c.mlp_hidden = 32
    c.estimator = "tbptt"
    c.second_order = False  # the paper drops second derivatives
    c.stagger = True
    c.horizon = 100
    c.truncation_length = 20
    c.num_tasks = 128  # functions per meta-step (the paper's batch of 128)
    c.sigma = 0.01
    c.meta_steps = 5000
    # Chosen by meta-validation (final log10 loss on 128 separately drawn functions after 1000
    # meta-steps): 1e-3 -> -1.34, 3e-3 -> -1.56, 1e-2 -> -0.38.
    c.meta_lr = 3e-3
    c.clip = 1.0
    c.log_every = 50
    c.save_every = 500
    c.eval_steps = 100
    c.num_eval = 256
    c.num_tune = 128
    c.lr_grid = tuple(round(10.0 ** (-e / 4), 6) for e in range(17))  # 1 .. 1e-4
    c.baselines = ("SGD", "RMSprop", "Adam", "NAG")
    c.plot = True
    # Meta-training split over a 1-d mesh of this shape ((-1,) = every device): the tasks of
    # TBPTT (axis "task") or the population of ES/PES (axis "pop"); must divide num_tasks.
    c.mesh_shape = (1,)
    return c

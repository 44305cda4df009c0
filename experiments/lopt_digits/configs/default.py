"""Small MLP on scikit-learn digits (the MNIST protocol of Andrychowicz et al., 2016, §3.2).

Paper (MNIST, Fig. 4): one hidden layer of 20 sigmoid units, minibatches of 128, LSTM
optimizer meta-trained on 100-step runs with truncations of 20; it beats tuned SGD, RMSprop,
ADAM and NAG on the training architecture, keeps doing so for 200 steps and with 40 hidden
units, but fails with ReLU activations. Here: 8x8 digits (1500 training images) instead of
MNIST (no downloads). https://arxiv.org/abs/1606.04474

Run: ``python -m experiments.lopt_digits.main --workdir runs/lopt_digits``
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.hidden = (20,)
    c.wide_hidden = (40,)
    c.activation = "sigmoid"
    c.batch_size = 128
    c.lopt = "lstm"
    c.lstm_hidden = 20
    c.output_scale = 0.1
    c.mlp_hidden = 32
    c.estimator = "tbptt"
    c.second_order = False
    c.stagger = True
    c.horizon = 100
    c.truncation_length = 20
    c.num_tasks = 16
    c.sigma = 0.01
    c.meta_steps = 2000
    c.meta_lr = 3e-3
    c.clip = 1.0
    c.log_every = 50
    c.save_every = 500
    c.eval_steps = 100
    c.num_eval = 32
    c.num_tune = 16
    c.lr_grid = tuple(round(10.0 ** (-e / 4), 6) for e in range(17))  # 1 .. 1e-4
    c.baselines = ("SGD", "RMSprop", "Adam", "NAG")
    c.variants = ("base", "2x_horizon", "wider", "relu")
    c.plot = True
    # Meta-training split over a 1-d mesh of this shape ((-1,) = every device): the tasks of
    # TBPTT (axis "task") or the population of ES/PES (axis "pop"); must divide num_tasks.
    c.mesh_shape = (1,)
    return c

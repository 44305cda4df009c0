"""Two moons, target rotated by 30°: ADAPT's documentation protocol ("Two moons" example).

Data (ADAPT's ``make_moons_da``): ``make_moons(n_samples=100, noise=0.05)``, first coordinate
shifted by −0.5, target = source rotated by 30° about the origin. Network (ADAPT's defaults
and the example's ``get_task``): encoder Dense(10) ReLU; task head Dense(10) ReLU → Dense(10)
ReLU → Dense(1) sigmoid; discriminator Dense(10) ReLU → Dense(10) ReLU → Dense(1) sigmoid;
Keras' Glorot-uniform kernels and zero biases. Adam(lr 1e-3, β1 = 0.5), 800 epochs of batch
34 (3 steps per epoch). Source-only is the same network with λ = 0 (as in the example).
Accuracy is measured on the target points (labels unused in training). Published (ADAPT
docs): source-only 0.84, DANN 0.94, Deep CORAL 0.94.

λ is the example's, fixed a priori (no target labels): ADAPT's DANN uses λ = 1 on
``−log D(φ(x_s)) − log(1 − D(φ(x_t)))``, the *sum* of the two domains' mean cross-entropies,
while ``jtransfer.align.domain_adversarial_loss`` is their *average*: ``lam = 2`` here is
ADAPT's λ = 1. CORAL and MMD use λ = 1 on their own losses.

Model selection (no target labels): each method is trained ``num_restarts = 5`` times
(different initialisations and batch orders, same data) and the restart with the best
reverse-validation accuracy is kept — the DANN paper's protocol (Ganin et al. 2016 §5.1.2):
pseudo-label the target, train the same method back from target to source, score it on the
source labels. ``mean_restart_target_accuracy`` reports the unselected average as well.

Run: ``python -m experiments.two_moons.main --workdir runs/two_moons --config.method=dann``
"""

from jtransfer import recipes


def get_config():
    c = recipes.default_config()  # the library recipe's fields, overridden below
    c.seed = 0  # data; restart r initialises and batches with seed + 1000 r
    c.method = "source_only"
    c.n_samples = 100
    c.noise = 0.05
    c.angle = 30.0  # the shift: target = source rotated by this many degrees
    c.source_shift = (-0.5, 0.0)  # added to make_moons' points (ADAPT's make_moons_da)
    c.hidden = (10,)
    c.head_hidden = (10, 10)
    c.disc_hidden = (10, 10)
    c.init = "glorot"
    c.learning_rate = 1e-3
    c.b1 = 0.5
    c.batch_size = 34
    c.num_epochs = 800
    c.lam = 1.0  # CORAL / MMD weight
    c.dann_lam = 2.0  # = ADAPT's λ = 1 (see the module docstring)
    c.lam_schedule = "constant"
    c.num_restarts = 5
    c.eval_every = 300
    c.save_every = 600
    c.plot = True
    return c

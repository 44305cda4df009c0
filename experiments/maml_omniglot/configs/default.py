"""MAML on Omniglot, the paper protocol (Finn et al. 2017, §5.2), one config for all variants.

Conv4 (4 × [3×3 conv 64, BatchNorm, ReLU, 2×2 max-pool] + linear head), 28×28 images, 1200
random characters for meta-training and the other 423 for test, each character also rotated
by 90°, 180° and 270° as new classes. Inner SGD, transductive batch norm (batch statistics per
support / query set). Adam meta-optimiser lr 1e-3, 60 000 meta-iterations.
Variants (``variant`` field; pass ``--config=.../default.py:5w5s`` etc.):

=======  ======  =====  ============  ============  =========  ===========
variant  N-way   K      inner α       train steps   test steps meta-batch
=======  ======  =====  ============  ============  =========  ===========
5w1s     5       1      0.4           1             3          32
5w5s     5       5      0.4           1             3          32
20w1s    20      1      0.1           5             5          16
20w5s    20      5      0.1           5             5          16
=======  ======  =====  ============  ============  =========  ===========

``method``: ``maml`` (second order), ``fomaml`` (first order) or ``reptile`` (SGD inner
loop of ``reptile_inner_steps`` = 5 steps on support ∪ query, as Nichol et al.'s k = 5 for
Omniglot, outer step ε = 1 annealed linearly to 0; the inner optimiser here is SGD with the
variant's α, not their Adam. With a single inner step Reptile reduces to joint training on
the pooled tasks, which learns nothing transferable when labels are shuffled per task).
Evaluation: 600 test tasks, 15 query images per class,
accuracy with 95 % interval.

Published (MAML Table 1): 98.7 ± 0.4, 99.9 ± 0.1, 95.8 ± 0.3, 98.9 ± 0.2 (5w1s, 5w5s, 20w1s,
20w5s).

Needs the Omniglot npz files (``$JTRANSFER_MANUAL_DIR/omniglot`` or ../shared/data/omniglot).
Run (GPU recommended):
``python -m experiments.maml_omniglot.main --workdir runs/omniglot_5w1s
--config experiments/maml_omniglot/configs/default.py:5w1s``
"""

import ml_collections

VARIANTS = {
    "5w1s": dict(
        num_ways=5, num_shots=1, inner_lr=0.4, train_steps=1, eval_steps=3, meta_batch_size=32
    ),
    "5w5s": dict(
        num_ways=5, num_shots=5, inner_lr=0.4, train_steps=1, eval_steps=3, meta_batch_size=32
    ),
    "20w1s": dict(
        num_ways=20, num_shots=1, inner_lr=0.1, train_steps=5, eval_steps=5, meta_batch_size=16
    ),
    "20w5s": dict(
        num_ways=20, num_shots=5, inner_lr=0.1, train_steps=5, eval_steps=5, meta_batch_size=16
    ),
}


def get_config(variant: str = "5w1s") -> ml_collections.ConfigDict:
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose from {sorted(VARIANTS)}")
    c = ml_collections.ConfigDict()
    c.variant = variant
    c.dataset = "omniglot"  # or "digits" (sklearn, 8×8, embedded; for the quick suite)
    c.model = "conv4"  # or "mlp" (for digits)
    c.hidden = 64
    c.method = "maml"  # maml | fomaml | reptile
    c.seed = 0
    c.num_train_classes = 1200  # characters before rotation
    c.image_size = 28
    c.rotations = True
    c.num_queries = 0  # training queries per class; 0 means = num_shots
    c.eval_queries = 15
    c.meta_lr = 1e-3
    c.reptile_step_size = 1.0
    c.reptile_inner_steps = 5  # k of Reptile (Nichol et al. 2018: 5 for Omniglot)
    c.remat = False
    c.ops = "auto"  # convs / max-pools: "matmul" (jtransfer.ops.matmul_ops, fast
    # second-order derivatives on XLA:CPU), "native", "auto" = matmul
    # on CPU, native on GPU/TPU
    # ops.matmul_ops(conv_vjp=...): the custom-VJP stride-1 convolution (about 10 % less CPU
    # time per Conv4 meta-step) rounds differently in the last float32 bits; the committed
    # results/ artefacts were trained without it, so it stays off to reproduce them exactly.
    c.conv_vjp = False
    c.task_batch_size = 0  # 0: vmap all tasks; b > 0: lax.map over chunks of b tasks
    # Task-parallel meta-training: the meta-batch is split over a ("task",) mesh of this shape
    # ((-1,) = every device; it must divide meta_batch_size), parameters replicated.
    c.mesh_shape = (1,)
    c.num_iterations = 60_000
    c.eval_every = 5_000
    c.eval_tasks = 600
    c.eval_tasks_during = 100  # tasks for the intermediate evaluations on the curve
    c.eval_batch = 50
    c.save_every = 1_000
    c.max_train_seconds = 0.0  # > 0: stop (and evaluate) after this much wall time
    c.manual_dir = ""  # "" = $JTRANSFER_MANUAL_DIR or ../shared/data
    for k, v in VARIANTS[variant].items():
        c[k] = v
    return c

"""Quick-suite few-shot run on sklearn digits (no files needed): 5-way 1-shot MAML.

Meta-train on digits 0–4 and their 90°/180°/270° rotations (20 classes), meta-test on the
unseen digits 5–9 (5-way, so every test episode uses all five, with new images). MLP
64-64-64 on the 8×8 images, α = 0.4, 1 inner step in training, 3 at test, meta-batch 32.
There is no published number for this toy; chance is 20 %.
"""

from experiments.maml_omniglot.configs import default


def get_config():
    c = default.get_config("5w1s")
    c.dataset = "digits"
    c.model = "mlp"
    c.hidden = 64
    c.image_size = 8
    c.inner_lr = 0.1
    c.train_steps = 5
    c.eval_steps = 10
    c.num_iterations = 1000
    c.eval_every = 250
    c.save_every = 500
    c.eval_tasks = 600
    return c

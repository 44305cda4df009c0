"""meta: every bad input in one table (#17 items 6-8)."""

import jax.numpy as jnp
import numpy as np
import pytest

from jtransfer import meta
from tests.bad_inputs import Case, check_case, ids


def loss(p, batch):
    x, y = batch
    return jnp.mean((x * p["w"] - y) ** 2)


P = {"w": jnp.float32(0.5)}
T, K = 2, 3
BATCH = (jnp.ones((T, K)), jnp.ones((T, K)))
TASKS = (BATCH, BATCH)


def ml(params=P, tasks=TASKS, **kw):
    kw = {"inner_lr": 0.1, "num_steps": 1, **kw}
    return meta.maml_loss(loss, params, tasks, **kw)


CASES = [
    # value checks (also under jit with debug checks)
    Case("maml_loss: inner_lr -0.1", lambda lr: ml(inner_lr=lr), (-0.1,), "inner_lr"),
    Case("maml_loss: inner_lr NaN", lambda lr: ml(inner_lr=lr), (np.nan,), "inner_lr"),
    Case("maml_loss: inner_lr 0", lambda lr: ml(inner_lr=lr), (0.0,), "inner_lr"),
    Case(
        "maml_loss: a per-step rate negative",
        lambda lr: ml(inner_lr=lr, num_steps=2),
        (jnp.array([0.1, -0.1]),),
        "inner_lr",
    ),
    Case(
        "adapt: inner_lr -1",
        lambda lr: meta.adapt(loss, P, BATCH, inner_lr=lr, num_steps=1),
        (-1.0,),
        "inner_lr",
    ),
    Case(
        "anil: inner_lr -1",
        lambda lr: meta.anil(loss, P, TASKS, inner_mask={"w": True}, inner_lr=lr, num_steps=1),
        (-1.0,),
        "inner_lr",
    ),
    # shapes and dtypes (trace time: eager and under a plain jit)
    Case(
        "maml_loss: T = 0 tasks",
        lambda tasks: ml(tasks=tasks),
        (((jnp.ones((0, K)), jnp.ones((0, K))),) * 2,),
        "T = 0",
        "shape",
    ),
    Case(
        "maml_loss: empty support",
        lambda tasks: ml(tasks=tasks),
        (((jnp.ones((T, 0)), jnp.ones((T, 0))), BATCH),),
        "support",
        "shape",
    ),
    Case(
        "maml_loss: empty query",
        lambda tasks: ml(tasks=tasks),
        ((BATCH, (jnp.ones((T, 0)), jnp.ones((T, 0)))),),
        "query",
        "shape",
    ),
    Case(
        "maml_loss: unbatched task (5 points read as 5 tasks)",
        lambda tasks: ml(tasks=tasks),
        (((jnp.ones(5), jnp.ones(5)),) * 2,),
        "unbatched task",
        "shape",
    ),
    Case(
        "maml_loss: support and query task counts differ",
        lambda tasks: ml(tasks=tasks),
        ((BATCH, (jnp.ones((3, K)), jnp.ones((3, K)))),),
        "leading task dimension",
        "shape",
    ),
    Case(
        "maml_loss: a 0-d leaf",
        lambda tasks: ml(tasks=tasks),
        (((jnp.ones(()), jnp.ones((T, K))), BATCH),),
        "support",
        "shape",
    ),
    Case(
        "maml_loss: integer params",
        lambda p: ml(params=p),
        ({"w": jnp.int32(1)},),
        "params",
        "shape",
    ),
    Case(
        "adapt: integer params",
        lambda p: meta.adapt(loss, p, BATCH, inner_lr=0.1, num_steps=1),
        ({"w": jnp.int32(1)},),
        "params",
        "shape",
    ),
    Case(
        "maml_loss: inner_lr of a wrong shape",
        lambda lr: ml(inner_lr=lr),
        (jnp.ones(3) * 0.1,),
        "inner_lr",
        "shape",
    ),
    # static arguments
    Case("maml_loss: num_steps 0", lambda: ml(num_steps=0), (), "num_steps", "static"),
    Case("maml_loss: num_steps 1.5", lambda: ml(num_steps=1.5), (), "num_steps", "static"),
    Case(
        "maml_loss: task_batch_size 0",
        lambda: ml(task_batch_size=0),
        (),
        "task_batch_size",
        "static",
    ),
    Case("maml_loss: tasks not a pair", lambda: ml(tasks=BATCH + BATCH), (), "tasks", "static"),
    Case("maml_loss: mask selects nothing", lambda: ml(mask={"w": False}), (), "mask", "static"),
    Case("maml_loss: mask structure differs", lambda: ml(mask={"v": True}), (), "mask", "static"),
    Case(
        "maml_loss: inner_lr tree differs",
        lambda: ml(inner_lr={"v": 0.1}),
        (),
        "inner_lr",
        "static",
    ),
    Case("metasgd_init: inner_lr 0", lambda: meta.metasgd_init(P, 0.0), (), "inner_lr", "static"),
    Case(
        "imaml: lam -1",
        lambda: meta.imaml(loss, P, TASKS, lam=-1.0, inner_lr=0.1, num_steps=1),
        (),
        "lam",
        "static",
    ),
    Case(
        "imaml: cg_maxiter 0",
        lambda: meta.imaml(loss, P, TASKS, lam=1.0, inner_lr=0.1, num_steps=1, cg_maxiter=0),
        (),
        "cg_maxiter",
        "static",
    ),
    Case(
        "reptile_adapted: num_steps 0",
        lambda: meta.reptile_adapted(loss, P, BATCH, inner_lr=0.1, num_steps=0),
        (),
        "num_steps",
        "static",
    ),
    # folded from the old list in tests/meta/test_meta.py
    Case(
        "adapt: num_steps 1.5",
        lambda: meta.adapt(loss, P, (jnp.ones(3), jnp.ones(3)), inner_lr=0.1, num_steps=1.5),
        (),
        "num_steps",
        "static",
    ),
    Case(
        "maml_loss: support x and y task counts differ",
        lambda ys: ml(tasks=((BATCH[0], ys), BATCH)),
        (jnp.ones((1, K)),),
        "leading",
        "shape",
    ),
    Case(
        "maml_loss: per-step inner_lr of another length than num_steps",
        lambda lr: ml(inner_lr=lr, num_steps=2),
        (jnp.full(3, 0.1),),
        "per-step",
        "shape",
    ),
    Case(
        "anil: inner_mask selecting no parameters",
        lambda: meta.anil(loss, P, TASKS, inner_mask=lambda p, x: False, inner_lr=0.1, num_steps=1),
        (),
        "no parameters",
        "static",
    ),
    Case("reptile: step_size 0", lambda: meta.reptile(0.0), (), "step_size", "static"),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_bad_input(case):
    check_case(case)

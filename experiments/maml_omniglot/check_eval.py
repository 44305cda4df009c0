"""Checks the per-task test queries of ``make_evaluator`` against the all-vmapped ones.

On a finished 5-way 1-shot run's last checkpoint, evaluates the run's 600 test tasks (its
``eval`` key) twice: queries scored one task at a time with native convolutions (what
``train_and_evaluate`` does on CPU) and under ``vmap`` with ``ops.matmul_ops`` (what it did
before); prints both means, whether every task's accuracy is identical, and the wall and CPU
time of each (after compiling both on 50 other tasks). Run::

    python -m experiments.maml_omniglot.check_eval RUN_DIR METHOD SEED
"""

import os
import sys
import time

import jax
import optax

from experiments.maml_omniglot import train
from experiments.maml_omniglot.configs import default
from jtransfer import data
from jtransfer import train as jtrain


def main(run_dir: str, method: str, seed: int) -> None:
    c = default.get_config("5w1s")
    c.seed, c.method = seed, method
    init_key, _, eval_key = jtrain.keys(c.seed, "init", "data", "eval")
    splits = train.load_splits(c)
    sampler = data.episode_sampler(
        splits["x_test"], splits["y_test"], num_ways=5, num_shots=1, num_queries=c.eval_queries
    )
    apply_fn, params = train.make_model(c, init_key)
    ckpt = jtrain.CheckpointManager(os.path.join(run_dir, "checkpoints"), save_every=1)
    step = ckpt.latest_step()
    template = {"params": params, "opt_state": optax.adam(c.meta_lr).init(params)}
    params = ckpt.restore(step, template)["params"]
    loss_m, acc_m = train.make_losses(apply_fn, matmul=True)
    _, acc_native = train.make_losses(apply_fn)
    evaluators = {
        "per-task native": train.make_evaluator(
            sampler, loss_fn=loss_m, accuracy=acc_native, config=c, per_task_queries=True
        ),
        "vmapped matmul": train.make_evaluator(sampler, loss_fn=loss_m, accuracy=acc_m, config=c),
    }
    out = {}
    for name, ev in evaluators.items():
        ev.task_accuracies(params, jax.random.key(123), c.eval_batch)  # compile
        t, cpu = time.perf_counter(), time.process_time()
        acc = ev.task_accuracies(params, eval_key, c.eval_tasks)
        out[name] = (acc, time.perf_counter() - t, time.process_time() - cpu)
        print(
            f"{name}: step {step}, mean {100 * acc.mean():.10g} %, wall {out[name][1]:.1f} s, "
            f"CPU {out[name][2]:.1f} s, load {os.getloadavg()}",
            flush=True,
        )
    (a, wa, ca), (b, wb, cb) = out.values()
    print(
        f"identical per task: {bool((a == b).all())} ({int((a != b).sum())} differ); "
        f"vmapped / per-task: wall {wb / wa:.2f}x, CPU {cb / ca:.2f}x"
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))

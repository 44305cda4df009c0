"""Benchmark: BERT encoder forward throughput, jtransfer (jitted) vs PyTorch ``transformers``.

A script, not a test. all-MiniLM-L6-v2 (6 layers, hidden 384) from the shared folder, one
batch of ``--batch`` x ``--length`` tokens (default 64 x 128; random word pieces, lengths
spread between 16 and ``--length`` so the attention mask matters), float32, inference:

* ``jtransfer``: ``models.load_pretrained()`` -> ``models.functional(train=False)`` ->
  ``jax.jit``; returns the last hidden states and the mean-pooled embedding.
* ``PyTorch``: ``transformers.BertModel.from_pretrained(add_pooling_layer=False)``, eval mode,
  ``torch.no_grad``, its default attention implementation, mean pooling in torch, with
  ``torch.set_num_threads`` = the number of cores JAX's CPU client uses (all visible ones).

Rounds alternate (jtransfer, PyTorch, jtransfer, ...) so both see the same machine load; the
reported time is the median over rounds of the per-call time. Before timing, the two outputs
are compared on the benchmark batch (max abs diff of the last hidden states at attended
tokens and of the pooled embeddings, both must be <= 1e-4). The compute bound is the forward's
FLOPs (XLA ``cost_analysis``) at the best float32 GEMM rate measured under XLA on this machine.

``--lora`` also times one LoRA fine-tuning step (``--lora-only``: only that): rank 8, alpha
16 on every query/value projection, mask-weighted mean pool + linear head, cross-entropy,
AdamW with PyTorch's defaults, on the same batch; ``peft`` + ``transformers`` against
``adapters.lora_classifier`` (jitted step, body a constant argument). The jtransfer side
starts from peft's factors and head (copied; see :func:`lora_step_comparison`), and the
losses of the first two steps (before and after one AdamW update) must agree within 1e-4.
Steps alternate (peft, jtransfer, ...) for ``--rounds`` rounds; medians are reported.

Run (PyTorch is not a jtransfer dependency; it lives in a throw-away venv, README "Language
models"; the jtransfer dependencies are taken from the project venv via PYTHONPATH)::

    python3 -m venv /work/peers-lm
    /work/peers-lm/bin/pip install torch==2.13.0 transformers sentence-transformers peft \
        numpy safetensors tokenizers
    PYTHONPATH=.:/work/main/.venv/lib/python3.11/site-packages \
        /work/peers-lm/bin/python -m experiments.bench_lm [--rounds 5] [--lora]

Without torch importable only the jtransfer row, the GEMM bound and the FLOPs are printed.
Rows go through ``experiments/_bench.py``: ``--json`` prints one line per (workload,
implementation) (``bert_minilm_l6_forward_b{B}_l{L}_f32``: ``jtransfer``, ``transformers``;
``lora_step_minilm_r8_qv_b{B}_l{L}``: ``jtransfer``, ``peft``; probe row ``xla_gemm_rate``)
and ``--only IMPL`` times one implementation per process (the agreement checks still run),
as ``experiments/bench_alternate.py`` does; ``--lora-batch`` / ``--lora-length`` size the
LoRA step apart from the forward.

Figures: the README's "Benchmarks" tables are generated from the harness's committed rows
(``experiments/benchmarks/results/alternating_cpu.jsonl``, ``python -m experiments.reproduce
tables``); this docstring no longer carries typed timings (the loaded-machine explorations of
earlier sessions are in the git history of this file). What they decided, without numbers:
fused QKV and ``jax.nn.dot_product_attention`` measured within noise of plain einsum attention
(kept: fused QKV + einsum); ``--chunks`` (``models.chunked``) helped the forward on a loaded
machine; PyTorch's 2-thread pool collapses when the two cores are oversubscribed, so the
harness pins torch to 1 thread (``--torch-threads 1``) and states it. The forward's and the
LoRA step's agreement with PyTorch / peft is checked before every timing (the run stops if
it fails).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from experiments import _bench  # noqa: E402


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        return os.cpu_count() or 1


def make_batch(batch: int, length: int, vocab: int, seed: int = 0) -> dict[str, np.ndarray]:
    """[CLS] random word pieces [SEP] [PAD]..., lengths uniform in [min(16, L), L]."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(min(16, length), length + 1, batch)
    lengths[0] = length  # at least one full row
    ids = rng.integers(1000, vocab, (batch, length)).astype(np.int32)
    pos = np.arange(length)[None]
    ids[:, 0] = 101
    ids[np.arange(batch), lengths - 1] = 102
    mask = (pos < lengths[:, None]).astype(np.int32)
    ids = np.where(mask > 0, ids, 0).astype(np.int32)
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


def gemm(n: int = 4096, d: int = 256):
    """A float32 GEMM under XLA, (2n, d) x (d, 2n) as bench_meta: returns (run, its FLOPs).

    Timed inside the alternating rounds, so its best rate is measured under the same load."""
    import jax
    import jax.numpy as jnp

    z = jnp.asarray(np.random.default_rng(0).normal(size=(2 * n, d)).astype(np.float32))
    f = jax.jit(lambda z: z @ z.T)
    jax.block_until_ready(f(z))
    return (lambda: jax.block_until_ready(f(z))), 2.0 * (2 * n) ** 2 * d


def jtransfer_forward(model_dir, batch, chunks=1):
    """Compiled jitted forward; ``chunks > 1`` wraps it in ``models.chunked`` (``lax.map`` over
    that many equal slices inside the same jit: same maths, smaller working set)."""
    import jax

    from jtransfer import models

    enc = models.load_pretrained(model_dir)
    apply_fn, params = models.functional(enc, train=False)

    def fwd1(params, batch):
        out = apply_fn(params, batch)
        return out.hidden_states[-1], out.pooled

    batch_size = len(batch["input_ids"])
    fwd = fwd1 if chunks == 1 else models.chunked(fwd1, batch_size // chunks)

    jb = {k: jax.numpy.asarray(v) for k, v in batch.items()}
    t0 = time.perf_counter()
    compiled = jax.jit(fwd).lower(params, jb).compile()
    compile_s = time.perf_counter() - t0
    ca = compiled.cost_analysis()
    ca = ca[0] if isinstance(ca, (list, tuple)) else ca
    flops = float((ca or {}).get("flops", float("nan")))

    def run():
        return jax.block_until_ready(compiled(params, jb))

    return run, compile_s, flops, enc.config


def torch_forward(model_dir, batch, threads, chunks=1):
    import torch
    import transformers

    torch.set_num_threads(threads)
    model = transformers.BertModel.from_pretrained(model_dir, add_pooling_layer=False)
    model.eval()
    tb = {k: torch.from_numpy(v.astype(np.int64)) for k, v in batch.items()}
    m = tb["attention_mask"].unsqueeze(-1).float()

    def run1(tb, m):
        last = model(**tb).last_hidden_state
        return last, (last * m).sum(1) / m.sum(1).clamp(min=1e-9)

    def run():
        with torch.no_grad():
            if chunks == 1:
                return run1(tb, m)
            parts = [
                run1({k: v.chunk(chunks)[i] for k, v in tb.items()}, m.chunk(chunks)[i])
                for i in range(chunks)
            ]
            return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])

    return (
        run,
        f"torch {torch.__version__}, transformers {transformers.__version__}, "
        f"attn {model.config._attn_implementation}, threads {torch.get_num_threads()}",
    )


def time_rounds(fns: dict, rounds: int, calls: int) -> dict[str, list[float]]:
    times = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            times[name].append((time.perf_counter() - t0) / calls)
    return times


def lora_step_comparison(model_dir, batch, threads, tol=1e-4):
    """One LoRA fine-tuning step, peft vs ``adapters.lora_classifier``.

    Both sides: all-MiniLM-L6-v2, rank 8 (alpha 16, scale 2) on every query and value
    projection, no dropout; mask-weighted mean pooling of the last hidden states, a linear
    head (384 -> 2), mean softmax cross-entropy over the batch, AdamW (lr 1e-4, betas
    (0.9, 0.999), eps 1e-8, weight decay 0.01 on the adapter and the head, PyTorch's
    defaults) on the adapter factors and the head only. Same initialisation: peft's factors
    (``lora_A`` Kaiming-uniform; ``lora_B``, zero in peft, is drawn N(0, 0.02^2) here so the
    first loss exercises the adapter path) and the torch head are copied into jtransfer
    (``a = lora_A^T``, ``b = lora_B^T``, head kernel = weight^T). The losses of the first two
    steps (before and after one AdamW update) must agree within ``tol``.

    Returns ``(peft_step, jt_step, d_loss, n_trainable)``: each step runs one update and
    returns its loss (a float, so the step has finished); the caller times them.
    """
    import jax
    import optax
    import torch
    import transformers
    from peft import LoraConfig, get_peft_model

    from jtransfer import adapters, models

    torch.manual_seed(0)
    torch.set_num_threads(threads)
    labels_np = (np.arange(len(batch["input_ids"])) % 2).astype(np.int64)
    labels = torch.from_numpy(labels_np)
    base = transformers.BertModel.from_pretrained(model_dir, add_pooling_layer=False)
    model = get_peft_model(
        base, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["query", "value"])
    )
    lora_modules = {}
    for name, mod in model.named_modules():
        if hasattr(mod, "lora_A") and "default" in getattr(mod, "lora_A", {}):
            with torch.no_grad():
                torch.nn.init.normal_(mod.lora_B["default"].weight, std=0.02)
            layer = name.split(".layer.")[1].split(".")[0]
            lora_modules[f"layers/{layer}/{name.rsplit('.', 1)[1]}/kernel"] = mod
    head = torch.nn.Linear(base.config.hidden_size, 2)
    opt = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad] + list(head.parameters()),
        lr=1e-4,
        weight_decay=0.01,
    )
    tb = {k: torch.from_numpy(v.astype(np.int64)) for k, v in batch.items()}
    m = tb["attention_mask"].unsqueeze(-1).float()

    def peft_step():
        opt.zero_grad()
        last = model(**tb).last_hidden_state
        pooled = (last * m).sum(1) / m.sum(1).clamp(min=1e-9)
        loss = torch.nn.functional.cross_entropy(head(pooled), labels)
        loss.backward()
        opt.step()
        return loss.item()

    # jtransfer: the same factors and head.
    apply_fn, params = models.functional(models.load_pretrained(model_dir), train=False)
    lora = adapters.lora_init(
        params, rank=8, alpha=16.0, targets=("*query/kernel", "*value/kernel")
    )
    is_f = lambda x: isinstance(x, adapters.LoraFactors)
    flat, treedef = jax.tree_util.tree_flatten_with_path(lora.factors, is_leaf=is_f)
    if sorted(adapters.path_str(p) for p, _ in flat) != sorted(lora_modules):
        raise RuntimeError(f"adapted matrices differ: {sorted(lora_modules)} vs {lora.paths}")
    t2j = lambda t: jax.numpy.asarray(t.detach().numpy().T.copy())
    lora = adapters.LoraParams(
        factors=jax.tree.unflatten(
            treedef,
            [
                adapters.LoraFactors(
                    t2j(lora_modules[adapters.path_str(p)].lora_A["default"].weight),
                    t2j(lora_modules[adapters.path_str(p)].lora_B["default"].weight),
                )
                for p, _ in flat
            ],
        ),
        alpha=lora.alpha,
    )
    head_j = {"kernel": t2j(head.weight), "bias": jax.numpy.asarray(head.bias.detach().numpy())}
    clf = adapters.lora_classifier(
        apply_fn, optax.adamw(1e-4, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.01)
    )
    state = clf.init(lora, head_j)
    jb = {k: jax.numpy.asarray(v) for k, v in batch.items()}
    jl = jax.numpy.asarray(labels_np.astype(np.int32))
    t0 = time.perf_counter()
    step = clf.step.lower(state, params, jb, jl).compile()
    print(f"  jtransfer LoRA step compile {time.perf_counter() - t0:.1f} s")

    def jt_step():
        nonlocal state
        state, metrics = step(state, params, jb, jl)
        return float(metrics["loss"])  # blocks until the step is done

    d_loss = []
    for i in range(2):
        lp, lj = peft_step(), jt_step()
        d_loss.append(abs(lp - lj))
        print(f"  step {i} loss: peft {lp:.7f}, jtransfer {lj:.7f}, |diff| {d_loss[-1]:.1e}")
    assert max(d_loss) <= tol, f"peft and jtransfer LoRA losses differ by {max(d_loss):.2e}"
    n_trainable = model.num_parameters(only_trainable=True) + sum(
        p.numel() for p in head.parameters()
    )
    assert n_trainable == adapters.lora_num_params(lora) + 2 * (base.config.hidden_size + 1)
    return peft_step, jt_step, d_loss, n_trainable


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--length", type=int, default=128)
    ap.add_argument("--calls", type=int, default=2, help="forward calls per timed round")
    ap.add_argument(
        "--model-dir", default=None, help="checkpoint folder (default <manual dir>/minilm_l6_v2)"
    )
    ap.add_argument(
        "--lora",
        action="store_true",
        help="also time a LoRA training step, peft vs jtransfer.adapters",
    )
    ap.add_argument(
        "--lora-only", action="store_true", help="time only the LoRA step (skip the forward rows)"
    )
    ap.add_argument("--lora-batch", type=int, default=None, help="LoRA batch (default --batch)")
    ap.add_argument(
        "--lora-length", type=int, default=None, help="LoRA tokens per row (default --length)"
    )
    ap.add_argument("--lora-calls", type=int, default=1, help="LoRA steps per timed round")
    ap.add_argument(
        "--torch-threads",
        type=int,
        default=0,
        help="torch.set_num_threads for the PyTorch rows (0: the cores JAX uses)",
    )
    ap.add_argument(
        "--chunks",
        type=int,
        default=0,
        help="also time both with the batch split into this many chunks "
        "(jtransfer: models.chunked inside the jit; PyTorch: a Python loop); "
        "0: no such rows",
    )
    _bench.add_args(ap, rounds=5)
    return ap


def main(argv=None):
    args = build_parser().parse_args(argv)

    import jax

    from jtransfer import models

    runner = _bench.Runner(args, device=jax.devices()[0].platform)
    model_dir = str(models.checkpoint_dir(args.model_dir))
    threads = args.torch_threads or _cores()
    batch = make_batch(args.batch, args.length, 30522)
    runner.say(
        f"jax {jax.__version__} on {jax.devices()[0].platform}, {_cores()} cores, torch "
        f"threads {threads}; batch "
        f"{args.batch} x {args.length} ({int(batch['attention_mask'].sum())} real tokens)"
    )
    if args.lora_only:
        args.lora = True
    else:
        forward_rows(runner, args, model_dir, batch, threads)
    if args.lora:
        lora_rows(runner, args, model_dir, threads)
    return runner.finish()


def lora_rows(runner, args, model_dir, threads):
    """The LoRA step rows (workload ``lora_step_minilm_r8_qv_b{B}_l{L}``): ``peft`` and
    ``jtransfer``, both built (and their first two losses compared) in every process."""
    if not all(importlib.util.find_spec(m) for m in ("torch", "transformers", "peft")):
        runner.say("LoRA step: skipped (peft/torch/transformers not importable)")
        return
    b, length = args.lora_batch or args.batch, args.lora_length or args.length
    runner.say(f"LoRA step comparison at {b} x {length}:")
    peft_step, jt_step, d_loss, n_trainable = lora_step_comparison(
        model_dir, make_batch(b, length, 30522), threads
    )
    check = f"ok: first two losses peft vs jtransfer max|diff| {max(d_loss):.1e} (atol 1e-4)"
    impls = {
        "jtransfer": _bench.Impl(jt_step, check=check, note="adapters.lora_classifier, jitted"),
        "peft": _bench.Impl(
            peft_step, check=check, note=f"peft + transformers, torch {threads} threads"
        ),
    }
    rows = runner.run(
        f"lora_step_minilm_r8_qv_b{b}_l{length}", impls, reference=np.zeros(1), n=args.lora_calls
    )
    if "jtransfer" in rows and "peft" in rows:
        r = _bench.round_ratios(rows, "peft")
        runner.say(
            f"  {n_trainable} trainable parameters on both sides; jtransfer / peft LoRA step "
            f"throughput per round: {', '.join(f'{v:.2f}x' for v in r)} (goal >= 1.5x)"
        )


def forward_rows(runner, args, model_dir, batch, threads):
    """The forward rows (workload ``bert_minilm_l6_forward_b{B}_l{L}_f32``): ``jtransfer``
    (and ``jtransfer_chunked``), ``transformers`` (and ``transformers_chunked``), each checked
    against jtransfer's last hidden states at attended tokens and pooled embeddings (atol
    1e-4; the jtransfer forward is compiled in every process as the reference). The process
    that times jtransfer also times the best XLA GEMM rate (probe row ``xla_gemm_rate``), so
    the forward's share of the compute bound comes from the same process."""
    wl = f"bert_minilm_l6_forward_b{args.batch}_l{args.length}_f32"
    real = batch["attention_mask"][..., None] > 0

    def value(out):
        last, pooled = (np.asarray(t.numpy() if hasattr(t, "detach") else t, float) for t in out)
        return np.concatenate([np.where(real, last, 0.0).ravel(), pooled.ravel()])

    jt_run, compile_s, flops, _ = jtransfer_forward(model_dir, batch)
    runner.say(f"jtransfer compile {compile_s:.1f} s; forward {flops / 1e9:.1f} GFLOP (XLA)")
    impls = {"jtransfer": _bench.Impl(jt_run, value, compile_s=compile_s)}
    if args.chunks > 1 and runner.wants("jtransfer_chunked"):
        run, comp, _, _ = jtransfer_forward(model_dir, batch, args.chunks)
        impls["jtransfer_chunked"] = _bench.Impl(
            run, value, compile_s=comp, note=f"models.chunked, {args.chunks} chunks"
        )
    have_torch = all(importlib.util.find_spec(m) for m in ("torch", "transformers"))
    if have_torch:
        torch_rows = [("transformers", 1)]
        if args.chunks > 1:
            torch_rows.append(("transformers_chunked", args.chunks))
        for name, chunks in torch_rows:
            if runner.wants(name):
                pt_run, desc = torch_forward(model_dir, batch, threads, chunks)
                runner.say(f"PyTorch: {desc}")
                impls[name] = _bench.Impl(pt_run, value, note=desc)
    else:
        runner.say("PyTorch: skipped (torch/transformers not importable)")
    rows = runner.run(wl, impls, atol=1e-4, rtol=0.0, n=args.calls, gflop=flops / 1e9)
    if "jtransfer" in rows:
        gemm_run, gemm_flops = gemm()
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            gemm_run()
            best = min(best, time.perf_counter() - t0)
        rate = gemm_flops / best
        runner.probe(wl, "xla_gemm_rate", gemm_gflop_per_s=round(rate / 1e9, 3))
        runner.say(
            f"best XLA GEMM rate {rate / 1e9:.0f} GFLOP/s -> compute bound of the forward "
            f"{1e3 * flops / rate:.0f} ms; jtransfer at "
            f"{100 * flops / rate / rows['jtransfer']['median_s']:.0f} % of it"
        )
    tokens = int(args.batch * args.length)
    if not runner.json:
        for k, row in rows.items():
            print(f"  {k:22s} {tokens / row['median_s']:9.0f} tokens/s (goal: 1.5x PyTorch)")


if __name__ == "__main__":
    sys.exit(main())

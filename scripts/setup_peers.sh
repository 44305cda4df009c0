#!/usr/bin/env bash
# Build the optional peer-library environments the benchmark scripts compare against.
# Never part of the project's install or CI. Follows ../shared/docs/PEERS.md; measured on
# Python 3.11, x86_64, CPU only (torch's PyPI wheel is the CUDA build; it runs on the CPU).
#
#   bash scripts/setup_peers.sh            # -> .peers/torch and .peers/adapt (about 9 GB)
#   PYTHONPATH=. .peers/torch/bin/python experiments/bench_meta.py
#
# .peers/torch : jax + the project's dependencies + torch, skada, POT, skorch, pytorch-adapt,
#                higher, learn2learn and the PyTorch NLP stack (transformers,
#                sentence-transformers, peft: experiments/bench_lm.py, scripts/make_lm_golden.py),
#                so the benchmarks time jtransfer and the PyTorch peers in one process.
# .peers/adapt : ADAPT 0.4.5 (pulls TensorFlow, which wants numpy<2; jax needs numpy>=2), so
#                the benchmarks run ADAPT in a subprocess with this interpreter.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="${PEERS_DIR:-$ROOT/.peers}"
PY="${PYTHON:-python3}"
mkdir -p "$DEST"

# --- torch peers + jax, one process -------------------------------------------------------
"$PY" -m venv "$DEST/torch"
T="$DEST/torch/bin/pip"
"$T" install -q -U pip 'setuptools<81' wheel 'Cython>=3'
"$T" install -q torch==2.14.1 torchvision==0.29.1
deps=$("$DEST/torch/bin/python" -c "import tomllib;print('\n'.join(tomllib.load(open('$ROOT/pyproject.toml','rb'))['project']['dependencies']))")
# shellcheck disable=SC2086
"$T" install -q $(echo "$deps" | tr '\n' ' ') skada==0.6.0 skorch POT pytorch-adapt==0.0.83 higher==0.2.1
# learn2learn 0.2.0 ships generated C files that do not build on Python 3.11: regenerate them.
tmp=$(mktemp -d)
(cd "$tmp" && "$T" download -q learn2learn==0.2.0 --no-deps --no-binary :all: \
   && tar xzf learn2learn-0.2.0.tar.gz && cd learn2learn-0.2.0 \
   && "$DEST/torch/bin/cython" -3 learn2learn/data/{meta_dataset,task_dataset,transforms}.pyx \
   && "$T" install -q --no-build-isolation --no-deps .)
rm -rf "$tmp"
"$T" install -q gym requests              # both imported by learn2learn at import time
"$T" install -q transformers sentence-transformers peft   # language-model peers (issue 16)
"$T" install -q 'numpy>=2,<3'             # gym may downgrade numpy; jax needs >= 2

# --- ADAPT (TensorFlow, numpy<2), subprocess only ----------------------------------------
"$PY" -m venv "$DEST/adapt"
"$DEST/adapt/bin/pip" install -q -U pip 'setuptools<81' wheel
"$DEST/adapt/bin/pip" install -q adapt==0.4.5 'numpy<2' 'pandas<3'

"$DEST/torch/bin/python" -c "import torch, jax, skada, pytorch_adapt, higher, learn2learn, ot, transformers, sentence_transformers, peft; print('torch peers OK')"
"$DEST/adapt/bin/python" -c "import adapt.instance_based, adapt.feature_based; print('ADAPT OK')"

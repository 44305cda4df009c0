#!/usr/bin/env bash
# Build the sdist and wheel, check them with twine, install the wheel in a clean virtual
# environment with the core dependencies only (no extras) and import the algorithms.
# Usage: scripts/check_wheel.sh [python]   (needs `build` and `twine` in that python: pip
# install 'jtransfer[dev]'). The clean venv lives in a temporary folder and is removed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-python3}
rm -rf dist
"$PY" -m build --sdist --wheel --outdir dist . > /tmp/jtransfer-build.log 2>&1 \
  || { tail -30 /tmp/jtransfer-build.log; exit 1; }
ls -l dist
"$PY" -m twine check --strict dist/*
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install --quiet --upgrade pip
"$tmp/venv/bin/pip" install --quiet dist/*.whl
echo "installed in a clean venv (core dependencies only):"
"$tmp/venv/bin/pip" list --format=freeze | grep -i -E '^(jtransfer|jax|jaxlib|flax|optax|chex|numpy|scipy|tensorflow.datasets|orbax.checkpoint|h5py|scikit.learn|matplotlib|safetensors)==' || true
cd "$tmp"   # import the installed wheel, not the source tree
"$tmp/venv/bin/python" - <<'PY'
import jax.numpy as jnp
import jtransfer
import jtransfer.align
import jtransfer.meta
from jtransfer import adapters, lopt, models, mtl, ops, parallel, select, weighting  # noqa: F401

print("jtransfer", jtransfer.__version__, "from", jtransfer.__file__)
x = jnp.arange(12.0).reshape(6, 2)
print("align.mmd2 =", float(jtransfer.align.mmd2(x, x + 1.0)))
try:
    import jtransfer.train  # noqa: F401
except ImportError as e:
    print("import jtransfer.train without the extra:", e)
else:
    raise SystemExit("jtransfer.train imported without the train extra")
PY
echo "check_wheel: OK"

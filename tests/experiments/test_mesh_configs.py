"""Issue #10: every experiment's config takes a mesh shape (the scale-out contract)."""

import importlib
import pathlib

import ml_collections
import pytest

EXPERIMENTS = sorted(
    p.parent.parent.name
    for p in pathlib.Path(__file__).resolve().parents[2].glob("experiments/*/configs/default.py")
)


def _mesh_shapes(c, prefix=""):
    out = {}
    for k, v in c.items():
        if isinstance(v, ml_collections.ConfigDict):
            out.update(_mesh_shapes(v, f"{prefix}{k}."))
        elif k == "mesh_shape":
            out[prefix + k] = v
    return out


def test_every_experiment_is_listed():
    assert len(EXPERIMENTS) >= 12, EXPERIMENTS


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_default_config_has_a_mesh_shape(name):
    config = importlib.import_module(f"experiments.{name}.configs.default").get_config()
    shapes = _mesh_shapes(config)
    assert shapes, f"experiments/{name}/configs/default.py has no mesh_shape field"
    for where, shape in shapes.items():
        shape = tuple(shape)
        assert len(shape) == 1 and (shape[0] == -1 or shape[0] >= 1), (where, shape)

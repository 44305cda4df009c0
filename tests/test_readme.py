"""The README's code example runs as written, and the README keeps its two commands on top."""

import os
import re

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def _readme():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        return f.read()


def test_readme_opens_with_exactly_the_two_make_commands():
    first_block = re.search(r"```bash\n(.*?)```", _readme(), re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines() if line.strip()]
    assert commands == ["make reproduce", "make test"]


def test_readme_python_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", _readme(), re.S)
    assert blocks, "README has no python example"
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)  # noqa: S102
    grads = namespace["grads"]
    import jax
    import numpy as np

    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))


def test_readme_domain_adaptation_recipe_example_runs():
    """The 'own arrays' recipe example: DANN on the rotated moons, then reverse validation."""
    block = next(
        b
        for b in re.findall(r"```python\n(.*?)```", _readme(), re.S)
        if "fit_domain_adaptation" in b
    )
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102
    assert namespace["logits"].shape == (100, 1)
    assert 0.5 <= namespace["score"].accuracy <= 1.0

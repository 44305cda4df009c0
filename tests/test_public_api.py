"""The public API's contract: each subpackage lists its names in ``__all__``, every listed name
exists, and no two subpackages export the same name (issue #15: ``meta.task_losses`` and
``mtl.task_losses`` once meant different things)."""

import collections
import importlib

import jtransfer


def test_no_two_subpackages_export_the_same_name():
    owners = collections.defaultdict(list)
    for sub in jtransfer._SUBPACKAGES:
        module = importlib.import_module(f"jtransfer.{sub}")
        assert hasattr(module, "__all__"), sub
        for name in module.__all__:
            assert hasattr(module, name), f"jtransfer.{sub}.__all__ lists missing {name!r}"
            owners[name].append(sub)
    shared = {name: subs for name, subs in owners.items() if len(subs) > 1}
    assert not shared, shared

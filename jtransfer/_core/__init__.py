"""jtransfer._core: helpers shared by every subpackage (private; import the modules directly).

Nothing here is public API: subpackages import ``jtransfer._core.<module>`` and re-export what
users need under their own public names.
"""

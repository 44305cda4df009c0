"""jtransfer.align (in progress)."""

__all__: list[str] = []

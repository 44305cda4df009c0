"""jtransfer.meta (in progress)."""

__all__: list[str] = []

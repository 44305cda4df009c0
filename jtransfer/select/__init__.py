"""jtransfer.select (in progress)."""

__all__: list[str] = []

"""jtransfer.lopt (in progress)."""

__all__: list[str] = []

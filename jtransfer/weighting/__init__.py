"""jtransfer.weighting (in progress)."""

__all__: list[str] = []

"""School multi-task regression (139 tasks): registered with ``reproduce`` (full suite)."""

"""Benchmarks and fault drills: scripts run with `uv run python bench/<name>.py`."""

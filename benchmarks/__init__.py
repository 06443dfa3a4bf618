"""Benchmarks that print figures: `make bench` (python benchmarks/run.py)."""

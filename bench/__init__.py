"""Benchmarks: `make bench` (or `python -m bench --help`). See docs/benchmarks.md."""

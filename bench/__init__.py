"""Benchmarks: `make bench` (or `python -m bench [names...]`) writes bench/results/*.json."""

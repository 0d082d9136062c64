"""Benchmarks: each module measures a stage against a baseline in the same run."""

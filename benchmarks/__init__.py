"""Benchmarks of the operator, run as modules (`python -m benchmarks.<name>`); not part of the suite."""

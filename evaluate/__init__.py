"""Evaluation: the paper's metrics and tables, and the project's benchmarks."""

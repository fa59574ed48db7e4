"""The lab's benchmark: bench/run.py is its entry point, bench/results.md its report."""

"""Results: what a run observed, written as results.json, outcomes.csv and per-cell files."""

"""Scenario files -> validated, plain typed data (no side effects)."""

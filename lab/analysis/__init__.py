"""Analysis of recorded runs: explanations, reports, data frames."""

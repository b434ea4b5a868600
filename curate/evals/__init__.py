"""Measurements of the pipeline's parts against ground truth (used by the tests and by `make bench`)."""

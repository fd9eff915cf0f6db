"""Evaluation: pure metrics (`metrics/`), per-benchmark evaluators, the inference runner and table rendering."""

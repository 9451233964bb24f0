"""Reconcile decisions, one module per kind: pure functions from (desired, observed) to what to do
and what to report. No I/O here; the controllers carry the decisions out."""

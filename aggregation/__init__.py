"""Aggregation: billing periods and per-period usage quantities. Pure functions; no I/O."""

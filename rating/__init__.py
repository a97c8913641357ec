"""Rating: charge models, plans and exact money. Pure functions; no I/O."""

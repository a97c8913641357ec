"""Hypothesis profiles for the property tests.

``ci`` (the default) keeps the whole folder well under a minute; ``expensive``
is for a long local hunt::

    HYPOTHESIS_PROFILE=expensive .venv/bin/python -m pytest tests/property -q

Loading a profile changes Hypothesis' global default settings for the pytest
session that collects this folder.
"""

from __future__ import annotations

import os

from hypothesis import settings

# Polars compiles and runs a query per example; the first ones are slow, so no deadline.
settings.register_profile("ci", max_examples=100, deadline=None, print_blob=True)
settings.register_profile("expensive", parent=settings.get_profile("ci"), max_examples=2000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

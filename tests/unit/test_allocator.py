"""Importing ``jobs`` sets up Polars' allocator (``jobs.ALLOCATOR``) before Polars loads."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import jobs

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="set on Linux only")

SEEN_BY_POLARS = "import jobs, polars, os; print(os.environ['_RJEM_MALLOC_CONF'])"
"""What Polars hands its allocator: its own settings, then the override it found."""


def _conf_polars_loads_with(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", SEEN_BY_POLARS], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_polars_loads_with_an_arena_per_cpu() -> None:
    env = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"}
    options = _conf_polars_loads_with(env).split(",")
    # Polars' own decay settings first; the last setting of an option wins.
    assert options[-1] == jobs.ALLOCATOR == "percpu_arena:percpu"
    assert any(option.startswith("dirty_decay_ms:") for option in options[:-1])


def test_a_users_own_setting_is_left_alone() -> None:
    env = {**os.environ, "_RJEM_MALLOC_CONF": "narenas:3"}
    options = _conf_polars_loads_with(env).split(",")
    assert options[-1] == "narenas:3"
    assert jobs.ALLOCATOR not in options

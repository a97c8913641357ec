"""Jobs: billing runs, the catalog and contract loaders, the data generator and the CLI.

Importing this package sets up Polars' allocator for a job (:data:`ALLOCATOR`), so it
must come before Polars is first imported: the ``meter`` command and the benchmark
import it first.
"""

import os
import sys

ALLOCATOR = "percpu_arena:percpu"
"""Polars' allocator (jemalloc, set up through ``_RJEM_MALLOC_CONF`` when Polars loads)
for a job: one arena per CPU, instead of one for each thread that allocates.

A billing run frees a shard's frames on Polars' worker threads and allocates the next
ones on others. With an arena per thread, memory freed in one arena is of no use to
another thread, so the allocation is fresh pages from the kernel (a page fault each 4
KiB, a fifth of the rate stage's CPU on the 2-core VM of the benchmark). With an arena
per CPU, whatever thread runs on that CPU reuses it: billing 10M events alternately
with and without it, the rate stage took 0.86-0.98 s against 0.89-1.10, pricing
0.28-0.34 s against 0.37-0.39, with the same peak RSS (1.9-2.1 GiB). Keeping freed
memory longer instead (``dirty_decay_ms``) saved as much but added 0.5-0.7 GiB."""

# Polars reads it once, when it loads, after its own settings (so a later option wins); a
# user's own setting is left as it is. Linux only: elsewhere the arena per CPU is not
# available, or Polars has another allocator.
if sys.platform == "linux":
    os.environ.setdefault("_RJEM_MALLOC_CONF", ALLOCATOR)

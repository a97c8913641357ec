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
per CPU, whatever thread runs on that CPU reuses it: the 10M-event rate stage took
0.86-0.89 s against 0.90-1.02, pricing 0.27-0.28 s against 0.36-0.37, with the same
peak RSS (2.1-2.2 GiB). Keeping freed memory longer instead (``dirty_decay_ms``) saved
as much but added 0.5-0.7 GiB of peak RSS."""

# Polars reads it once, when it loads, after its own settings (so a later option wins); a
# user's own setting is left as it is. Linux only: elsewhere the arena per CPU is not
# available, or Polars has another allocator.
if sys.platform == "linux":
    os.environ.setdefault("_RJEM_MALLOC_CONF", ALLOCATOR)

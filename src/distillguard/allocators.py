"""Memory-allocator settings of the scan's processes (environment variables read at start-up).

Polars and DuckDB each allocate through their own jemalloc. By default a freed page is handed back
to the kernel within a second or so (polars: ``dirty_decay_ms:500,muzzy_decay_ms:1000``), and the
next batch or query faults it in afresh, zero-filled by the kernel: on the 1.1M-row bench the feature
workers took 700K page faults and 3.1 CPU-s of system time. With ``muzzy_decay_ms:-1`` a freed
page is released lazily instead (``MADV_FREE``: the kernel takes it back only when it needs the
memory, and until then it is reused without a fault): 330K faults and 2.2 s in the workers, and in
interleaved runs of the whole scan the feature phase ended 1-2 s sooner. Resident memory as
reported grows by what is released lazily (about 0.25 GB over the scan and its workers).

jemalloc reads its settings once, from an environment variable, when the library is loaded: so
:func:`set_for_this_process` runs before polars or DuckDB is imported (first thing in the
``distillguard`` command), and the feature workers get theirs from the environment they are
spawned with (see ``stage._Parts.start_pool``). Settings a user gave in these variables win.
"""

from __future__ import annotations

import os

#: polars' jemalloc (polars writes its defaults into it when imported, followed by the user's value)
POLARS_ENV = "_RJEM_MALLOC_CONF"
#: DuckDB's jemalloc (built with the prefix ``duckdb_je_``)
DUCKDB_ENV = "DUCKDB_JE_MALLOC_CONF"
#: release freed pages lazily
LAZY_RELEASE = "muzzy_decay_ms:-1"
#: what polars writes into :data:`POLARS_ENV` when it is imported (a user's own settings follow)
POLARS_DEFAULTS = "dirty_decay_ms:500,muzzy_decay_ms:1000"

__all__ = [
    "DUCKDB_ENV",
    "LAZY_RELEASE",
    "POLARS_DEFAULTS",
    "POLARS_ENV",
    "lazy_release",
    "set_for_this_process",
]


def lazy_release(current: str | None) -> str | None:
    """The value of a jemalloc variable with :data:`LAZY_RELEASE` added, or None to leave it.

    ``current`` is the variable's value now. :data:`LAZY_RELEASE` goes last, after any settings
    the user gave, unless those already choose a muzzy decay (then None). Polars' own defaults at
    the head of the value (present once polars is imported) do not count as the user's; in a value
    whose head is not recognised, any muzzy decay counts as the user's.
    """
    user = (current or "").removeprefix(POLARS_DEFAULTS)
    if "muzzy_decay_ms" in user:
        return None
    return f"{current},{LAZY_RELEASE}" if current else LAZY_RELEASE


def set_for_this_process() -> None:
    """Set :data:`LAZY_RELEASE` for polars and DuckDB in this process's environment (before they
    are imported, or it has no effect here: the feature workers spawned later still inherit it)."""
    for name in (POLARS_ENV, DUCKDB_ENV):
        value = lazy_release(os.environ.get(name))
        if value is not None:
            os.environ[name] = value

"""The allocator settings of the scan's processes (``distillguard.allocators``)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from distillguard.allocators import DUCKDB_ENV, LAZY_RELEASE, POLARS_DEFAULTS, POLARS_ENV, lazy_release


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        (None, "muzzy_decay_ms:-1"),
        ("", "muzzy_decay_ms:-1"),
        (POLARS_DEFAULTS, f"{POLARS_DEFAULTS},muzzy_decay_ms:-1"),
        (f"{POLARS_DEFAULTS},dirty_decay_ms:0", f"{POLARS_DEFAULTS},dirty_decay_ms:0,muzzy_decay_ms:-1"),
        ("dirty_decay_ms:0", "dirty_decay_ms:0,muzzy_decay_ms:-1"),
        (f"{POLARS_DEFAULTS},muzzy_decay_ms:5", None),  # the user's own choice wins
        ("muzzy_decay_ms:5", None),
        ("muzzy_decay_ms:1000,dirty_decay_ms:200", None),  # defaults not recognised: left alone
    ],
)
def test_lazy_release_goes_last_unless_the_user_chose(current, expected):
    assert lazy_release(current) == expected


def _env_after(code: str, **env: str) -> dict:
    """The two variables as a fresh interpreter sees them after ``code``."""
    base = {k: v for k, v in os.environ.items() if k not in (POLARS_ENV, DUCKDB_ENV)}
    show = f"; import os; print(os.environ.get({POLARS_ENV!r})); print(os.environ.get({DUCKDB_ENV!r}))"
    out = subprocess.run(
        [sys.executable, "-c", code + show], env={**base, **env}, capture_output=True, text=True, check=True
    )
    polars_value, duckdb_value = out.stdout.strip().splitlines()[-2:]
    return {POLARS_ENV: polars_value, DUCKDB_ENV: duckdb_value}


def test_pinned_polars_writes_the_defaults_recognised():
    """After an upgrade that changed polars' defaults, the setting would silently stop applying."""
    assert _env_after("import polars")[POLARS_ENV] == POLARS_DEFAULTS


def test_set_before_polars_is_imported_reaches_polars_and_duckdb():
    setup = "from distillguard.allocators import set_for_this_process; set_for_this_process(); "
    from_scratch = _env_after(setup + "import polars, duckdb")
    assert from_scratch == {POLARS_ENV: f"{POLARS_DEFAULTS},{LAZY_RELEASE}", DUCKDB_ENV: LAZY_RELEASE}
    mine = _env_after(setup + "import polars", **{POLARS_ENV: "muzzy_decay_ms:200"})
    assert mine[POLARS_ENV] == f"{POLARS_DEFAULTS},muzzy_decay_ms:200"


def test_the_command_sets_them_first(tmp_path):
    """``distillguard`` (``cli.run``) sets them before any command module imports polars."""
    code = (
        "import sys, atexit; sys.argv = ['distillguard', 'validate', '--help']; "
        "from distillguard.cli import run; import os; "
        f"show = lambda: print('AT', os.environ.get({POLARS_ENV!r}), os.environ.get({DUCKDB_ENV!r})); "
        "atexit.register(show); "
        "run()"
    )
    base = {k: v for k, v in os.environ.items() if k not in (POLARS_ENV, DUCKDB_ENV)}
    out = subprocess.run([sys.executable, "-c", code], env=base, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    line = next(x for x in out.stdout.splitlines() if x.startswith("AT "))
    assert line.split() == ["AT", f"{POLARS_DEFAULTS},{LAZY_RELEASE}", LAZY_RELEASE]


@pytest.mark.skipif(
    sys.platform != "linux" or os.uname().machine != "x86_64", reason="DuckDB's jemalloc: Linux x86-64"
)
def test_duckdb_reads_its_variable():
    """DuckDB's bundled jemalloc reads ``DUCKDB_JE_MALLOC_CONF`` (a renamed prefix after an upgrade
    would make the setting silently do nothing): asked to, it prints its statistics at exit."""
    base = {k: v for k, v in os.environ.items() if k != DUCKDB_ENV}
    code = "import duckdb; duckdb.connect().sql('select 42').fetchall()"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**base, DUCKDB_ENV: "stats_print:true"},
        capture_output=True,
        text=True,
    )
    assert "jemalloc statistics" in out.stderr + out.stdout

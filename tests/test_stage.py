"""The feature phase: worker processes stage exactly what one process stages; errors come back whole."""

from __future__ import annotations

import os
import pickle

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from distillguard.errors import InputError
from distillguard.signals.prompt import near_duplicate as nd
from distillguard.simulate import simulate
from distillguard.stage import stage_inputs


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    out = tmp_path_factory.mktemp("stage") / "logs"
    simulate(out, seed=1011, scale=0.02)
    return out


def _parts(stage_dir):
    return {p.name: pq.read_table(p) for p in sorted(stage_dir.glob("*.parquet"))}


def _rows(stage_dir):
    """All staged rows, in request-id order (workers split the rows into parts their own way)."""
    return pa.concat_tables(_parts(stage_dir).values()).sort_by("request_id")


def test_workers_stage_the_same_rows_deterministically(logs, tmp_path):
    one = stage_inputs(
        [logs / "interactions"], [logs / "accounts.parquet"], tmp_path / "w1", batch_rows=1_000
    )
    two, again = (
        stage_inputs(
            [logs / "interactions"], [logs / "accounts.parquet"], tmp_path / d, batch_rows=1_000, workers=2
        )
        for d in ("w2", "w3")
    )
    assert one.rows == two.rows > 4 * 1_000 and len(_parts(one.stage_dir)) > 4
    assert _rows(one.stage_dir).equals(_rows(two.stage_dir))
    # the same parts, whichever worker finished first
    a, b = _parts(two.stage_dir), _parts(again.stage_dir)
    assert list(a) == list(b) and all(a[n].equals(b[n]) for n in a)
    assert not list(two.stage_dir.glob("*.tmp"))


def test_rows_go_to_the_worker_of_their_prompt():
    from distillguard.stage import routes

    prompts = [f"prompt {i % 37}" for i in range(2_000)] + [None] * 10
    batch = pa.record_batch({"request_id": [str(i) for i in range(len(prompts))], "prompt": prompts})
    r = routes(batch, 3)
    assert set(r.tolist()) == {0, 1, 2}
    by_prompt: dict = {}
    for p, w in zip(prompts, r.tolist(), strict=True):
        by_prompt.setdefault(p, set()).add(w)
    assert all(len(ws) == 1 for ws in by_prompt.values())
    # a pure function of the row: the same prompt routes the same in any batch
    rev = pa.record_batch({"request_id": ["x"] * len(prompts), "prompt": prompts[::-1]})
    assert np.array_equal(routes(rev, 3), r[::-1])
    # no prompt column: dealt round-robin
    assert routes(pa.record_batch({"request_id": ["a", "b", "c"]}), 2).tolist() == [0, 1, 0]


def _bad_features(batch, seed=0):
    raise InputError("batch", f"feature failure (seed {seed})")


def test_worker_error_reaches_the_caller_whole(logs, tmp_path):
    with pytest.raises(InputError, match=r"batch: feature failure \(seed 5\)") as err:
        stage_inputs(
            [logs / "interactions"],
            None,
            tmp_path / "w",
            seed=5,
            batch_rows=1_000,
            workers=2,
            feature_fn=_bad_features,
        )
    assert err.value.path == "batch" and err.value.problem == "feature failure (seed 5)"


def test_input_error_pickles():
    e = pickle.loads(pickle.dumps(InputError("f.csv", "row 3: bad ts")))
    assert (e.path, e.problem, str(e)) == ("f.csv", "row 3: bad ts", "f.csv: row 3: bad ts")


def test_unpicklable_feature_function_runs_in_process(logs, tmp_path):
    from distillguard.features import prompt_features

    calls = []

    def local(batch, seed=0):  # a closure cannot be sent to a worker process
        calls.append(batch.num_rows)
        return prompt_features(batch, seed=seed)

    st = stage_inputs(
        [logs / "interactions"], None, tmp_path / "w", batch_rows=1_000, workers=2, feature_fn=local
    )
    assert sum(calls) == st.rows


@pytest.mark.parametrize("cache_size", [10, 1_000_000])
def test_stem_digest_cache_is_exact(monkeypatch, cache_size):
    monkeypatch.setattr(nd, "_DIGEST_CACHE", {})
    monkeypatch.setattr(nd, "CACHE_STEMS", cache_size)
    rng = np.random.default_rng(0)
    vocab = rng.integers(0, 2**63, 40, dtype=np.uint64)
    for _ in range(4):  # overlapping batches of distinct stems
        batch = np.unique(rng.choice(vocab, 15))
        rng.shuffle(batch)
        got = nd.cached_stem_digests(batch, 48, 7)
        assert np.array_equal(got, nd.stem_digests(batch, 48, 7))
    assert len(nd._DIGEST_CACHE[(48, 7)][0]) <= max(cache_size, 15)


def test_ip_prefix_per_distinct_address_is_ip_prefix():
    import polars as pl

    from distillguard.stage import _ip_prefix_distinct, ip_prefix

    ip = pl.Series(
        "ip", ["1.2.3.4", None, "1.2.3.4", "2001:db8::1", "garbage", "", "300.1.1.1", " 10.0.0.1 ", "1.2.3.9"]
    )
    assert _ip_prefix_distinct(ip).equals(ip_prefix(ip))
    assert _ip_prefix_distinct(ip.head(0)).len() == 0
    assert _ip_prefix_distinct(pl.Series("ip", [None, None], dtype=pl.String)).to_list() == [None, None]


def _env_features(batch, seed=0):
    """Fails unless the worker runs polars with one thread and its allocator's lazy release."""
    import os

    from distillguard.allocators import LAZY_RELEASE, POLARS_ENV
    from distillguard.stage import THREADS_ENV, _default_features

    got = (os.environ.get(THREADS_ENV), os.environ.get(POLARS_ENV, ""))
    if got[0] != "1" or not got[1].endswith(LAZY_RELEASE):
        raise InputError("batch", f"worker environment {got}")
    return _default_features().frame(batch, seed=seed)


def test_workers_get_their_settings_and_a_callers_setting_wins(logs, tmp_path, monkeypatch):
    import os

    from distillguard.allocators import POLARS_DEFAULTS, POLARS_ENV
    from distillguard.stage import THREADS_ENV

    monkeypatch.setattr("distillguard.stage.default_workers", lambda: 2)
    monkeypatch.delenv(THREADS_ENV, raising=False)
    # what this process has once polars is imported (as in every real run)
    monkeypatch.setenv(POLARS_ENV, POLARS_DEFAULTS)
    kw = dict(batch_rows=1_000, workers=2, feature_fn=_env_features)
    st = stage_inputs([logs / "interactions"], None, tmp_path / "w", **kw)
    assert st.rows > 4 * 1_000
    assert THREADS_ENV not in os.environ and os.environ[POLARS_ENV] == POLARS_DEFAULTS
    # a user's own muzzy decay is left as it is
    mine = f"{POLARS_DEFAULTS},muzzy_decay_ms:5000"
    monkeypatch.setenv(POLARS_ENV, mine)
    with pytest.raises(InputError, match="worker environment"):
        stage_inputs([logs / "interactions"], None, tmp_path / "x", **kw)
    assert os.environ[POLARS_ENV] == mine


def test_workers_leave_no_batch_files_and_restore_the_environment(logs, tmp_path, monkeypatch):
    import os

    from distillguard import stage
    from distillguard.allocators import POLARS_ENV
    from distillguard.stage import THREADS_ENV

    monkeypatch.delenv(THREADS_ENV, raising=False)
    monkeypatch.delenv(POLARS_ENV, raising=False)
    shm = tmp_path / "shm"
    shm.mkdir()
    monkeypatch.setattr(stage, "SHARED_ROOT", shm)
    st = stage_inputs([logs / "interactions"], None, tmp_path / "w", batch_rows=1_000, workers=2)
    assert st.rows > 4 * 1_000
    assert THREADS_ENV not in os.environ and POLARS_ENV not in os.environ
    assert not list(shm.iterdir())
    # a failing part: its batches are removed too
    with pytest.raises(InputError):
        stage_inputs(
            [logs / "interactions"],
            None,
            tmp_path / "x",
            batch_rows=1_000,
            workers=2,
            feature_fn=_bad_features,
        )
    assert not list(shm.iterdir()) and THREADS_ENV not in os.environ


def test_rows_hint_counts_parquet_rows_and_knows_nothing_of_text(logs, tmp_path):

    from distillguard.ingest import open_interactions

    src = open_interactions([logs / "interactions"])
    n = sum(pq.ParquetFile(p).metadata.num_rows for p in (logs / "interactions").glob("*.parquet"))
    assert src.rows_hint() == n > 0
    csv = tmp_path / "x.csv"
    csv.write_text("request_id,ts,account_id,prompt\nr1,2024-01-01T00:00:00Z,a,hi\n")
    assert open_interactions([csv]).rows_hint() is None


def test_batches_go_to_the_work_dir_when_shared_memory_is_full(logs, tmp_path, monkeypatch):
    from distillguard import stage

    shm = tmp_path / "shm"
    shm.mkdir()
    monkeypatch.setattr(stage, "SHARED_ROOT", shm)
    real = stage._write_batches
    written = []

    def full(batches, path):  # no space left in "shared memory"
        if path.parent.parent == shm:
            path.write_bytes(b"partial")
            raise OSError(28, "No space left on device")
        written.append(path)
        real(batches, path)

    monkeypatch.setattr(stage, "_write_batches", full)
    one = stage_inputs([logs / "interactions"], None, tmp_path / "a", batch_rows=1_000)
    two = stage_inputs([logs / "interactions"], None, tmp_path / "b", batch_rows=1_000, workers=2)
    assert written and all(p.parent.parent == tmp_path / "b" for p in written)
    assert _rows(one.stage_dir).equals(_rows(two.stage_dir))
    assert not list(shm.iterdir()) and not list((tmp_path / "b").glob("distillguard-batches-*"))


def test_the_modules_preloaded_for_the_analysis_exist():
    """The scan imports these in a thread during the feature phase; a renamed module would be
    skipped silently there (an ImportError is left to the place that uses it)."""
    import importlib.util

    from distillguard.pipeline import _ANALYSIS_MODULES

    assert all(importlib.util.find_spec(name) is not None for name in _ANALYSIS_MODULES)


@pytest.mark.parametrize("workers", [1, 2])
def test_on_started_is_called_once(logs, tmp_path, workers):
    calls = []
    st = stage_inputs(
        [logs / "interactions"],
        None,
        tmp_path / "w",
        batch_rows=1_000,
        workers=workers,
        on_started=lambda: calls.append(1),
    )
    assert st.rows > 0 and calls == [1]


def _register_marker(path: str) -> int:
    import atexit
    from pathlib import Path

    atexit.register(Path(path).write_text, "ran")
    return os.getpid()


def _teardown_marker(path: str) -> None:
    """An object whose finaliser writes ``path`` only if the interpreter tears it down."""

    fd, write = os.open(path, os.O_WRONLY | os.O_CREAT), os.write

    class Witness:
        def __del__(self):
            write(fd, b"torn down")

    globals()["_WITNESS"] = Witness()


def test_workers_exit_without_the_interpreter_teardown(tmp_path):
    """A worker leaves promptly once its pool shuts down: exit handlers registered while it worked
    still run, the teardown that frees every object does not, and the exit status is 0."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    from distillguard.stage import _worker_init

    marker, witness = tmp_path / "atexit", tmp_path / "teardown"
    pool = ProcessPoolExecutor(1, mp_context=mp.get_context("spawn"), initializer=_worker_init)
    pool.submit(_teardown_marker, str(witness)).result()
    pool.submit(_register_marker, str(marker)).result()
    procs = list(pool._processes.values())
    pool.shutdown(wait=True)
    assert marker.read_text() == "ran"
    assert witness.read_bytes() == b""
    assert [p.exitcode for p in procs] == [0]


def test_each_worker_starts_on_a_quarter_batch(logs, tmp_path):
    """A worker's first part is sent once a quarter batch of its rows is read; then whole batches."""
    st = stage_inputs([logs / "interactions"], None, tmp_path / "w", batch_rows=1_000, workers=2)
    sizes = [t.num_rows for t in _parts(st.stage_dir).values()]
    assert all(250 <= n < 1_000 for n in sizes[:2])  # parts 0 and 1: one per worker, from the first batch
    middle = sizes[2:-2]  # (the last part of each worker holds what was left at the end)
    assert middle and all(n >= 1_000 for n in middle)
    assert sum(sizes) == st.rows


def test_batches_of_killed_scans_are_freed_and_no_others(tmp_path, monkeypatch):
    """Shared memory folders whose scan process is gone are removed; a live scan's, and anything not
    named like ours, stay."""
    import subprocess
    import sys

    from distillguard import stage

    monkeypatch.setattr(stage, "SHARED_ROOT", tmp_path)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    names = {
        f"distillguard-batches-{gone.pid}-abc": False,  # its process has ended: removed
        f"distillguard-batches-{os.getpid()}-abc": True,  # a live process
        "distillguard-batches-k2j4_x": True,  # an older name without a process id
        "someone-elses": True,
    }
    for name in names:
        (tmp_path / name).mkdir()
        (tmp_path / name / "part.arrow").write_bytes(b"x")
    fresh = stage._shared_dir(tmp_path / "fallback")
    assert fresh.parent == tmp_path and fresh.name.startswith(f"distillguard-batches-{os.getpid()}-")
    for name, stays in names.items():
        assert (tmp_path / name).exists() == stays, name


def test_bands_staged_as_a_list_read_the_same(logs, tmp_path):
    """A monitoring state keeps row files staged before the bands had a column each (a list of band
    keys): a window that mixes both gives the same results as one staged now."""
    import polars as pl

    from distillguard.pipeline import analyse
    from distillguard.stage import ND_BAND_COLUMNS

    st = stage_inputs([logs / "interactions"], [logs / "accounts.parquet"], tmp_path / "w", batch_rows=2_000)
    new = analyse(st, tmp_path / "a1")
    parts = sorted(st.stage_dir.glob("*.parquet"))
    assert len(parts) >= 2
    for p in parts[: len(parts) // 2]:  # as the earlier format wrote them
        df = pl.read_parquet(p)
        df = df.with_columns(nd_bands=pl.concat_list(ND_BAND_COLUMNS)).drop(ND_BAND_COLUMNS)
        df.write_parquet(p)
    assert "nd_bands" in pq.read_schema(parts[0]).names
    mixed = analyse(st, tmp_path / "a2")
    assert mixed.accounts.equals(new.accounts)
    assert mixed.campaigns == new.campaigns and new.campaigns


@pytest.mark.parametrize("bands_a_query", [1, 5, 32])
def test_key_parts_are_disjoint_and_make_up_each_signals_keys(logs, tmp_path, monkeypatch, bands_a_query):
    """The pipeline materialises a link signal's keys part by part (near-duplicate bands grouped up to
    ``PART_ROWS`` rows a query, at full size one band at a time, so that memory holds one band's
    grouping): the parts must be disjoint and together be exactly the signal's keys."""
    import ibis

    import distillguard.linking.keys as keys_mod
    from distillguard.accounts.counts import AccountCounts
    from distillguard.linking.keys import LINK_SIGNALS, LinkSignal

    st = stage_inputs([logs / "interactions"], None, tmp_path / "w", batch_rows=2_000)
    con = ibis.duckdb.connect()
    staged = con.read_parquet(str(st.stage_dir / "*.parquet"))
    accounts = con.read_parquet(str(logs / "accounts.parquet"))
    counts = AccountCounts.of(staged)
    monkeypatch.setattr(keys_mod, "PART_ROWS", st.rows * bands_a_query)
    cols = ["account_id", "kind", "key", "n", "share"]
    # the signals whose parts are their own computation (the others' one part is :meth:`keys`)
    split = [s for s in LINK_SIGNALS if s.key_parts.__func__ is not LinkSignal.key_parts.__func__]
    assert "link.near_duplicate" in {s.id for s in split}
    for s in split:
        whole = s.keys(staged, accounts, counts)
        parts = s.key_parts(staged, accounts, counts)
        if whole is None:
            assert parts is None
            continue
        frames = [p.to_polars().select(cols) for p in parts]
        keyed = [set(f["key"]) for f in frames]
        assert sum(len(k) for k in keyed) == len(set().union(*keyed)), s.id
        got = pl.concat(frames).sort(cols)
        assert got.equals(whole.to_polars().select(cols).sort(cols)), s.id
        if s.id == "link.near_duplicate":
            assert len(parts) == -(-nd.band_count() // bands_a_query) and got.height > 0


def test_key_row_parts_are_disjoint_and_make_up_each_signals_rows(logs, tmp_path):
    """Attribution groups a signal's key rows part by part (near-duplicate bands one band at a time):
    no key may be in two parts, and together the parts must be exactly the signal's rows."""
    import ibis

    from distillguard.linking.keys import PROFILE_SIGNALS, LinkSignal, SharedNearDuplicate

    st = stage_inputs([logs / "interactions"], None, tmp_path / "w", batch_rows=2_000)
    con = ibis.duckdb.connect()
    staged = con.read_parquet(str(st.stage_dir / "*.parquet"))
    default = LinkSignal.key_row_parts.__func__
    split = [s for s in PROFILE_SIGNALS if s.key_row_parts.__func__ is not default]
    assert "link.near_duplicate" in {s.id for s in split}
    for s in split:
        cols = ["account_id", *s.key_columns]
        frames = [p.to_polars().select(cols) for p in s.key_row_parts(staged)]
        keyed = [set(f.select(s.key_columns).iter_rows()) for f in frames]
        assert sum(len(k) for k in keyed) == len(set().union(*keyed)), s.id
        got = pl.concat(frames).sort(cols)
        assert got.height > 0 and got.equals(s.key_rows(staged).to_polars().select(cols).sort(cols)), s.id
    # and the bands' rows are every band value of every request, read here without the signal's code
    bands = pl.read_parquet(st.stage_dir / "*.parquet").select("account_id", pl.col("^nd_b[0-9]+$"))
    assert bands.width == 1 + nd.band_count()
    every = bands.unpivot(index="account_id", value_name="raw").drop_nulls("raw").select("account_id", "raw")
    parts = SharedNearDuplicate.key_row_parts(staged)
    got = pl.concat([p.to_polars().select("account_id", "raw") for p in parts])
    assert got.sort(["account_id", "raw"]).equals(every.sort(["account_id", "raw"]))


def test_profile_counts_part_by_part_equal_one_query(logs, tmp_path, monkeypatch):
    """Attribution counts the flagged accounts' near-duplicate bands in groups of about ``_PART_ROWS``
    rows (at full size one band at a time): the profiles and results must not depend on how the bands
    were grouped."""
    import distillguard.campaigns.attribute as attribute
    from distillguard.pipeline import analyse

    st = stage_inputs([logs / "interactions"], [logs / "accounts.parquet"], tmp_path / "w", batch_rows=2_000)
    real_counts, real_materialise = attribute._profile_counts, attribute.materialise
    got, tables = {}, {}
    five = None
    for part_rows in (10**12, 1, None):  # one query; a band a query; 5 bands a query
        if part_rows is None:  # (the rows counted are the flagged accounts': the others are dropped first)
            acc = pl.from_arrow(got[10**12, "result"].accounts)
            part_rows = five = 5 * int(acc.filter(pl.col("flagged"))["interactions"].sum())
        monkeypatch.setattr(attribute, "_PART_ROWS", part_rows)
        made = tables.setdefault(part_rows, [])

        def materialise(con, name, obj, replace=False, made=made):
            made.append(name)
            return real_materialise(con, name, obj, replace=replace)

        def counts(*a, part_rows=part_rows, **k):
            got[part_rows] = real_counts(*a, **k)
            return got[part_rows]

        monkeypatch.setattr(attribute, "materialise", materialise)
        monkeypatch.setattr(attribute, "_profile_counts", counts)
        got[part_rows, "result"] = analyse(st, tmp_path / f"a{part_rows}")
    bands = nd.band_count()
    nd_tables = {k: sum(n.startswith("profile_cells_near_duplicate_") for n in v) for k, v in tables.items()}
    assert five and nd_tables == {10**12: 1, 1: bands, five: -(-bands // 5)}
    one = got[10**12]
    assert one[1][0].nnz > 0 and "near_duplicate" in set(one[0]["kind"])
    for k in (1, five):
        assert got[k][0].equals(one[0])
        for a, b in zip(got[k][1], one[1], strict=True):
            assert a.shape == b.shape and (a != b).nnz == 0
        assert got[k, "result"].accounts.equals(got[10**12, "result"].accounts)
        assert got[k, "result"].campaigns == got[10**12, "result"].campaigns and one[1][0].nnz

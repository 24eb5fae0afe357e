"""The feature cache of the staging phase: the same features with or without it, in bounded memory.

``FeatureCache`` remembers feature rows between batches, keyed by a 128-bit hash of the columns
``prompt_features`` reads; ``prompt_features(columns=...)`` computes only the staged columns.
"""

from __future__ import annotations

import functools

import numpy as np
import pyarrow as pa
import pytest

from distillguard.errors import InputError, UsageError
from distillguard.features import PROMPT_FEATURES, FeatureCache, prompt_features, row_keys
from distillguard.ingest import open_interactions
from distillguard.simulate import simulate
from distillguard.stage import stage_inputs


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    out = tmp_path_factory.mktemp("cache") / "logs"
    simulate(out, seed=1013, scale=0.02)
    return out


@pytest.fixture(scope="module")
def stream(logs):
    """The simulated interactions as ingest batches of 700 rows (template traffic repeats across them)."""
    src = open_interactions([logs / "interactions"], batch_rows=700)
    return list(src)


def _table(prompt, system=None, tools=None, ids=None):
    n = len(prompt)
    cols = {"request_id": ids or [f"r{i}" for i in range(n)], "prompt": pa.array(prompt, pa.string())}
    if system is not None:
        cols["system"] = pa.array(system, pa.string())
    if tools is not None:
        cols["tools"] = pa.array(tools, pa.int64())
    return pa.table(cols)


def _same(got: pa.Table, want: pa.Table) -> None:
    assert got.schema.equals(want.schema, check_metadata=True)
    assert got.equals(want)


# --- the cache gives what the function gives --------------------------------------------------------


@pytest.mark.parametrize("max_rows", [50, 400, 1_000_000])
def test_cached_stream_equals_uncached(stream, max_rows):
    cache = FeatureCache(max_rows=max_rows)
    for batch in stream:
        _same(cache(batch, seed=3), prompt_features(batch, seed=3))
        assert len(cache) <= max_rows
    assert cache.hits > 0 and cache.misses > 0  # the stream repeats itself across batches
    assert cache.hits + cache.misses == sum(b.num_rows for b in stream)
    assert cache.computed < cache.misses or max_rows < 400  # repeats inside a batch computed once


def test_cached_stream_of_staged_columns(stream):
    fn = functools.partial(prompt_features, columns=("cot", "capability", "nd_bands", "prompt_chars"))
    cache = FeatureCache(max_rows=300, feature_fn=fn)
    for batch in stream[:6]:
        _same(cache(batch, seed=0), fn(batch, seed=0))
        frame = cache.frame(batch, seed=0)
        assert frame.columns == ["request_id", "cot", "capability", "nd_bands", "prompt_chars"]
        assert frame.to_arrow().cast(fn(batch, seed=0).schema).equals(fn(batch, seed=0))


def test_staged_feature_caches_give_the_staged_columns(stream):
    """What staging runs (prompt-only features keyed on the prompt, the rest on all inputs) gives
    what prompt_features gives for the staged columns, batch after batch."""
    from distillguard.stage import _FEATURES, staged_features

    fn = functools.partial(prompt_features, columns=_FEATURES[1:])
    caches = staged_features()
    for batch in stream[:8]:
        want = fn(batch, seed=2)
        got = caches.frame(batch, seed=2)
        assert got.columns == want.column_names
        assert got.to_arrow().cast(want.schema).equals(want)
    by_prompt, by_row = caches.caches
    assert by_prompt.key_columns == ("prompt",) and by_prompt.computed < by_row.computed


def test_a_prompt_keyed_cache_sees_only_the_prompt():
    seen = []

    def fn(batch, seed=0):
        seen.append(batch.column_names)
        return prompt_features(batch, seed=seed, columns=("skeleton", "nd_bands"))

    cache = FeatureCache(feature_fn=fn, key_columns=("prompt",))
    t = _table(["Solve 2+2.", "Solve 2+2.", "Other"], ["You are a tutor.", None, "x"], [1, 2, None])
    got = cache(t, seed=0)
    assert seen == [["request_id", "prompt"]]  # one call, the distinct prompts only
    assert cache.computed == 2 and got.num_rows == 3
    assert got.column("nd_bands")[0] == got.column("nd_bands")[1]
    with pytest.raises(UsageError, match="key_columns"):
        FeatureCache(key_columns=("prompt", "ip"))


def test_feature_caches_refuse_a_column_from_two_caches():
    from distillguard.features import FeatureCaches

    a = FeatureCache(feature_fn=functools.partial(prompt_features, columns=("cot",)))
    b = FeatureCache(feature_fn=functools.partial(prompt_features, columns=("cot", "skeleton")))
    with pytest.raises(RuntimeError, match="two feature caches"):
        FeatureCaches([a, b]).frame(_table(["Solve 2+2."]))


# (batches fed in order to one cache; every row's inputs appear again later with another request_id)
EDGE_BATCHES = [
    _table(["Solve 2+2.", "", None, "Solve 2+2."], ["You are a tutor.", None, "", ""], [None, 0, 2, 1]),
    _table(
        [None, "", "Solve 2+2.", "Solve 2+2.", "Solve 2+2."],
        ["", "", None, "You are a tutor.", ""],
        [2, None, 0, None, 1],
    ),
    _table(["Solve 2+2.", "Think step by step: 3*3?"]),  # no system, no tools column
    _table(["Solve 2+2.", "Think step by step: 3*3?"], [None, None], [None, None]),  # present, all null
    _table(["Think step by step: 3*3?", "Solve 2+2."], ["You are a tutor.", None], [5, 0]),
]


def test_null_empty_and_missing_inputs_are_told_apart():
    cache = FeatureCache(max_rows=100)
    for i, batch in enumerate(EDGE_BATCHES):
        batch = batch.set_column(0, "request_id", pa.array([f"b{i}-{j}" for j in range(batch.num_rows)]))
        _same(cache(batch, seed=1), prompt_features(batch, seed=1))
    assert cache.hits > 0


def test_row_keys_follow_the_values():
    t = _table(["a", "a", "", None, "a", "a"], ["s", "s", None, None, None, ""], [1, 1, None, None, 0, 1])
    k1, k2 = row_keys(t)
    assert (k1[0], k2[0]) == (k1[1], k2[1])  # equal inputs, equal key
    keys = set(zip(k1.tolist(), k2.tolist(), strict=True))
    assert len(keys) == 5  # "" vs null prompt, null vs 0 tools, null vs "" system: all apart
    # an absent column is an all-null one
    a = row_keys(_table(["x", None]))
    b = row_keys(_table(["x", None], [None, None], [None, None]))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    # the request id is not an input
    c = row_keys(_table(["x", None], ids=["p", "q"]))
    assert np.array_equal(a[0], c[0])


# --- bounded memory, least recently used rows go first ----------------------------------------------


def test_least_recently_used_rows_are_evicted():
    cache = FeatureCache(max_rows=4)  # evicts down to 3 when a call takes it over 4
    cache(_table(["a", "b", "c"]))
    assert len(cache) == 3
    cache(_table(["a"]))  # "a" used again: now the most recent of the three
    assert (cache.hits, cache.computed) == (1, 3)
    cache(_table(["d", "e"]))  # 5 rows > 4: keep the 3 most recently used: d, e, a
    assert len(cache) == 3
    cache(_table(["a", "d", "e"]))
    assert (cache.hits, cache.computed) == (4, 5)
    cache(_table(["b"]))  # evicted: computed again
    assert cache.computed == 6


@pytest.mark.parametrize("max_rows", [50, 400, 1_000_000])
def test_the_sorted_index_is_a_stable_argsort_of_the_keys(stream, max_rows):
    """New keys are merged into the lookup index batch by batch: it stays what sorting gives."""
    cache = FeatureCache(max_rows=max_rows, feature_fn=functools.partial(prompt_features, columns=("cot",)))
    for batch in stream[:8]:
        cache.frame(batch, seed=0)
        assert np.array_equal(cache._sorted, np.argsort(cache._k1, kind="stable"))
        assert np.array_equal(cache._sk1, cache._k1[cache._sorted])
    # equal first halves (a 64-bit collision, forced here) keep their slot order
    cache._insert(cache._k1[:3].copy(), cache._k2[:3] + np.uint64(1))
    assert np.array_equal(cache._sorted, np.argsort(cache._k1, kind="stable"))
    assert np.array_equal(cache._sk1, cache._k1[cache._sorted])


def test_size_stays_bounded_on_a_long_stream():
    cache = FeatureCache(max_rows=64)
    for i in range(12):
        batch = _table([f"prompt {i * 40 + j} about topic {j % 7}" for j in range(40)])
        _same(cache(batch), prompt_features(batch))
        assert len(cache) <= 64


def test_another_seed_starts_afresh():
    cache = FeatureCache()
    batch = _table(["Write a poem about rain.", "Solve 2+2."])
    _same(cache(batch, seed=1), prompt_features(batch, seed=1))
    _same(cache(batch, seed=2), prompt_features(batch, seed=2))
    assert cache.hits == 0 and len(cache) == 2


@pytest.mark.parametrize(
    "batch",
    [
        _table([]),  # empty
        pa.table({"prompt": ["x"]}),  # no request_id
        pa.table({"request_id": ["a"], "prompt": [3]}),  # not text
    ],
)
def test_other_batches_go_to_the_function_whole(batch):
    cache = FeatureCache()
    if batch.num_rows == 0:
        _same(cache(batch), prompt_features(batch))
    else:
        with pytest.raises(InputError):
            cache(batch)
    assert len(cache) == 0


# --- a subset of the feature columns ----------------------------------------------------------------


def test_columns_picks_feature_columns_with_the_same_values(stream):
    batch = stream[0]
    full = prompt_features(batch, seed=4)
    wanted = ("system_fp", "nd_bands", "prompt_chars", "cot")
    part = prompt_features(batch, seed=4, columns=wanted)
    names = [f.name for f in PROMPT_FEATURES if f.name == "request_id" or f.name in wanted]
    assert part.column_names == names
    assert part.equals(full.select(names))
    assert part.schema.metadata == full.schema.metadata


def test_unwanted_language_guess_is_not_computed():
    from distillguard.signals.prompt.context import PromptContext
    from distillguard.signals.prompt.system import PromptBasics

    table = _table(["Bonjour, comment allez-vous ?"])
    out = prompt_features(table, columns=("prompt_chars",)).to_pylist()
    assert out == [{"request_id": "r0", "prompt_chars": 29}]
    skipped = PromptBasics().compute(PromptContext(table, outputs={"prompt_chars"}))
    assert skipped["prompt_lang"].to_pylist() == [None] and skipped["prompt_chars"].to_pylist() == [29]
    assert PromptBasics().compute(PromptContext(table))["prompt_lang"].to_pylist() == ["fr"]


def test_unknown_feature_column_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown prompt feature columns"):
        prompt_features(_table(["x"]), columns=("cot", "nope"))


# --- staging: the default (cached, staged columns only) stages what the plain function stages -------


@pytest.mark.parametrize("workers", [1, 2])
def test_staging_with_the_cache_equals_staging_without(logs, tmp_path, workers):
    import polars as pl

    kw = {"batch_rows": 700, "workers": workers}
    cached = stage_inputs([logs / "interactions"], None, tmp_path / "a", **kw)
    plain = stage_inputs([logs / "interactions"], None, tmp_path / "b", **kw, feature_fn=prompt_features)
    a = pl.read_parquet(cached.stage_dir / "*.parquet")
    b = pl.read_parquet(plain.stage_dir / "*.parquet")
    assert a.height == b.height == cached.rows > 2_000
    assert a.equals(b)

"""Per-prompt features: the batch entry point that runs every registered prompt signal.

``prompt_features(batch, seed=...)`` returns one row per input row, in input order, with the
columns of :data:`PROMPT_FEATURES`. It builds one
:class:`~distillguard.signals.prompt.context.PromptContext` (the text work done once: lower-cased
bounded windows, masked text, word lists, the distinct-window index) and hands it to every
registered prompt-level signal (``distillguard.signals.prompt``). It is a pure function of the
batch and the seed: the same rows give the same features in any batch, so fingerprints and band
keys can be compared across batches computed with the same seed.

Columns (the ``description`` metadata of each field says the same):

==================  ================  ==========================================================
column              type              meaning
==================  ================  ==========================================================
request_id          string            copied from the input
cot                 float32 [0,1]     chain-of-thought elicitation strength in prompt + system
cot_lang            string            ISO 639-1 of the strongest matched CoT pattern, null if none
cot_tagged          bool              demands the reasoning inside tags (<think>, [THOUGHT] ...)
capability          string            one of ``CAPABILITIES`` (general_chat when no evidence)
capability_score    float32 [0,1]     evidence for that capability (0 for general_chat)
dataset_shape       float32 [0,1]     how much the request looks like a training-set row
dataset_kind        string            rubric, generate_n, json_pairs, instruction_response, few_shot
skeleton            uint64            template skeleton fingerprint (masked head + tail words)
head_fp             uint64            fingerprint of the first 8 masked words
tail_fp             uint64            fingerprint of the last 8 masked words
nd_bands            list<uint64>      MinHash LSH band keys (share one = near-duplicate candidates)
system_fp           uint64            hash of the normalised system prompt, null when none
prompt_chars        int32             prompt length in characters
prompt_lang         string            coarse language: en es fr de pt zh ja ko ru ar other
dataset_item        uint32            item of the public-dataset index held (``dataset_index``)
dataset_cover       float32 [0,1]     share of that item's word shingles found in the prompt
==================  ================  ==========================================================

Every prompt-derived column is null for a row whose prompt is null; ``system_fp`` is null where
there is no system prompt (or no ``system`` column). Scores are evidence, never verdicts.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

import numpy as np
import polars as pl
import pyarrow as pa

from distillguard.errors import InputError, UsageError
from distillguard.signals.prompt.base import prompt_signals
from distillguard.signals.prompt.capability import CAPABILITIES
from distillguard.signals.prompt.context import PromptContext
from distillguard.signals.prompt.dataset_shape import DATASET_KINDS
from distillguard.signals.prompt.near_duplicate import lsh_params


def _f(name: str, typ: pa.DataType, description: str) -> pa.Field:
    return pa.field(name, typ, nullable=True, metadata={"description": description})


#: The output schema of :func:`prompt_features` (metadata records the derived LSH parameters).
PROMPT_FEATURES: pa.Schema = pa.schema(
    [
        _f("request_id", pa.string(), "request_id of the input row"),
        _f("cot", pa.float32(), "chain-of-thought elicitation strength in prompt + system, [0, 1]"),
        _f("cot_lang", pa.string(), "ISO 639-1 code of the strongest matched CoT pattern; null if none"),
        _f("cot_tagged", pa.bool_(), "demands reasoning inside tags such as <think>...</think>"),
        _f("capability", pa.string(), "capability category, one of: " + ", ".join(CAPABILITIES)),
        _f("capability_score", pa.float32(), "evidence for the capability, [0, 1]; 0 for general_chat"),
        _f("dataset_shape", pa.float32(), "how much the request looks like a training-set row, [0, 1]"),
        _f("dataset_kind", pa.string(), "strongest dataset shape, one of: " + ", ".join(DATASET_KINDS)),
        _f("skeleton", pa.uint64(), "template skeleton fingerprint (masked, filler-free head + tail words)"),
        _f("head_fp", pa.uint64(), "fingerprint of the first 8 masked words"),
        _f("tail_fp", pa.uint64(), "fingerprint of the last 8 masked words"),
        _f(
            "nd_bands",
            pa.list_(pa.uint64()),
            "MinHash LSH band keys; sharing one = near-duplicate candidates",
        ),
        _f("system_fp", pa.uint64(), "hash of the normalised system prompt; null when none"),
        _f("prompt_chars", pa.int32(), "prompt length in characters"),
        _f("prompt_lang", pa.string(), "coarse language guess: en es fr de pt zh ja ko ru ar other"),
        _f("dataset_item", pa.uint32(), "item of the public-dataset index the prompt holds; null if none"),
        _f("dataset_cover", pa.float32(), "share of the best item's shingles in the prompt; null: no index"),
    ],
    metadata={"nd_lsh": lsh_params().describe()},
)


def _is_text(typ: pa.DataType) -> bool:
    return pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_null(typ)


def prompt_features(
    batch: pa.RecordBatch | pa.Table,
    *,
    seed: int = 0,
    similarity_threshold: float | None = None,
    columns: Collection[str] | None = None,
    dataset_index: str | None = None,
) -> pa.Table:
    """One output row per input row, same order. Input has the columns of schema.INTERACTIONS
    (optional ones may be all-null). Pure function of the batch + seed; deterministic.

    Only ``request_id`` must be present (a missing ``prompt`` column gives null features); other
    optional columns are used when present (``system``, ``tools``). ``similarity_threshold`` (in
    (0, 1), default 0.3) is the Jaccard similarity at which two prompt windows should share an
    ``nd_bands`` key; the derived bands and rows are recorded in the result's schema metadata
    (``nd_lsh``). Band keys are only comparable between results with the same seed and threshold.

    ``dataset_index``: the folder of a public-dataset index (``distillguard index build``); without
    one ``dataset_item`` and ``dataset_cover`` are null.

    ``columns`` (default: all) picks the feature columns wanted: the result has ``request_id`` and
    those, in schema order, with the same values as in the full result; a signal that produces none
    of them is not run (and a signal may skip an unwanted output's work).
    """
    wanted = None if columns is None else frozenset(columns)
    if wanted is not None and (unknown := wanted - set(PROMPT_FEATURES.names)):
        raise UsageError(f"unknown prompt feature columns: {sorted(unknown)}")
    if similarity_threshold is not None and not 0.0 < similarity_threshold < 1.0:
        raise UsageError(
            f"similarity_threshold must be between 0 and 1 (exclusive), got {similarity_threshold}"
        )
    names = batch.schema.names
    if "request_id" not in names:
        raise InputError("prompt_features batch", "no 'request_id' column")
    for col in ("prompt", "system"):
        if col in names and not _is_text(typ := batch.schema.field(col).type):
            raise InputError("prompt_features batch", f"column {col!r} must be text, got {typ}")
    ctx = PromptContext(
        batch, seed=seed, similarity_threshold=similarity_threshold, outputs=wanted,
        dataset_index=dataset_index,
    )
    produced: dict[str, pa.Array] = {}
    for cls in prompt_signals():
        if wanted is not None and wanted.isdisjoint(cls.outputs):
            continue
        for name, arr in cls().compute(ctx).items():
            if name in produced:
                raise RuntimeError(f"{cls.id}: column {name!r} is produced by two signals")
            produced[name] = arr
    rid = ctx.table.column("request_id").combine_chunks().cast(pa.string())
    fields, arrays = [], []
    for field in PROMPT_FEATURES:
        if field.name == "request_id":
            arrays.append(rid)
        elif wanted is not None and field.name not in wanted:
            continue
        elif field.name in produced:
            arrays.append(produced[field.name])
        else:
            raise RuntimeError(f"no registered prompt signal produces {field.name!r}")
        fields.append(field)
    table = pa.Table.from_arrays(arrays, schema=pa.schema(fields, metadata=PROMPT_FEATURES.metadata))
    if similarity_threshold is not None:
        meta = dict(PROMPT_FEATURES.metadata)
        meta[b"nd_lsh"] = lsh_params(similarity_threshold).describe().encode()
        table = table.replace_schema_metadata(meta)
    return table


#: the input columns :func:`prompt_features` reads besides ``request_id`` (which it only copies)
FEATURE_INPUTS: tuple[str, ...] = ("prompt", "system", "tools")
#: feature rows a :class:`FeatureCache` keeps between batches by default (about 350 bytes each with
#: all the staged columns: ~90 MB). Measured on the 1.1M-row bench (a worker of two sees 557K rows,
#: 332K distinct): 39% of rows remembered at 131K, 43% at 262K, 44% unbounded.
CACHE_ROWS = 262_144
#: the seeds of the two 64-bit halves of a row key
_KEY_SEEDS = (0x5EED_0001, 0x5EED_0002)
#: the polars type each key column is hashed as (text for any other)
_KEY_TYPES: dict[str, pl.DataType] = {"tools": pl.Int64()}


def row_keys(table: pa.Table, columns: Sequence[str] = FEATURE_INPUTS) -> tuple[np.ndarray, np.ndarray]:
    """A 128-bit key per row (two uint64 halves) of the values in ``columns``.

    Each half is polars' row hash (``DataFrame.hash_rows``) under its own seed; a null hashes
    apart from any value (``""`` and null differ) and an absent column counts as all-null. Rows
    with equal values have equal keys; two rows with different values share one only when both
    seeded 64-bit hashes collide. (Polars' hash may change between polars versions: the keys are
    for use within one process. Measured: 8 ms per 65K-row batch, a third of two xxhash64 passes.)
    """
    n = table.num_rows
    cols = []
    for name in columns:
        typ = _KEY_TYPES.get(name, pl.String())
        if name in table.column_names:
            col = table.column(name)
            s = pl.Series(name, col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col)
            if not s.dtype.is_integer():
                typ = pl.String()
            s = s.cast(typ)
        else:
            s = pl.Series(name, [None] * n, dtype=typ)
        cols.append(s)
    frame = pl.DataFrame(cols)
    k1, k2 = (frame.hash_rows(seed).to_numpy().astype(np.uint64) for seed in _KEY_SEEDS)
    return k1, k2


class FeatureCache:
    """:func:`prompt_features` (or another pure feature function) remembering rows between batches.

    Features are a pure function of a row's :data:`FEATURE_INPUTS` and the seed, and template
    traffic repeats exactly (retries, evaluation harnesses, application back ends), so a row whose
    inputs were seen in an earlier batch takes the remembered feature row; only the distinct unseen
    rows of a batch are computed (in one call of the wrapped function, which still shares its text
    work per distinct prompt). The result is the wrapped function's result for the whole batch.

    Memory is bounded: after a call at most ``max_rows`` rows are kept (about 350 bytes each with
    the staged feature columns: ~90 MB at :data:`CACHE_ROWS`). When a call takes it over, the
    least recently used rows are dropped until ``3/4 * max_rows`` remain (so eviction runs every
    few batches, not every batch). A call with another seed starts afresh. ``hits`` counts the rows
    whose inputs were remembered from an earlier batch, ``misses`` the others, ``computed`` the
    distinct rows computed.

    ``key_columns`` (default: all of :data:`FEATURE_INPUTS`) are the inputs rows are keyed on, and
    the only ones the wrapped function is given: for features of the prompt alone, key on
    ``("prompt",)`` and a prompt sent with several system prompts is computed once.
    """

    def __init__(
        self,
        max_rows: int = CACHE_ROWS,
        feature_fn: Callable[..., pa.Table] | None = None,
        key_columns: Sequence[str] = FEATURE_INPUTS,
    ) -> None:
        unknown = set(key_columns) - set(FEATURE_INPUTS)
        if unknown or not key_columns:
            raise UsageError(f"key_columns must be some of {list(FEATURE_INPUTS)}, got {list(key_columns)}")
        self.max_rows = int(max_rows)
        self.feature_fn = feature_fn if feature_fn is not None else prompt_features
        self.key_columns = tuple(key_columns)
        self.hits = 0
        self.misses = 0
        self.computed = 0
        self.seed: int | None = None
        self._clear()

    def _clear(self) -> None:
        self._k1 = np.zeros(0, dtype=np.uint64)  # slot -> key halves
        self._k2 = np.zeros(0, dtype=np.uint64)
        self._sorted = np.zeros(0, dtype=np.int64)  # slots in k1 order
        self._sk1 = np.zeros(0, dtype=np.uint64)  # k1 in that order
        self._last = np.zeros(0, dtype=np.int64)  # slot -> tick of its last use
        self._rows: pl.DataFrame | None = None  # slot -> feature row (without request_id)
        self._schema: pa.Schema | None = None
        self._tick = 0

    def __len__(self) -> int:
        return len(self._k1)

    def _lookup(self, k1: np.ndarray, k2: np.ndarray) -> np.ndarray:
        """Slot of each key, -1 where it is not kept."""
        slots = np.full(len(k1), -1, dtype=np.int64)
        if not len(self._k1):
            return slots
        pos = np.minimum(np.searchsorted(self._sk1, k1), len(self._sk1) - 1)
        cand = self._sorted[pos]
        hit = (self._k1[cand] == k1) & (self._k2[cand] == k2)
        slots[hit] = cand[hit]
        return slots

    def __call__(self, batch: pa.RecordBatch | pa.Table, *, seed: int = 0) -> pa.Table:
        """The wrapped function's result for ``batch`` (same schema, same values)."""
        table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
        if not self._cacheable(table):
            return self.feature_fn(table, seed=seed)
        out = self.frame(table, seed=seed).to_arrow()
        assert self._schema is not None
        return out.cast(self._schema)

    def _cacheable(self, table: pa.Table) -> bool:
        names = table.column_names
        types = [table.schema.field(c).type for c in ("prompt", "system") if c in names]
        # (anything else goes to the wrapped function whole: its errors are its own to raise)
        usable = self.max_rows > 0 and table.num_rows > 0 and "request_id" in names
        return usable and all(map(_is_text, types))

    def frame(self, batch: pa.RecordBatch | pa.Table, *, seed: int = 0) -> pl.DataFrame:
        """The wrapped function's result for ``batch`` as a polars frame (what staging reads)."""
        table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
        if not self._cacheable(table):
            out = pl.from_arrow(self.feature_fn(table, seed=seed))
            assert isinstance(out, pl.DataFrame)
            return out
        if seed != self.seed:
            self._clear()
            self.seed = seed
        self._tick += 1
        k1, k2 = row_keys(table, self.key_columns)
        # distinct keys of the batch: by the first half, the second half checked
        _, first, inverse = np.unique(k1, return_index=True, return_inverse=True)
        inverse = inverse.reshape(-1)
        if not np.array_equal(k2[first][inverse], k2):  # a 64-bit collision: distinct on both halves
            pairs = np.rec.fromarrays([k1, k2])
            _, first, inverse = np.unique(pairs, return_index=True, return_inverse=True)
            inverse = inverse.reshape(-1)
        uk1, uk2 = k1[first], k2[first]
        slots = self._lookup(uk1, uk2)
        miss = np.flatnonzero(slots < 0)
        remembered = int(np.count_nonzero(slots[inverse] >= 0))
        self.hits += remembered
        self.misses += table.num_rows - remembered
        self.computed += len(miss)
        if len(miss):
            inputs = ["request_id", *(c for c in self.key_columns if c in table.column_names)]
            computed = self.feature_fn(table.select(inputs).take(pa.array(first[miss])), seed=seed)
            if self._schema is None:
                self._schema = computed.schema
            new = pl.from_arrow(computed.drop_columns(["request_id"]))
            assert isinstance(new, pl.DataFrame)
            slots[miss] = len(self._k1) + np.arange(len(miss))
            # (chunked: a gather from it costs less than copying the whole store into one chunk)
            self._rows = new if self._rows is None else pl.concat([self._rows, new], rechunk=False)
            self._insert(uk1[miss], uk2[miss])
        self._last[slots] = self._tick
        assert self._rows is not None
        rid = pl.Series("request_id", table.column("request_id").combine_chunks().cast(pa.string()))
        out = self._rows[slots[inverse]].insert_column(0, rid)
        if len(self._k1) > self.max_rows:
            self._evict(self.max_rows * 3 // 4)
        return out

    def _insert(self, k1: np.ndarray, k2: np.ndarray) -> None:
        """Append the keys of new slots and merge them into the sorted index (the order a stable
        argsort of all keys gives: equal keys by slot, the new slots last; an argsort of the whole
        store after each batch cost ~25 ms at 262K keys)."""
        first = len(self._k1)
        order = np.argsort(k1, kind="stable")
        at = np.searchsorted(self._sk1, k1[order], side="right")
        self._sorted = np.insert(self._sorted, at, first + order)
        self._sk1 = np.insert(self._sk1, at, k1[order])
        self._k1 = np.concatenate([self._k1, k1])
        self._k2 = np.concatenate([self._k2, k2])
        self._last = np.concatenate([self._last, np.zeros(len(k1), dtype=np.int64)])

    def _evict(self, keep: int) -> None:
        """Keep the ``keep`` most recently used rows."""
        order = np.argsort(-self._last, kind="stable")[:keep]
        order.sort()  # (older slots first: the store keeps its insertion order)
        assert self._rows is not None
        self._rows = self._rows[order].rechunk()
        self._k1, self._k2, self._last = self._k1[order], self._k2[order], self._last[order]
        self._sorted = np.argsort(self._k1, kind="stable")
        self._sk1 = self._k1[self._sorted]


class FeatureCaches:
    """Several :class:`FeatureCache` side by side, each computing its own columns: the result of
    :meth:`frame` is ``request_id`` and the columns of every cache, in :data:`PROMPT_FEATURES` order.

    What staging runs (:func:`distillguard.stage.staged_features`): the features of the prompt alone
    (the costly text work: masking, words, MinHash) keyed on the prompt, the others (which also read
    the system prompt and tools) on all inputs. Measured on the 1.1M-row bench: a worker of two
    meets 218K distinct prompts among 287K distinct (prompt, system prompt, tools) rows.
    """

    def __init__(self, caches: Sequence[FeatureCache]) -> None:
        if not caches:
            raise UsageError("FeatureCaches needs at least one cache")
        self.caches = tuple(caches)

    def __len__(self) -> int:
        return sum(len(c) for c in self.caches)

    def frame(self, batch: pa.RecordBatch | pa.Table, *, seed: int = 0) -> pl.DataFrame:
        frames = [c.frame(batch, seed=seed) for c in self.caches]
        out = frames[0]
        for f in frames[1:]:
            dup = set(out.columns) & set(f.columns) - {"request_id"}
            if dup:
                raise RuntimeError(f"columns {sorted(dup)} come from two feature caches")
            out = out.hstack(f.drop("request_id"))
        return out.select([c for c in PROMPT_FEATURES.names if c in out.columns])

    def __call__(self, batch: pa.RecordBatch | pa.Table, *, seed: int = 0) -> pa.Table:
        return self.frame(batch, seed=seed).to_arrow()

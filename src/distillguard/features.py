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
==================  ================  ==========================================================

Every prompt-derived column is null for a row whose prompt is null; ``system_fp`` is null where
there is no system prompt (or no ``system`` column). Scores are evidence, never verdicts.
"""

from __future__ import annotations

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
    ],
    metadata={"nd_lsh": lsh_params().describe()},
)


def prompt_features(
    batch: pa.RecordBatch | pa.Table, *, seed: int = 0, similarity_threshold: float | None = None
) -> pa.Table:
    """One output row per input row, same order. Input has the columns of schema.INTERACTIONS
    (optional ones may be all-null). Pure function of the batch + seed; deterministic.

    Only ``request_id`` must be present (a missing ``prompt`` column gives null features); other
    optional columns are used when present (``system``, ``tools``). ``similarity_threshold`` (in
    (0, 1), default 0.3) is the Jaccard similarity at which two prompt windows should share an
    ``nd_bands`` key; the derived bands and rows are recorded in the result's schema metadata
    (``nd_lsh``). Band keys are only comparable between results with the same seed and threshold.
    """
    if similarity_threshold is not None and not 0.0 < similarity_threshold < 1.0:
        raise UsageError(
            f"similarity_threshold must be between 0 and 1 (exclusive), got {similarity_threshold}"
        )
    names = batch.schema.names
    if "request_id" not in names:
        raise InputError("prompt_features batch", "no 'request_id' column")
    for col in ("prompt", "system"):
        if col in names and not (
            pa.types.is_string(batch.schema.field(col).type)
            or pa.types.is_large_string(batch.schema.field(col).type)
            or pa.types.is_null(batch.schema.field(col).type)
        ):
            typ = batch.schema.field(col).type
            raise InputError("prompt_features batch", f"column {col!r} must be text, got {typ}")
    ctx = PromptContext(batch, seed=seed, similarity_threshold=similarity_threshold)
    columns: dict[str, pa.Array] = {}
    for cls in prompt_signals():
        for name, arr in cls().compute(ctx).items():
            if name in columns:
                raise RuntimeError(f"{cls.id}: column {name!r} is produced by two signals")
            columns[name] = arr
    rid = ctx.table.column("request_id").combine_chunks().cast(pa.string())
    arrays = []
    for field in PROMPT_FEATURES:
        if field.name == "request_id":
            arrays.append(rid)
        elif field.name in columns:
            arrays.append(columns[field.name])
        else:
            raise RuntimeError(f"no registered prompt signal produces {field.name!r}")
    table = pa.Table.from_arrays(arrays, schema=PROMPT_FEATURES)
    if similarity_threshold is not None:
        meta = dict(PROMPT_FEATURES.metadata)
        meta[b"nd_lsh"] = lsh_params(similarity_threshold).describe().encode()
        table = table.replace_schema_metadata(meta)
    return table

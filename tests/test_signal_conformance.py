"""Conformance checks over every registered signal (all levels), and behaviour checks for prompt signals."""

from __future__ import annotations

import importlib
import pkgutil
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from distillguard.features import PROMPT_FEATURES, prompt_features
from distillguard.schema import ACCOUNTS, INTERACTIONS
from distillguard.signals.base import REGISTRY, load_all
from distillguard.signals.prompt.base import PromptSignal
from distillguard.signals.prompt.capability import CAPABILITIES
from distillguard.signals.prompt.context import PromptContext
from distillguard.signals.prompt.dataset_shape import DATASET_KINDS


def _import_everything() -> dict[str, str]:
    """Import every module of the package (signals register where they are defined: ``signals/``,
    ``linking/``, ``accounts/`` ...). Returns ``{module: error}`` for modules that fail to import."""
    import distillguard

    errors = {}
    for mod in pkgutil.walk_packages(distillguard.__path__, "distillguard."):
        try:
            importlib.import_module(mod.name)
        except Exception as exc:  # reported by test_every_module_imports
            errors[mod.name] = f"{type(exc).__name__}: {exc}"
    return errors


IMPORT_ERRORS = _import_everything()
load_all()
ALL_IDS = sorted(REGISTRY)
PROMPT_IDS = sorted(sid for sid, cls in REGISTRY.items() if cls.level == "prompt")

ID_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
LOG_COLUMNS = set(INTERACTIONS.names) | {f"accounts.{c}" for c in ACCOUNTS.names}

#: value checks per output column type: (column, predicate over the non-null python values)
UNIT = ("cot", "capability_score", "dataset_shape")
VOCAB = {
    "capability": set(CAPABILITIES),
    "dataset_kind": set(DATASET_KINDS),
    "prompt_lang": {"en", "es", "fr", "de", "pt", "zh", "ja", "ko", "ru", "ar", "other"},
}
HASHES = ("skeleton", "head_fp", "tail_fp", "system_fp")


def sample_batch() -> pa.Table:
    prompts = [
        "Let's think step by step. A train leaves at 3 pm at 60 km/h; when does it arrive 180 km away?",
        "请一步一步地思考，并把推理过程写在<think>标签里：x + 3 = 7，求 x。",
        "Write a Python function that reverses a linked list.\n```python\nclass Node: ...\n```",
        "Rate the following response on a scale of 1 to 10 using the rubric below.",
        "",
        None,
        'Generate 20 diverse questions about photosynthesis as JSON with keys "question" and "answer".',
        "hi, how are you today?",
    ]
    n = len(prompts)
    return pa.table(
        {
            "request_id": [f"r{i}" for i in range(n)],
            "account_id": ["a"] * n,
            "prompt": pa.array(prompts, pa.string()),
            "system": pa.array([None, "You are a careful tutor.", "", None, None, None, "Be terse.", None]),
            "tools": pa.array([0, 0, 3, None, 0, 0, 0, 0], pa.int64()),
        }
    )


def test_every_module_imports():
    assert not IMPORT_ERRORS


def test_registry_has_the_prompt_signals():
    expected = {
        "prompt.cot_elicitation",
        "prompt.capability",
        "prompt.dataset_shape",
        "prompt.template_skeleton",
        "prompt.near_duplicate",
        "prompt.system_fingerprint",
    }
    assert expected <= set(PROMPT_IDS)


@pytest.mark.parametrize("sid", ALL_IDS)
def test_signal_metadata(sid):
    cls = REGISTRY[sid]
    assert ID_RE.match(sid), f"{sid}: not a dotted lower-case id"
    assert cls.id == sid
    assert cls.level in ("prompt", "account", "link")
    assert cls.description().strip(), f"{sid}: no docstring"
    unknown = set(cls.requires) - LOG_COLUMNS
    assert not unknown, f"{sid}: requires columns not in the log format: {unknown}"
    if cls.level == "prompt":
        assert sid.startswith("prompt."), sid


def test_prompt_signals_cover_the_schema():
    produced = [name for sid in PROMPT_IDS for name in getattr(REGISTRY[sid], "outputs", ())]
    assert len(produced) == len(set(produced)), "an output column is produced by two signals"
    assert set(produced) == set(PROMPT_FEATURES.names) - {"request_id"}
    for name in PROMPT_FEATURES.names:
        assert PROMPT_FEATURES.field(name).metadata[b"description"]


@pytest.mark.parametrize("sid", PROMPT_IDS)
def test_prompt_signal_outputs(sid):
    cls = REGISTRY[sid]
    assert issubclass(cls, PromptSignal)
    batch = sample_batch()
    out = cls().compute(PromptContext(batch, seed=3))
    assert set(out) == set(cls.outputs)
    null_prompt = pc.is_null(batch.column("prompt")).to_numpy(zero_copy_only=False)
    for name, arr in out.items():
        assert len(arr) == batch.num_rows, name
        assert arr.type == PROMPT_FEATURES.field(name).type, name
        values = arr.to_pylist()
        if "prompt" in cls.requires:
            assert all(values[i] is None for i in np.flatnonzero(null_prompt)), (
                f"{name}: value for a null prompt"
            )
        present = [v for v in values if v is not None]
        if name in UNIT:
            assert all(0.0 <= v <= 1.0 for v in present), name
        if name in VOCAB:
            assert set(present) <= VOCAB[name], name
        if name == "nd_bands":
            assert len({len(v) for v in present}) == 1, "every band list has the same length"


@pytest.mark.parametrize("sid", PROMPT_IDS)
@pytest.mark.parametrize("drop", ["absent", "all_null"])
def test_prompt_signal_nulls_when_inputs_missing(sid, drop):
    cls = REGISTRY[sid]
    batch = sample_batch()
    for col in cls.requires:
        i = batch.schema.get_field_index(col)
        if drop == "absent":
            batch = batch.remove_column(i)
        else:
            batch = batch.set_column(i, col, pa.nulls(batch.num_rows, batch.schema.field(col).type))
    if not cls.requires:
        pytest.skip("no required columns")
    out = cls().compute(PromptContext(batch))
    for name, arr in out.items():
        assert len(arr) == batch.num_rows
        assert arr.null_count == batch.num_rows, f"{sid}.{name} not null without {cls.requires}"


@pytest.mark.parametrize("sid", PROMPT_IDS)
def test_prompt_signal_deterministic(sid):
    cls = REGISTRY[sid]
    a = cls().compute(PromptContext(sample_batch(), seed=11))
    b = cls().compute(PromptContext(sample_batch(), seed=11))
    for name in a:
        assert a[name].equals(b[name]), name


@pytest.mark.parametrize("column", [*HASHES, "nd_bands"])
def test_seed_changes_fingerprints_only(column):
    a = prompt_features(sample_batch(), seed=1)
    b = prompt_features(sample_batch(), seed=2)
    va = [v for v in a.column(column).to_pylist() if v is not None]
    vb = [v for v in b.column(column).to_pylist() if v is not None]
    assert va and len(va) == len(vb)
    assert all(x != y for x, y in zip(va, vb, strict=True))
    for col in ("cot", "capability", "dataset_shape", "prompt_lang"):
        assert a.column(col).equals(b.column(col))


# --- account signals ------------------------------------------------------------------------------

ACCOUNT_IDS = sorted(sid for sid, cls in REGISTRY.items() if cls.level == "account")


def _feature_column(name: str, rng: np.random.Generator, n: int, nulls: bool):
    """Plausible values of one account-feature column (a quarter null when ``nulls``)."""
    import datetime as dt

    import polars as pl

    if name == "tier":
        values = rng.choice(["free", "edu", "startup", "research", "enterprise"], n).tolist()
    elif name == "verified":
        values = (rng.random(n) < 0.3).tolist()
    elif name == "first_seen":
        t0 = dt.datetime(2026, 4, 22, tzinfo=dt.UTC)
        values = [t0 + dt.timedelta(hours=float(h)) for h in rng.uniform(0, 300, n)]
    else:  # counts, shares, hours, days, token means: from 0 to large
        values = (rng.lognormal(0.0, 2.0, n) * rng.choice([0.0, 0.01, 1.0, 100.0], n)).tolist()
    if nulls:
        values = [None if rng.random() < 0.25 else v for v in values]
    return pl.Series(name, values)


@pytest.mark.parametrize("sid", ACCOUNT_IDS)
@pytest.mark.parametrize("nulls", [False, True])
def test_account_signal_values_are_unit_or_null_and_deterministic(sid, nulls):
    import polars as pl

    cls = REGISTRY[sid]
    names = set(cls.expr().meta.root_names()) | {cls.raw}
    for seed in range(5):
        rng = np.random.default_rng(seed)
        feats = pl.DataFrame([_feature_column(c, rng, 200, nulls) for c in sorted(names)])
        out = feats.select(cls.expr().cast(pl.Float64).alias("v"))["v"]
        assert out.len() == 200
        present = out.drop_nulls()
        assert not present.is_nan().any(), sid
        assert present.is_between(0.0, 1.0).all(), (sid, present.min(), present.max())
        assert feats.select(cls.expr().cast(pl.Float64).alias("v"))["v"].equals(out)
    assert cls.reason(0.5, 0.1)  # an analyst can read why

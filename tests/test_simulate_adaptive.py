"""The simulator's evasion knobs, the ``adaptive`` scenario and its look-alikes; old scenarios unchanged.

Seeds here are >= 1000 and were not looked at while the simulator was tuned.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl
import pytest

from distillguard.simulate import simulate


def content_digest(out: Path) -> str:
    """A digest of what a simulation wrote: every table's schema and rows, and scenario.json.

    Values, not file bytes, so the pins below survive a new Parquet writer; the package version
    (recorded in scenario.json) and the folder manifest (file digests) are left out.
    """
    h = hashlib.sha256()
    for p in sorted(out.rglob("*")):
        rel = p.relative_to(out).as_posix()
        if not p.is_file() or rel == "distillguard-manifest.json":
            continue
        h.update(rel.encode() + b"\0")
        if p.suffix == ".parquet":
            df = pl.read_parquet(p)
            h.update(repr(df.schema).encode())
            for row in df.iter_rows():
                h.update(repr(row).encode())
        elif p.name == "scenario.json":
            meta = json.loads(p.read_text())
            meta.pop("distillguard_version", None)
            h.update(json.dumps(meta, sort_keys=True).encode())
        else:
            h.update(p.read_bytes())
    return h.hexdigest()[:32]


# recorded with the simulator of commit 68c5fe1, before the evasion knobs existed (seed 1020, 2 days);
# the shipped scorer was fitted on these scenarios and the held-out quality table measures them
PINNED = [
    ("default", 0.05, False, "0720b80a580f6d49a6fbc9238ec38a7b"),
    ("hard-lookalikes", 0.05, False, "3e19db7fd381a049c72c7240d24b7f1e"),
    ("hydra-reseller", 0.001, False, "1617c02e57dc214f8e0c6c36d78b79fe"),
    ("cot-and-sweeps", 0.05, False, "bb461464a81fdb794cfeaff961e5d56c"),
    ("low-and-slow", 0.05, False, "200c08194793e342788e8a87c91e9105"),
    ("default", 0.05, True, "13a655c0c80d025573a4f65b1f4ee58c"),
    ("hard-lookalikes", 0.05, True, "ad8ecf2b17df31d4ab379f80aa6c9eeb"),
]


@pytest.mark.parametrize(("name", "scale", "real", "digest"), PINNED)
def test_existing_scenarios_keep_their_output(tmp_path, request, name, scale, real, digest):
    """Same seed, same rows as before the knobs: new randomness comes from generators of its own."""
    prompts = request.getfixturevalue("prompts_dir") if real else None
    out = tmp_path / "o"
    simulate(out, scenario=name, seed=1020, scale=scale, days=2, prompts_dir=prompts, responses=real)
    assert content_digest(out) == digest

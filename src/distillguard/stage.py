"""Ingest + per-prompt features + staging: the first phase of a scan.

Interaction batches are validated (``distillguard.ingest``), their per-prompt features computed
(``distillguard.features``) and the narrow columns the analysis phase reads written as Parquet parts
to a work directory (``Staged``). The analysis phase (``distillguard.pipeline.analyse``) reads only
those parts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from distillguard.ingest import AccountsRead, IngestStats

Progress = Callable[[str, float], None]
FeatureFn = Callable[..., pa.Table]

#: staged columns taken from the interactions (the rest of the contract is not needed after staging)
_KEEP = (
    "request_id",
    "ts",
    "account_id",
    "org_id",
    "turn",
    "model",
    "ip",
    "asn",
    "country",
    "user_agent",
    "input_tokens",
    "output_tokens",
    "max_tokens",
    "temperature",
    "tools",
    "status",
)
_FEATURES = (
    "request_id",
    "cot",
    "cot_tagged",
    "capability",
    "dataset_shape",
    "skeleton",
    "head_fp",
    "tail_fp",
    "nd_bands",
    "system_fp",
    "prompt_chars",
)
EXAMPLE_CHARS = 300


def _default_features() -> FeatureFn:
    from distillguard.features import prompt_features

    return prompt_features


def ip_prefix(ip: pl.Series) -> pl.Series:
    """The /24 (IPv4) or /48 (IPv6) network of each client address, null when absent or not an address.

    Dotted IPv4 is done with string expressions; the other distinct values (IPv6 in any of its
    spellings, e.g. ``2001:db8::1``, and garbage) go through the standard library's ``ipaddress``:
    per distinct value, not per row.
    """
    groups = ip.str.extract_groups(r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$").struct.unnest()
    in_range = groups.select(
        pl.all_horizontal([pl.col(c).cast(pl.Int64).is_between(0, 255) for c in groups.columns])
    ).to_series()
    v4 = pl.select(pl.when(in_range).then(ip.str.replace(r"\.\d{1,3}$", ".0/24"))).to_series()
    frame = pl.DataFrame({"ip": ip})
    rest = ip.filter(v4.is_null() & ip.is_not_null()).unique()
    if rest.len() == 0:
        return v4.alias("ip24")
    import ipaddress

    def network(value: str) -> str | None:
        try:
            addr = ipaddress.ip_address(value.strip())
        except ValueError:
            return None
        return str(ipaddress.ip_network(f"{addr}/{24 if addr.version == 4 else 48}", strict=False))

    mapping = pl.DataFrame(
        {"ip": rest, "net": [network(v) for v in rest.to_list()]}, schema={"ip": pl.String, "net": pl.String}
    )
    other = frame.join(mapping, on="ip", how="left", maintain_order="left").get_column("net")
    return v4.fill_null(other).alias("ip24")


def stage_batch(batch: pa.RecordBatch, feats: pa.Table) -> pa.Table:
    """The narrow staged rows for one ingest batch: kept columns + features + IP prefix + text heads."""
    df = pl.from_arrow(pa.Table.from_batches([batch]))
    assert isinstance(df, pl.DataFrame)
    base = df.select(
        *_KEEP,
        ip24=ip_prefix(df.get_column("ip")),
        prompt_head=pl.col("prompt").str.slice(0, EXAMPLE_CHARS),
        system_head=pl.col("system").str.slice(0, EXAMPLE_CHARS),
    )
    f = pl.from_arrow(feats)
    assert isinstance(f, pl.DataFrame)
    cols = [c for c in _FEATURES if c in f.columns]
    f = f.select(cols)
    for c, dtype in (
        ("cot", pl.Float64),
        ("cot_tagged", pl.Boolean),
        ("capability", pl.Utf8),
        ("dataset_shape", pl.Float64),
        ("skeleton", pl.UInt64),
        ("head_fp", pl.UInt64),
        ("tail_fp", pl.UInt64),
        ("nd_bands", pl.List(pl.UInt64)),
        ("system_fp", pl.UInt64),
        ("prompt_chars", pl.Int64),
    ):
        f = f.with_columns(pl.col(c).cast(dtype) if c in f.columns else pl.lit(None, dtype).alias(c))
    if f.height == base.height and f["request_id"].equals(base["request_id"]):
        out = pl.concat([base, f.drop("request_id")], how="horizontal")
    else:
        out = base.join(f, on="request_id", how="left")
    return out.to_arrow()


class _Stager:
    def __init__(self, stage_dir: Path):
        self.dir = stage_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.parts = 0

    def write(self, table: pa.Table) -> None:
        pq.write_table(
            table, self.dir / f"part-{self.parts:06d}.parquet", compression="zstd", compression_level=1
        )
        self.parts += 1


@dataclass
class Staged:
    """What the ingest + per-prompt feature phase leaves for the analysis phase."""

    stage_dir: Path
    paths: list[str]
    accounts_paths: list[str]
    stats: IngestStats
    accounts: AccountsRead | None
    rejected: pa.Table
    rows: int
    seconds: float


def stage_inputs(
    paths: Sequence[str | Path],
    accounts_paths: Sequence[str | Path] | None,
    work_dir: Path,
    *,
    seed: int = 0,
    batch_rows: int = 65536,
    workers: int = 1,
    progress: Progress | None = None,
    feature_fn: FeatureFn | None = None,
) -> Staged:
    """Read and validate the inputs, compute per-prompt features batch by batch, stage narrow Parquet."""
    from distillguard.ingest import open_interactions, read_accounts

    t0 = time.perf_counter()
    say = progress or (lambda stage, frac: None)
    feature_fn = feature_fn or _default_features()
    source = open_interactions(list(paths), batch_rows=batch_rows)
    stats = source.check()
    accounts_read = read_accounts(list(accounts_paths)) if accounts_paths else None
    stager = _Stager(work_dir / "staged")
    say("reading interactions", 0.0)
    rows = 0
    for batch in source:
        if batch.num_rows == 0:
            continue
        feats = feature_fn(batch, seed=seed)
        stager.write(stage_batch(batch, feats))
        rows += batch.num_rows
        say("reading interactions", rows)
    rejected = source.rejected
    if accounts_read is not None:
        rejected = pa.concat_tables([rejected, accounts_read.rejected.cast(rejected.schema)])
    if rows == 0:
        from distillguard.errors import InputError

        raise InputError(", ".join(map(str, paths)), "no valid interaction rows to scan")
    return Staged(
        stager.dir,
        [str(p) for p in paths],
        [str(p) for p in (accounts_paths or [])],
        stats,
        accounts_read,
        rejected,
        rows,
        time.perf_counter() - t0,
    )

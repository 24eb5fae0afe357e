"""Read a scan output directory (the contract that ``scan --out DIR`` writes) for the report and export.

Strict about what is required (a clear :class:`~distillguard.errors.InputError` naming the file, the
item and the key), tolerant about what is optional (left as ``None``, rendered "not available").

Required: ``campaigns.json`` (an array; each campaign has :data:`REQUIRED_CAMPAIGN_KEYS`) and
``accounts.parquet`` or ``accounts.csv`` (with :data:`REQUIRED_ACCOUNT_COLUMNS`). Optional:
``edges.parquet``, ``lookalikes.json``, ``summary.json``, the optional campaign keys and the extra
account columns (``tier``, ``verified``, ``org_id``, ...).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from distillguard.errors import InputError, UsageError
from distillguard.schema import ACCOUNT_RESULTS

REQUIRED_CAMPAIGN_KEYS = (
    "campaign_id", "accounts", "interactions", "first_seen", "last_seen", "capabilities", "confidence",
    "indicators",
)
REQUIRED_ACCOUNT_COLUMNS = ("account_id", "score", "flagged", "campaign_id", "reasons")
REQUIRED_EDGE_COLUMNS = ("src", "dst", "kind")
REQUIRED_LOOKALIKE_KEYS = ("group_id", "why_not")
INDICATOR_LISTS = (
    "templates", "payment_fingerprints", "ip_prefixes", "asns", "signup_bursts", "user_agents",
    "system_prompts", "prompt_families",
)


@dataclass(frozen=True)
class ScanOutput:
    """What one scan wrote, validated. Optional parts are ``None`` when absent."""

    dir: Path
    campaigns: list[dict[str, Any]]
    accounts: pl.DataFrame
    edges: pl.DataFrame | None = None
    lookalikes: list[dict[str, Any]] | None = None
    summary: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)  # what was missing, for the report's "about" section

    def campaign(self, campaign_id: str) -> dict[str, Any]:
        for c in self.campaigns:
            if c["campaign_id"] == campaign_id:
                return c
        raise KeyError(campaign_id)

    @property
    def total_interactions(self) -> int | None:
        """All interactions the scan read (summary.json) or the sum over accounts, whichever is larger
        (they agree on a consistent scan output), else None."""
        totals = []
        if self.summary and isinstance(self.summary.get("interactions"), int | float):
            totals.append(int(self.summary["interactions"]))
        if "interactions" in self.accounts.columns:
            totals.append(int(self.accounts["interactions"].fill_null(0).sum()))
        return max(totals) if totals else None


def parse_time(value: Any, where: str) -> datetime:
    """An RFC 3339 string -> aware UTC datetime, or an InputError naming ``where``."""
    if not isinstance(value, str):
        raise InputError(where, f"expected an RFC 3339 time string, got {value!r}")
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(where, f"not an RFC 3339 time: {value!r}") from None
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(UTC)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(path, f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except UnicodeDecodeError:
        raise InputError(path, "not UTF-8 text") from None


def _check_campaign(path: Path, i: int, c: Any) -> dict[str, Any]:
    if not isinstance(c, dict):
        raise InputError(path, f"item {i} is not a JSON object")
    label = f"campaign {i} ({c.get('campaign_id', '?')})"
    for key in REQUIRED_CAMPAIGN_KEYS:
        if key not in c or c[key] is None:
            raise InputError(path, f"{label}: missing required key '{key}'")
    if not isinstance(c["campaign_id"], str) or not c["campaign_id"]:
        raise InputError(path, f"{label}: 'campaign_id' must be a non-empty string")
    for key in ("accounts", "interactions"):
        if not isinstance(c[key], int) or isinstance(c[key], bool) or c[key] < 0:
            raise InputError(path, f"{label}: '{key}' must be a non-negative integer, got {c[key]!r}")
    conf = c["confidence"]
    if (not isinstance(conf, int | float) or isinstance(conf, bool) or math.isnan(conf)
            or not 0 <= conf <= 1):
        raise InputError(path, f"{label}: 'confidence' must be a number in [0, 1], got {conf!r}")
    for key in ("capabilities", "indicators"):
        if not isinstance(c[key], dict):
            raise InputError(path, f"{label}: '{key}' must be a JSON object")
    for key in ("first_seen", "last_seen"):
        parse_time(c[key], f"{path}: {label}: '{key}'")
    for key in INDICATOR_LISTS:
        v = c["indicators"].get(key)
        if v is not None and not isinstance(v, list):
            raise InputError(path, f"{label}: 'indicators.{key}' must be a list")
        for j, item in enumerate(v or []):
            if not isinstance(item, dict):
                raise InputError(path, f"{label}: 'indicators.{key}' item {j} is not a JSON object")
    return c


def _read_accounts(d: Path) -> pl.DataFrame:
    pq_path, csv_path = d / "accounts.parquet", d / "accounts.csv"
    if pq_path.is_file():
        path = pq_path
        try:
            df = pl.read_parquet(pq_path)
        except Exception as exc:  # polars raises several kinds for a corrupt file
            raise InputError(pq_path, f"cannot read Parquet: {exc}") from None
    elif csv_path.is_file():
        path = csv_path
        try:
            df = pl.read_csv(csv_path, schema_overrides={"account_id": pl.String, "campaign_id": pl.String,
                                                         "reasons": pl.String}, infer_schema_length=10000)
        except Exception as exc:
            raise InputError(csv_path, f"cannot read CSV: {exc}") from None
    else:
        raise InputError(pq_path, "missing (neither accounts.parquet nor accounts.csv is in the scan output)")
    missing = [c for c in REQUIRED_ACCOUNT_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(path, f"missing required column(s): {', '.join(missing)}")
    casts = {}
    for name in ("account_id", "campaign_id", "reasons"):
        casts[name] = pl.col(name).cast(pl.String)
    try:
        df = df.with_columns(
            **casts,
            score=pl.col("score").cast(pl.Float64),
            flagged=pl.col("flagged").cast(pl.String).str.to_lowercase().is_in(["true", "1"])
            if df.schema["flagged"] != pl.Boolean else pl.col("flagged"),
        )
    except pl.exceptions.PolarsError as exc:
        raise InputError(path, f"column has the wrong type: {exc}") from None
    bad = df.select(pl.int_range(pl.len()).alias("row"), "score").filter(
        pl.col("score").is_null() | (pl.col("score") < 0) | (pl.col("score") > 1) | pl.col("score").is_nan())
    if bad.height:
        r = bad.row(0)
        raise InputError(path, f"row {r[0] + 1}: 'score' must be in [0, 1], got {r[1]!r} "
                         f"({bad.height} such rows)")
    if df["account_id"].null_count():
        row = int(df.select(pl.col("account_id").is_null().arg_max()).item())
        raise InputError(path, f"row {row + 1}: 'account_id' is empty")
    for name in ("interactions",):
        if name in df.columns:
            df = df.with_columns(pl.col(name).cast(pl.Int64, strict=False))
    for name in ("first_seen", "last_seen"):
        if name in df.columns and df.schema[name] == pl.String:
            df = df.with_columns(pl.col(name).str.to_datetime(time_zone="UTC", strict=False))
    if "verified" in df.columns and df.schema["verified"] != pl.Boolean:
        df = df.with_columns(pl.col("verified").cast(pl.String).str.to_lowercase().is_in(["true", "1"]))
    df = df.with_columns(pl.col("campaign_id").replace("", None))
    # keep the contract's column order first, extras after
    first = [c for c in ACCOUNT_RESULTS.names if c in df.columns]
    return df.select(first + [c for c in df.columns if c not in first])


def _read_edges(d: Path) -> pl.DataFrame | None:
    path = d / "edges.parquet"
    if not path.is_file():
        return None
    try:
        df = pl.read_parquet(path)
    except Exception as exc:
        raise InputError(path, f"cannot read Parquet: {exc}") from None
    missing = [c for c in REQUIRED_EDGE_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(path, f"missing required column(s): {', '.join(missing)}")
    if "weight" not in df.columns:
        df = df.with_columns(weight=pl.lit(1.0))
    if "campaign_id" not in df.columns:
        df = df.with_columns(campaign_id=pl.lit(None, pl.String))
    return df.with_columns(pl.col("src", "dst", "kind", "campaign_id").cast(pl.String),
                           pl.col("weight").cast(pl.Float64))


def load_scan_output(out_dir: str | Path) -> ScanOutput:
    """Read and validate the scan output in ``out_dir``; raises a DistillguardError on a user mistake."""
    d = Path(out_dir)
    if not d.exists():
        raise UsageError(f"{d}: no such directory (pass the --out directory of a scan)")
    if not d.is_dir():
        raise UsageError(f"{d}: not a directory (pass the --out directory of a scan)")
    cpath = d / "campaigns.json"
    if not cpath.is_file():
        raise InputError(cpath, "missing: this does not look like a scan output directory")
    raw = _read_json(cpath)
    if not isinstance(raw, list):
        raise InputError(cpath, "must be a JSON array of campaign objects")
    campaigns = [_check_campaign(cpath, i, c) for i, c in enumerate(raw)]
    seen: set[str] = set()
    for c in campaigns:
        if c["campaign_id"] in seen:
            raise InputError(cpath, f"campaign_id {c['campaign_id']!r} appears twice")
        seen.add(c["campaign_id"])
    accounts = _read_accounts(d)
    notes: list[str] = []
    edges = _read_edges(d)
    if edges is None:
        notes.append("edges.parquet is not in the scan output: account graphs are not available.")
    lookalikes = None
    lpath = d / "lookalikes.json"
    if lpath.is_file():
        lookalikes = _read_json(lpath)
        if not isinstance(lookalikes, list):
            raise InputError(lpath, "must be a JSON array of look-alike groups")
        for i, g in enumerate(lookalikes):
            if not isinstance(g, dict):
                raise InputError(lpath, f"item {i} is not a JSON object")
            for key in REQUIRED_LOOKALIKE_KEYS:
                if g.get(key) is None:
                    raise InputError(lpath, f"group {i} ({g.get('group_id', '?')}): missing required key "
                                     f"'{key}'")
    else:
        notes.append("lookalikes.json is not in the scan output: the look-alikes section is not available.")
    summary = None
    spath = d / "summary.json"
    if spath.is_file():
        summary = _read_json(spath)
        if not isinstance(summary, dict):
            raise InputError(spath, "must be a JSON object")
    else:
        notes.append("summary.json is not in the scan output: scan-wide figures are not available.")
    return ScanOutput(d, campaigns, accounts, edges, lookalikes, summary, notes)

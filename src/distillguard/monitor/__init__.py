"""Continuous monitoring: daily runs over new logs only, stable campaign ids, changes and decisions.

``state`` keeps what earlier runs read and decided (crash-safe generations under a lock);
``incremental`` is one run; ``registry`` keeps campaign ids stable; ``review`` holds analysts'
decisions; ``changes`` says what changed and posts it to a webhook.
"""

from __future__ import annotations

from pathlib import Path


def split_by_day(interactions: Path, dst: Path) -> list[Path]:
    """Cut a folder of interaction Parquet files into one file per UTC day (``dst/YYYY-MM-DD.parquet``),
    sorted by time: a history replayed as the daily deliveries a monitoring set-up reads."""
    import polars as pl

    dst.mkdir(parents=True)
    d = pl.read_parquet(Path(interactions) / "*.parquet").with_columns(_d=pl.col("ts").dt.date())
    out = []
    for (day,), part in sorted(d.partition_by("_d", as_dict=True).items()):
        p = dst / f"{day}.parquet"
        part.drop("_d").sort("ts").write_parquet(p)
        out.append(p)
    return out

"""Small vectorised helpers shared by the population modules (no row loops)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000


def _str(values) -> pl.Series:
    """A String series from an array that may hold None (object arrays included)."""
    if isinstance(values, pl.Series):
        return values.cast(pl.String)
    return pl.Series(pa.array(np.asarray(values, dtype=object), type=pa.string()))


def _const(value: str | None, n: int) -> pl.Series:
    return pl.repeat(value, n, dtype=pl.String, eager=True)


def _choice(rng: np.random.Generator, values: list, p: list | np.ndarray, n: int) -> np.ndarray:
    return np.asarray(values, dtype=object)[rng.choice(len(values), size=n, p=np.asarray(p) / np.sum(p))]


def _maybe(rng: np.random.Generator, values: np.ndarray, p_null: float) -> np.ndarray:
    out = values.astype(object).copy()
    out[rng.random(len(values)) < p_null] = None
    return out


def _append(base: pl.Series, suffix: np.ndarray | pl.Series, mask: np.ndarray, sep: str = " ") -> pl.Series:
    """base + sep + suffix where mask, else base (vectorised)."""
    df = pl.DataFrame({"b": base, "s": _str(suffix), "m": mask})
    return df.select(
        pl.when(pl.col("m"))
        .then(pl.concat_str([pl.col("b"), pl.lit(sep), pl.col("s")]))
        .otherwise(pl.col("b"))
    )[:, 0]


def _where(mask: np.ndarray, a: pl.Series, b: pl.Series) -> pl.Series:
    df = pl.DataFrame({"a": _str(a), "b": _str(b), "m": mask})
    return df.select(pl.when(pl.col("m")).then(pl.col("a")).otherwise(pl.col("b")))[:, 0]

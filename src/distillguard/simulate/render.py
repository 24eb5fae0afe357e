"""Vectorised template rendering: ``{slot}`` templates filled per row without Python row loops."""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping

import numpy as np
import polars as pl

#: a slot filler: a pool of strings (one drawn per row), a Series of per-row values, or a function
#: ``(rng, n) -> strings``
Filler = np.ndarray | list | pl.Series | Callable[[np.random.Generator, int], np.ndarray]


def _parse(template: str) -> list[tuple[str, str]]:
    out = []
    for literal, field, _spec, _conv in string.Formatter().parse(template):
        out.append((literal, field or ""))
    return out


def draw(rng: np.random.Generator, pool: np.ndarray | list, n: int) -> np.ndarray:
    """``n`` draws (with replacement) from a pool of strings."""
    arr = pool if isinstance(pool, np.ndarray) else np.asarray(pool, dtype=object)
    if len(arr) == 0:
        raise ValueError("empty text pool")
    return arr[rng.integers(0, len(arr), n)]


def render(
    rng: np.random.Generator,
    templates: list[str] | np.ndarray,
    n: int,
    slots: Mapping[str, Filler] | None = None,
    template_index: np.ndarray | None = None,
) -> pl.Series:
    """Render ``n`` strings: one template per row (uniform, or ``template_index``), slots filled.

    Every slot value is drawn independently per row; a slot used twice in one template gets the
    same value both times.
    """
    slots = slots or {}
    templates = list(templates)
    parsed = [_parse(t) for t in templates]
    k_max = max(len(p) for p in parsed)
    t = template_index if template_index is not None else rng.integers(0, len(templates), n)
    names = sorted({f for p in parsed for _, f in p if f})
    missing = [x for x in names if x not in slots]
    if missing:
        raise KeyError(f"template slots without filler: {missing}")
    values: dict[str, pl.Series] = {}
    for name in names:
        filler = slots[name]
        if isinstance(filler, pl.Series):  # per-row values, used as they are
            if len(filler) != n:
                raise ValueError(f"slot {name}: {len(filler)} values for {n} rows")
            arr = filler
        else:
            arr = filler(rng, n) if callable(filler) else draw(rng, filler, n)
        values[name] = pl.Series(name, arr, dtype=pl.String) if not isinstance(arr, pl.Series) else arr
    cols = {}
    exprs = []
    for k in range(k_max):
        lits = np.array([p[k][0] if k < len(p) else "" for p in parsed], dtype=object)
        flds = np.array([p[k][1] if k < len(p) else "" for p in parsed], dtype=object)
        cols[f"l{k}"] = pl.Series(lits[t], dtype=pl.String)
        exprs.append(pl.col(f"l{k}"))
        used = sorted(set(flds) - {""})
        if used:
            cols[f"f{k}"] = pl.Series(flds[t], dtype=pl.String)
            e = pl.lit("")
            for name in used:
                e = pl.when(pl.col(f"f{k}") == name).then(pl.col(f"v_{name}")).otherwise(e)
            exprs.append(e)
    for name, s in values.items():
        cols[f"v_{name}"] = s
    df = pl.DataFrame(cols, height=n) if cols else pl.DataFrame(height=n)
    return df.select(pl.concat_str(exprs).alias("text"))["text"]


def ints(lo: int, hi: int) -> Callable[[np.random.Generator, int], np.ndarray]:
    """Filler of random integers in [lo, hi] as strings."""

    def f(rng: np.random.Generator, n: int) -> pl.Series:
        return pl.Series(rng.integers(lo, hi + 1, n)).cast(pl.String)

    return f


def decimals(lo: float, hi: float, digits: int = 2) -> Callable[[np.random.Generator, int], np.ndarray]:
    def f(rng: np.random.Generator, n: int) -> pl.Series:
        return pl.Series(np.round(rng.uniform(lo, hi, n), digits)).cast(pl.String)

    return f


def nested(
    templates: list[str], slots: Mapping[str, Filler]
) -> Callable[[np.random.Generator, int], pl.Series]:
    """Filler that is itself a rendered template (clauses inside clauses)."""

    def f(rng: np.random.Generator, n: int) -> pl.Series:
        return render(rng, templates, n, slots)

    return f

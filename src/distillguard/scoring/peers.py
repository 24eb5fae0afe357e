"""The peer gate: a flag needs other accounts that score high for the same reasons.

A campaign is many accounts run by one program, so their evidence is alike: each flagged campaign
account sits among other campaign accounts whose scores are made of the same contributions. A
legitimate account that scores as high does so alone: a startup whose product happens to look like a
harvest (fresh, unverified, public homework questions, around the clock) has, as its closest accounts
by that evidence, other startups and tutors that score low. So an account whose score reaches its
threshold is flagged only when the ``neighbours`` accounts closest to it in contribution space (each
signal's ``w_i x_i``, the terms of its score; exact Euclidean nearest neighbours over every scored
account of the scan, itself excluded) score at least ``min_score`` on average.

What evading it costs: each account's evidence must differ from its siblings', i.e. every account
runs a differently shaped harvest; a pool of fewer than ``neighbours`` accounts that look alike is
judged by its nearest strangers. The gate only removes flags, so precision measured without it is a
floor; the look-alike guard (:mod:`distillguard.scoring.guard`) chooses the thresholds with it on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

if TYPE_CHECKING:
    from distillguard.scoring.model import ScoreModel


@dataclass(frozen=True)
class PeerGate:
    """How many closest accounts are asked, and the mean score they must reach."""

    neighbours: int = 10
    #: (the shipped value; calibration scans could not tell 0.5 from 0.7, held-out runs could:
    #: docs/benchmarks.md, fourteenth session)
    min_score: float = 0.7

    @classmethod
    def from_dict(cls, d: dict | None) -> PeerGate | None:
        return None if not d else cls(int(d["neighbours"]), float(d["min_score"]))

    def to_dict(self) -> dict:
        return asdict(self)


def peer_scores(contrib: np.ndarray, score: np.ndarray, query: np.ndarray, neighbours: int) -> np.ndarray:
    """Mean score of the ``neighbours`` nearest other rows (rows of ``contrib``: one account's score
    terms) for each row where ``query`` is true; NaN elsewhere, and NaN for every row when the scan has
    no more than ``neighbours`` accounts (too few to ask).

    Exact neighbours (scipy's k-d tree: a fifth of scikit-learn's import time, which every scan with
    an index would pay), so the result does not depend on the row order except among rows at equal
    distance; rows with equal terms have equal scores, so such ties change nothing.
    """
    from scipy.spatial import cKDTree

    n = len(score)
    out = np.full(n, np.nan)
    rows = np.flatnonzero(query)
    if n <= neighbours or not len(rows):
        return out
    _, idx = cKDTree(contrib).query(contrib[rows], k=neighbours + 1, workers=-1)
    # drop the row itself; where an identical row came first, drop the farthest instead
    is_self = idx == rows[:, None]
    drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), neighbours)
    keep = np.ones_like(idx, dtype=bool)
    keep[np.arange(len(rows)), drop] = False
    peers = idx[keep].reshape(len(rows), neighbours)
    out[rows] = score[peers].mean(axis=1)
    return out


def gate_column(scored: pl.DataFrame, gate: PeerGate | None, candidate: pl.Expr) -> pl.Series:
    """``peer_score`` for the rows of ``scored`` (``score`` and ``contrib:*`` columns, one scan) where
    ``candidate`` holds; null elsewhere or without a gate."""
    if gate is None:
        return pl.Series("peer_score", [None] * scored.height, dtype=pl.Float64)
    cols = [c for c in scored.columns if c.startswith("contrib:")]
    contrib = scored.select(cols).to_numpy().astype(np.float64)
    # (with_columns broadcasts a literal to every row; select would not)
    query = scored.with_columns(_q=candidate.fill_null(False))["_q"].to_numpy()
    ps = peer_scores(contrib, scored["score"].to_numpy(), query, gate.neighbours)
    return pl.Series("peer_score", ps, dtype=pl.Float64).fill_nan(None)


def passes(gate: PeerGate | None) -> pl.Expr:
    """Whether an account's ``peer_score`` lets its flag stand (always, without a gate or when the scan
    is too small to ask)."""
    if gate is None:
        return pl.lit(True)
    return pl.col("peer_score").is_null() | (pl.col("peer_score") >= gate.min_score)


def gate_text(scored: pl.DataFrame, gate: PeerGate | None) -> pl.DataFrame:
    """``account_id, text`` for accounts asked by the gate (``peer_score`` not null): what their closest
    accounts score, and whether that let the flag stand."""
    if gate is None or "peer_score" not in scored.columns:
        return pl.DataFrame(schema={"account_id": pl.Utf8, "text": pl.Utf8})
    asked = scored.filter(pl.col("peer_score").is_not_null())
    mean = pl.col("peer_score").round(2).cast(pl.Utf8)
    head = f"the {gate.neighbours} accounts whose evidence is closest to its own score "
    text = pl.when(pl.col("peer_score") >= gate.min_score).then(
        pl.concat_str([pl.lit(head), mean, pl.lit(" on average: others look like it")])
    ).otherwise(
        pl.concat_str([
            pl.lit("not flagged: " + head), mean,
            pl.lit(f" on average (a flag needs {gate.min_score:.2f}): no other accounts look like it"),
        ])
    )
    return asked.select("account_id", text=text)


def with_peer_scores(frame: pl.DataFrame, model: ScoreModel, gate: PeerGate, by: list[str]) -> pl.DataFrame:
    """``frame`` (labelled model inputs of many scans) with ``score`` and every account's ``peer_score``,
    each scan (rows sharing ``by``) asked on its own, as a scan asks its candidates."""
    from distillguard.scoring.model import score_accounts

    parts = []
    for _, d in frame.group_by(by, maintain_order=True):
        s = score_accounts(d, model)
        parts.append(d.with_columns(score=s["score"], peer_score=gate_column(s, gate, pl.lit(True))))
    return pl.concat(parts, how="diagonal_relaxed")

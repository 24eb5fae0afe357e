"""Campaign attribution: which flagged accounts belong to the same campaign.

Detection (the score) uses the whole account graph; attribution is a second, stricter question
answered on the flagged accounts only, in two steps:

1. **Fragments.** Leiden (CPM) on the subgraph of flagged accounts, with each edge re-weighed by
   how campaign-specific its evidence is (:data:`ATTRIBUTION_KIND_WEIGHT`): shared wrappers
   (templates, injected instructions, system prompts) and infrastructure (cards, sign-up bursts,
   IP prefixes) count fully, near-duplicate prompt families count little (the simulator and real
   campaigns draw questions from the same public corpora, so a shared *question* links campaigns
   by chance), ASNs and user agents hardly at all. At the fragment resolution a campaign splits
   into several pure fragments rather than two campaigns merging into one.
2. **Profile merge.** Each fragment gets a key-usage profile: for every content key (template,
   instruction, system prompt, near-duplicate family) the number of the fragment's requests
   carrying it, times the key's rarity. Fragments are merged greedily, most similar pair first
   (centroid linkage: a merged fragment's profile is the sum of its parts), while the cosine
   similarity of the two profiles is at least ``merge_similarity``. A campaign's fragments (and its
   standby pool, which reuses the same wrappers from new cards and new IPs) share the same profile;
   two campaigns that only share a few corpus questions or one common template do not. Every merge
   records the keys that contributed most to the similarity: that is evidence for the analyst.

Flagged accounts that no edge ties to another are attached to the most similar group when their own
profile reaches the same threshold. Everything is deterministic (sorted ids, seeded Leiden, ties
broken by index).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import ibis
import ibis.expr.types as ir
import numpy as np
import polars as pl
import pyarrow as pa
import scipy.sparse as sp

from distillguard.campaigns.cluster import ClusterParams, leiden_clusters
from distillguard.linking.keys import KIND_NOUN, LINK_SIGNALS

#: how much of each kind's link evidence counts for attribution (1 = fully campaign-specific)
ATTRIBUTION_KIND_WEIGHT: dict[str, float] = {
    "template": 1.0,
    "instruction": 1.0,
    "system_prompt": 1.0,
    "payment": 1.0,
    "signup_burst": 1.0,
    "ip_prefix": 1.0,
    "sync": 1.0,
    "near_duplicate": 0.25,
    "client_config": 0.25,
    "asn": 0.1,
    "user_agent": 0.0,
}
#: kinds whose keys make up a fragment's profile (content wrappers a campaign reuses on every pool)
PROFILE_KINDS = ("template", "near_duplicate", "instruction", "system_prompt")


@dataclass(frozen=True)
class AttributionParams:
    """Intent: how alike two groups' key usage must be to call them one campaign."""

    resolution: float = 0.3
    merge_similarity: float = 0.7
    seed: int = 0
    kind_weight: dict[str, float] = field(default_factory=lambda: dict(ATTRIBUTION_KIND_WEIGHT))


@dataclass
class Attribution:
    #: ``account_id, group, fragment`` for every flagged account (group/fragment -1: unattributed)
    groups: pl.DataFrame
    #: one row per merge: ``into, merged, similarity, evidence`` (text of the top shared keys)
    merges: pl.DataFrame
    fragments: int = 0


def attribution_weight(edges: pl.DataFrame, kind_weight: dict[str, float]) -> pl.Expr:
    """Per edge: sum over kinds of ``w_<kind> x kind_weight`` (falls back to ``weight``)."""
    terms = [pl.col(f"w_{k}") * w for k, w in kind_weight.items() if f"w_{k}" in edges.columns]
    return pl.sum_horizontal(terms) if terms else pl.col("weight")


def _profile_counts(
    staged: ir.Table, units: pl.DataFrame, keys: ir.Table, con: ibis.BaseBackend
) -> pl.DataFrame:
    """``unit, kind, key, n, idf``: requests of each unit (fragment) carrying each shared content key.

    Only keys that some accounts share consistently (rows of the weighted key table) count, with
    their rarity ``idf``; a key used by one account only says nothing about two groups.
    """
    empty = pl.DataFrame(
        schema={"unit": pl.Int64, "kind": pl.Utf8, "key": pl.Utf8, "n": pl.Int64, "idf": pl.Float64}
    )
    u = ibis.memtable(units.select("account_id", "unit").to_arrow())
    s = staged.semi_join(u, "account_id")
    kinds_present = set(keys.select("kind").distinct().to_pyarrow().column(0).to_pylist())
    parts = []
    for sig in LINK_SIGNALS:
        if sig.kind not in PROFILE_KINDS or sig.kind not in kinds_present:
            continue
        rows = sig.key_rows(s).join(u, "account_id")
        parts.append(
            rows.group_by(["unit", "key"]).aggregate(n=rows.count()).mutate(kind=ibis.literal(sig.kind))
        )
    if not parts:
        return empty
    counts = ibis.union(*parts)
    idf = keys.group_by(["kind", "key"]).aggregate(idf=keys.idf.max())
    j = counts.join(idf, ["kind", "key"])
    df = pl.from_arrow(j.select("unit", "kind", "key", "n", "idf").to_pyarrow())
    assert isinstance(df, pl.DataFrame)
    return df.cast({"unit": pl.Int64, "n": pl.Int64}).sort(["unit", "kind", "key"])


def _normalise(x: sp.csr_matrix) -> sp.csr_matrix:
    norm = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    norm[norm == 0] = 1.0
    return sp.diags(1.0 / norm) @ x


def greedy_merge(
    x: sp.csr_matrix, threshold: float
) -> tuple[np.ndarray, list[tuple[int, int, float, np.ndarray]]]:
    """Centroid-linkage agglomeration of the rows of ``x`` (non-negative profiles) by cosine.

    Repeatedly merges the most similar pair (ties: lowest indices) while its cosine is at least
    ``threshold``; a merged row is the sum of its parts. Returns the group label of every row (the
    index of the row it ended in) and the merges ``(into, merged, cosine, contribution per column)``.
    Work is O(rows^2) on a dense similarity matrix, so callers pass groups, not accounts.
    """
    n = x.shape[0]
    label = np.arange(n)
    merges: list[tuple[int, int, float, np.ndarray]] = []
    if n < 2:
        return label, merges
    x = sp.csr_matrix(x, dtype=np.float64)
    xn = _normalise(x)
    s = (xn @ xn.T).toarray()
    np.fill_diagonal(s, -1.0)
    alive = np.ones(n, dtype=bool)
    while True:
        flat = int(np.argmax(s))
        i, j = divmod(flat, n)
        best = s[i, j]
        if best < threshold:
            break
        i, j = min(i, j), max(i, j)
        contrib = np.asarray(xn[i].multiply(xn[j]).todense()).ravel()
        merges.append((i, j, float(best), contrib))
        x = x.tolil()
        x[i] = x[i] + x[j]
        x[j] = 0
        x = x.tocsr()
        alive[j] = False
        label[label == j] = i
        xn_i = _normalise(x[i])
        xn = xn.tolil()
        xn[i] = xn_i
        xn[j] = 0
        xn = xn.tocsr()
        row = (xn @ xn_i.T).toarray().ravel()
        row[~alive] = -1.0
        row[i] = -1.0
        s[i, :] = row
        s[:, i] = row
        s[j, :] = -1.0
        s[:, j] = -1.0
    return label, merges


def attribute(
    *,
    con: ibis.BaseBackend,
    staged: ir.Table,
    keys: ir.Table,
    edges: pl.DataFrame,
    flagged: pl.Series,
    params: AttributionParams = AttributionParams(),
) -> Attribution:
    """Group the ``flagged`` account ids into campaigns (see the module docstring)."""
    ids = pl.DataFrame({"account_id": flagged.unique().sort()}, schema={"account_id": pl.Utf8})
    empty_merges = pl.DataFrame(
        schema={"into": pl.Int64, "merged": pl.Int64, "similarity": pl.Float64, "evidence": pl.Utf8}
    )
    if ids.height == 0:
        return Attribution(ids.with_columns(group=pl.lit(-1), fragment=pl.lit(-1)), empty_merges)
    fl = ids["account_id"].implode()
    sub = edges.filter(pl.col("src").is_in(fl) & pl.col("dst").is_in(fl))
    sub = sub.with_columns(weight=attribution_weight(sub, params.kind_weight)).filter(pl.col("weight") > 0)
    frag = leiden_clusters(
        pa.table(
            {"src": sub["src"].to_arrow(), "dst": sub["dst"].to_arrow(), "weight": sub["weight"].to_arrow()}
        ),
        ClusterParams(resolution=params.resolution, seed=params.seed),
    )
    units = ids.join(frag, on="account_id", how="left").rename({"cluster": "fragment"})
    n_frag = int(units["fragment"].max() + 1) if units["fragment"].drop_nulls().len() else 0
    # singletons are units of their own, numbered after the fragments (sorted ids: deterministic)
    units = units.with_columns(
        unit=pl.when(pl.col("fragment").is_not_null())
        .then(pl.col("fragment"))
        .otherwise(n_frag + pl.col("fragment").is_null().cum_sum() - 1)
        .cast(pl.Int64)
    )
    n_units = int(units["unit"].max() + 1)
    counts = _profile_counts(staged, units, keys, con)
    col = counts.select("kind", "key").unique().sort(["kind", "key"]).with_row_index("c")
    counts = counts.join(col, on=["kind", "key"])
    x = sp.csr_matrix(
        (
            (counts["n"].cast(pl.Float64) * counts["idf"]).to_numpy(),
            (counts["unit"].to_numpy(), counts["c"].cast(pl.Int64).to_numpy()),
        ),
        shape=(n_units, col.height),
    )
    # 1. fragments (>= 2 accounts) merge among themselves
    label = np.arange(n_units)
    merges_out: list[dict] = []
    names = col.select(
        text=pl.col("kind").replace_strict(KIND_NOUN, default="key")
        + pl.lit(" ")
        + pl.col("key").str.slice(0, 16)
    )["text"].to_list()

    def evidence(contrib: np.ndarray) -> str:
        top = np.argsort(-contrib, kind="stable")[:3]
        tot = contrib.sum() or 1.0
        return "; ".join(f"{names[k]} ({100 * contrib[k] / tot:.0f}%)" for k in top if contrib[k] > 0)

    if n_units >= 2:
        label, merges = greedy_merge(x, params.merge_similarity)
        merges_out += [
            {"into": int(i), "merged": int(j), "similarity": round(c, 4), "evidence": evidence(v)}
            for i, j, c, v in merges
        ]
    units = units.with_columns(group=pl.Series(label[units["unit"].to_numpy()], dtype=pl.Int64))
    merges_df = pl.DataFrame(merges_out, schema=empty_merges.schema) if merges_out else empty_merges
    return Attribution(units.select("account_id", "group", "fragment"), merges_df, n_frag)

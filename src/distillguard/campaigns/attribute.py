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

Two more facets can veto a merge but never cause one: the ASN mix (``network``: a group on a
residential proxy pool and a group on a cloud provider are not one campaign) and the request
parameters (``config``). Flagged accounts that no edge ties to another enter the merge as units of
one. The ASN veto only speaks for groups that contain a Leiden fragment (accounts tied by edges): a
low-and-slow campaign (aged accounts on their own home connections, distinct cards, sharing only
content) is gathered from such unlinked accounts, and two parts of it on different home ISPs are
not two infrastructures (on dev seeds its cohesion went from 0.72 to 1.0 with this rule; the
request-parameter veto still applies to every group). Everything is deterministic (sorted ids,
seeded Leiden, ties broken by index).

Thresholds (cosine 0.4 to merge, veto below 0.02) were set on simulator development seeds (< 100):
within a campaign, fragments merge at 0.45-0.99; across campaigns the best content similarity seen
was 0.6-0.9 but always with disjoint ASN mixes or request parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir
import numpy as np
import polars as pl
import pyarrow as pa

from distillguard.campaigns.cluster import ClusterParams, leiden_clusters
from distillguard.engine import drop, materialise, record_batches
from distillguard.linking.keys import KIND_NOUN, PART_ROWS, PROFILE_SIGNALS, part_groups

if TYPE_CHECKING:  # (scipy is imported where it is used: it is not needed to start a scan)
    import scipy.sparse as sp

#: how much of each kind's link evidence counts for attribution (1 = fully campaign-specific)
ATTRIBUTION_KIND_WEIGHT: dict[str, float] = {
    "template": 1.0,
    "instruction": 1.0,
    "system_prompt": 1.0,
    "payment": 1.0,
    "signup_burst": 1.0,
    "ip_prefix": 1.0,
    "sync": 1.0,
    "behaviour": 0.5,
    "near_duplicate": 0.0,
    "client_config": 0.25,
    "asn": 0.1,
    "user_agent": 0.0,
}
#: the profiles compared between groups: ``content`` (wrappers and prompt families a campaign reuses on
#: every pool) decides; ``network`` (ASNs) and ``config`` (request parameters) can only veto a merge
FACETS: dict[str, tuple[str, ...]] = {
    "content": ("template", "near_duplicate", "instruction", "system_prompt"),
    "network": ("asn",),
    "config": ("client_config",),
}


@dataclass(frozen=True)
class AttributionParams:
    """Intent: how alike two groups' key usage must be to call them one campaign."""

    resolution: float = 0.3
    merge_similarity: float = 0.4
    veto_similarity: float = 0.02
    veto_min_accounts: int = 3
    seed: int = 0
    kind_weight: dict[str, float] = field(default_factory=lambda: dict(ATTRIBUTION_KIND_WEIGHT))


@dataclass
class Attribution:
    #: ``account_id, group, fragment, unit`` for every flagged account (fragment null: no edge)
    groups: pl.DataFrame
    #: one row per merge: ``into, merged, similarity, evidence`` (text of the top shared keys)
    merges: pl.DataFrame
    fragments: int = 0


def attribution_weight(edges: pl.DataFrame, kind_weight: dict[str, float]) -> pl.Expr:
    """Per edge: sum over kinds of ``w_<kind> x kind_weight`` (falls back to ``weight``)."""
    terms = [pl.col(f"w_{k}") * w for k, w in kind_weight.items() if f"w_{k}" in edges.columns]
    return pl.sum_horizontal(terms) if terms else pl.col("weight")


#: rows grouped per query in the profile counts, as in the link keys (at full size each of the 32
#: near-duplicate bands has 44M rows, and the 32 in one query took RSS 3 GB past DuckDB's limit; at
#: 1.1M rows 32 queries cost 0.9 s more than one)
_PART_ROWS = PART_ROWS


def _profile_counts(
    con: ibis.BaseBackend, staged: ir.Table, units: pl.DataFrame, keys: ir.Table
) -> tuple[pl.DataFrame, list[sp.csr_matrix]]:
    """``(columns, profiles)``: the profiles' columns ``facet, kind, key, c`` (``c``: the column's
    index in its facet, in order of kind and key) and, per facet of :data:`FACETS`, a units x columns
    sparse matrix whose cells are the requests of each unit carrying each key, times the key's rarity.

    Facet ``content``: only keys that some accounts share consistently (rows of the weighted key
    table) count, with their rarity ``idf``; a key used by one account says nothing about two
    groups. Facets ``network`` (ASN) and ``config`` (request parameters): every value, idf 1.

    Memory: at full size the content facet has tens of millions of cells. So a kind (and within it a
    part of :meth:`~distillguard.linking.keys.LinkSignal.key_row_parts`) at a time, the cells are
    counted on the key's own columns (a fingerprint stays a number), only the distinct keys are
    written as text, and the cells come back sorted, in batches, straight into the matrix's arrays.
    One table of every cell with its text took 2 GB in DuckDB and 3-4 GB more while it was made.
    """
    import scipy.sparse as sp

    n_units = int(units["unit"].max() + 1)
    u = ibis.memtable(units.select("account_id", "unit").to_arrow())
    # only the flagged accounts' rows count: dropped before a kind's rows are made (32 band rows a
    # request), not after, as the window of a daily run grows and most of its rows are not flagged
    staged = staged.semi_join(u, "account_id")
    kinds_present = set(keys.select("kind").distinct().to_pyarrow().column(0).to_pylist())
    col_parts: list[pl.DataFrame] = []
    mats_of: dict[str, dict[str, sp.csr_matrix]] = {f: {} for f in FACETS}
    n_rows: int | None = None
    for sig in PROFILE_SIGNALS:
        facet = next((f for f, kinds in FACETS.items() if sig.kind in kinds), None)
        if facet is None or (facet == "content" and sig.kind not in kinds_present):
            continue
        try:
            row_parts = sig.key_row_parts(staged)
        except AttributeError:  # a column this signal needs is not in the logs
            continue
        if len(row_parts) > 1:  # parts of about _PART_ROWS rows (a part is about a row a request)
            if n_rows is None:
                n_rows = int(staged.count().to_pyarrow().as_py())
            row_parts = [ibis.union(*g) for g in part_groups(row_parts, n_rows, _PART_ROWS)]
        kc = list(sig.key_columns)
        if facet == "content":
            known = keys.filter(keys.kind == sig.kind)
            fps = known.filter(known.fp.notnull()).select("fp").distinct()
        # a part at a time (the near-duplicate bands: at full size the 32 as one query took 3 GB
        # past DuckDB's limit, a band at a time 0.1 GB)
        tables, names = [], []
        for p, rows in enumerate(row_parts):
            if facet == "content" and rows.raw.type().is_integer() and sig.hex_key:
                # only fingerprints of shared keys can match below: drop the rest before anything
                # else (the near-duplicate bands: 32 rows a request, few of them shared keys)
                rows = rows.semi_join(fps, rows.raw.cast("int64") == fps.fp)
            rows = rows.join(u, "account_id")
            c = rows.group_by(["unit", *kc]).aggregate(n=lambda t: t.count())
            c = c.mutate(unit=c.unit.cast("int32"), n=c.n.cast("int32"))
            names.append(f"profile_cells_{sig.kind}_{p}")
            tables.append(materialise(con, names[-1], c, replace=True))
        n = ibis.union(*tables) if len(tables) > 1 else tables[0]
        d = n.select(*kc).distinct()
        d = d.mutate(key=sig.key_text(d))
        if facet == "content":
            d = d.join(known.group_by("key").aggregate(idf=lambda t: t.idf.max()), "key")
        else:
            d = d.mutate(idf=ibis.literal(1.0))
        dk = pl.from_arrow(d.to_pyarrow())
        assert isinstance(dk, pl.DataFrame)
        # a column per distinct text, numbered within the kind (the facet's matrix puts its kinds
        # side by side, in order)
        dk = dk.cast({"key": pl.Utf8}).with_columns(c=(pl.col("key").rank("dense") - 1).cast(pl.Int32))
        dk_cols = dk.select(facet=pl.lit(facet), kind=pl.lit(sig.kind), key="key").unique().sort("key")
        col_parts.append(dk_cols)
        j = n.join(ibis.memtable(dk.select(*kc, "c", "idf").to_arrow()), kc)
        j = j.select("unit", "c", w=j.n.cast("float64") * j.idf)
        mats_of[facet][sig.kind] = _sorted_csr(con, j, n_units, dk_cols.height)
        for name in names:
            drop(con, name)
    schema = {"facet": pl.Utf8, "kind": pl.Utf8, "key": pl.Utf8}
    cols = pl.concat(col_parts) if col_parts else pl.DataFrame(schema=schema)
    cols = cols.cast(schema).sort(["facet", "kind", "key"])
    cols = cols.with_columns(c=pl.int_range(pl.len()).over("facet").cast(pl.Int64))
    mats = []
    for facet in FACETS:
        parts = [mats_of[facet].pop(kind) for kind in sorted(mats_of[facet])]
        if len(parts) > 1:
            mats.append(sp.hstack(parts, format="csr"))
        else:
            mats.append(parts[0] if parts else sp.csr_matrix((n_units, 0)))
        del parts
    return cols, mats


def _sorted_csr(con: ibis.BaseBackend, cells: ir.Table, n_rows: int, width: int) -> sp.csr_matrix:
    """``cells`` (``unit, c, w``: one row per cell) as a CSR matrix, filled from batches in order of
    unit and column: no intermediate copy of the cells (coordinates and their conversion held three)."""
    import scipy.sparse as sp

    nnz = int(cells.count().to_pyarrow().as_py())
    idx = np.int32 if max(nnz, width, n_rows) < 2**31 else np.int64
    per_row = np.zeros(n_rows, dtype=np.int64)
    indices = np.empty(nnz, dtype=idx)
    data = np.empty(nnz, dtype=np.float64)
    at = 0
    for b in record_batches(con, cells.order_by(["unit", "c"])):
        m = b.num_rows
        per_row += np.bincount(b.column("unit").to_numpy(), minlength=n_rows)
        indices[at : at + m] = b.column("c").to_numpy()
        data[at : at + m] = b.column("w").to_numpy()
        at += m
    assert at == nnz, (at, nnz)
    indptr = np.zeros(n_rows + 1, dtype=idx)
    np.cumsum(per_row, out=indptr[1:])
    return sp.csr_matrix((data, indices, indptr), shape=(n_rows, width))


def _normalise(x: sp.csr_matrix) -> sp.csr_matrix:
    norm = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    norm[norm == 0] = 1.0
    import scipy.sparse as sp

    return sp.diags(1.0 / norm) @ x


def _cosine_rows(
    xn: sp.csr_matrix, rows: sp.csr_matrix, known: np.ndarray, row_known: np.ndarray
) -> np.ndarray:
    """Cosine of ``rows`` with every row of ``xn`` (both normalised); 1 where either side is unknown."""
    c = (rows @ xn.T).toarray()
    c[~row_known, :] = 1.0
    c[:, ~known] = 1.0
    return c


#: entries of each row of similarities kept in order by :func:`greedy_merge`
_TOP_K = 8
#: profiles with at most this many cells have their Gram matrix computed dense (BLAS)
DENSE_GRAM_CELLS = 16_000_000
#: cells of the row blocks in which :func:`greedy_merge` reads its units x units matrices
_BLOCK_CELLS = 4_000_000
#: keys carried by at least this share of the units go into the dense part of a wide Gram matrix
DENSE_KEY_SHARE = 0.05


def _gram(x: sp.csr_matrix) -> np.ndarray:
    """``x @ x.T`` as a dense array. The Gram matrix of profiles is dense whatever the profiles are
    (any two groups sharing one key have an entry), which is where a sparse product is slow
    (measured on the bench's 832 x 1432 content profiles, 23% filled: 0.34 s sparse, 0.03 s dense).
    A key carried by ``c`` units costs ``c**2`` in a sparse product and ``units**2`` dense (BLAS, far
    faster per operation): keys carried by at least :data:`DENSE_KEY_SHARE` of the units are
    multiplied dense, in blocks of at most :data:`DENSE_GRAM_CELLS` cells, the rest sparse (at full
    size, 6,260 units x 8,346 content keys: minutes sparse). The same values up to the rounding of
    the sums."""
    import scipy.sparse as sp

    n, m = x.shape
    if n * m <= DENSE_GRAM_CELLS:
        d = x.toarray()
        return d @ d.T
    xc = sp.csc_matrix(x)
    per_key = np.diff(xc.indptr)
    heavy = np.flatnonzero(per_key >= DENSE_KEY_SHARE * n)
    light = np.flatnonzero(per_key < DENSE_KEY_SHARE * n)
    rest = sp.csr_matrix(xc[:, light])
    g = (rest @ rest.T).toarray()
    step = max(1, DENSE_GRAM_CELLS // n)
    for k in range(0, len(heavy), step):
        d = xc[:, heavy[k : k + step]].toarray()
        g += d @ d.T
    return g


def greedy_merge(
    facets: list[sp.csr_matrix],
    threshold: float,
    veto: float = 0.0,
    sizes: np.ndarray | None = None,
    veto_min_size: int = 1,
    linked: np.ndarray | None = None,
    infra_facets: tuple[int, ...] = (),
) -> tuple[np.ndarray, list[tuple[int, int, float, np.ndarray]]]:
    """Centroid-linkage agglomeration of units by the cosine of their profiles.

    ``facets[0]`` is the profile that decides (non-negative, one row per unit); the other facets
    can only veto: a pair whose cosine on any of them is below ``veto`` is not merged (a unit with
    no data on a facet, or with fewer than ``veto_min_size`` members by ``sizes``, never vetoes: a
    group's ASN mix describes its infrastructure, one home account's single ASN does not). On the
    ``infra_facets`` (the ASN mix) a unit that is not ``linked`` never vetoes either: a group gathered
    only from accounts that no edge ties together shares no infrastructure, so its ASN mix is its
    members' home networks, not a signature. ``linked`` (default: all) is OR-ed on a merge.
    Repeatedly merges the most similar allowed pair (ties: lowest indices) while its cosine is at
    least ``threshold``; a merged unit's profiles are the sums of its parts. Returns
    the group label of every unit (the index it ended in) and the merges ``(into, merged, cosine,
    contribution of each column of facets[0] as a sparse row)``. Cosines of sums follow from the
    Gram matrices (dot products add up), so a merge costs O(units) per facet; memory is O(units^2):
    callers pass groups, not all accounts.
    """
    n = facets[0].shape[0]
    label = np.arange(n)
    merges: list[tuple[int, int, float, np.ndarray]] = []
    if n < 2:
        return label, merges
    import scipy.sparse as sp

    xs = [sp.csr_matrix(f, dtype=np.float64) for f in facets]
    grams = [_gram(x) for x in xs]
    # the deciding facet's rows, for the evidence: read (sparse) when a unit first merges, then summed
    rows0: dict[int, sp.csr_matrix] = {}

    def row0(i: int) -> sp.csr_matrix:
        if i not in rows0:
            rows0[i] = xs[0].getrow(i)
        return rows0[i]

    size = np.ones(n, dtype=np.int64) if sizes is None else np.asarray(sizes, dtype=np.int64).copy()
    alive = np.ones(n, dtype=bool)
    link = np.ones(n, dtype=bool) if linked is None else np.asarray(linked, dtype=bool).copy()

    # whole-matrix steps go a block of rows at a time: their temporaries stay a block's size, not
    # several units x units arrays (at full size each one is 0.3 GB)
    step = max(1, _BLOCK_CELLS // n)

    def similarity_rows(a: int, b: int) -> np.ndarray:
        """Rows ``a:b`` of the similarity matrix: the deciding facet's cosine, or -1 where a veto facet
        vetoes the pair, a unit is gone, or on the diagonal; O(units) per facet and row."""
        sim = np.empty(0)
        for f, g in enumerate(grams):
            d = np.sqrt(np.clip(np.diag(g), 0.0, None))
            with np.errstate(divide="ignore", invalid="ignore"):
                c = np.nan_to_num(g[a:b] / np.outer(d[a:b], d), nan=0.0, posinf=0.0)
            if f == 0:
                sim = c
                continue
            known = (d > 0) & (size >= veto_min_size) & (link | (f not in infra_facets))
            sim = np.where((c >= veto) | ~known[a:b, None] | ~known[None, :], sim, -1.0)
        sim[:, ~alive] = -1.0
        sim[~alive[a:b]] = -1.0
        sim[np.arange(b - a), np.arange(a, b)] = -1.0
        return sim

    def similarity() -> np.ndarray:
        out = np.empty((n, n))
        for a in range(0, n, step):
            out[a : a + step] = similarity_rows(a, min(n, a + step))
        return out

    s = similarity()
    # Each row's first maximum (best_j, best_v): the first of the row maxima is the flat argmax of
    # ``s`` (the most similar pair, ties to the lowest indices). A merge changes one column of ``s``
    # (the merged unit's) and removes another, so each row also keeps its K largest entries
    # (top_j, top_v: exact values) and a bound on every entry outside them: a row is read whole again
    # only when its list no longer holds a maximum above that bound. (Rereading every row whose
    # maximum was one of the merged pair made one growing campaign O(units^3): 6,260 units took
    # tens of minutes.)
    k = min(_TOP_K, n - 1)
    top_j = np.empty((n, k), dtype=np.int64)
    top_v = np.empty((n, k))
    bound = np.full(n, -np.inf)
    best_j = np.zeros(n, dtype=np.int64)
    best_v = np.full(n, -np.inf)

    def reread(rows: np.ndarray) -> None:
        for a in range(0, len(rows), step):
            r = rows[a : a + step]
            sub = s[r]
            part = np.argpartition(-sub, k, axis=1)
            top_j[r] = part[:, :k]
            top_v[r] = np.take_along_axis(sub, part[:, :k], axis=1)
            bound[r] = np.take_along_axis(sub, part[:, k : k + 1], axis=1)[:, 0]
            best_j[r] = sub.argmax(axis=1)
            best_v[r] = sub[np.arange(len(r)), best_j[r]]

    reread(np.arange(n))
    while True:
        i = int(np.argmax(best_v))
        j = int(best_j[i])
        best = float(best_v[i])
        if best < threshold:
            break
        i, j = min(i, j), max(i, j)
        ri, rj = row0(i), row0(j)
        ni, nj = np.sqrt(grams[0][i, i]), np.sqrt(grams[0][j, j])
        merges.append((i, j, best, ri.multiply(rj) / ((ni * nj) or 1.0)))
        rows0[i] = ri + rj
        del rows0[j]
        alive[j] = False
        label[label == j] = i
        size[i] += size[j]
        link[i] |= link[j]
        for g in grams:
            g[i, :] += g[j, :]
            g[:, i] += g[:, j]
            g[j, :] = 0.0
            g[:, j] = 0.0
        row = similarity_rows(i, i + 1)[0]
        s[i, :] = row
        s[:, i] = row
        s[j, :] = -1.0
        s[:, j] = -1.0

        # the lists: j leaves them, i's entries take its new value, and a row without i whose new
        # value beats its bound takes i in place of its smallest entry (which then bounds the rest)
        gone = top_j == j
        top_v[gone], top_j[gone] = -np.inf, -1
        has_i = top_j == i
        r_i, c_i = np.nonzero(has_i)
        top_v[r_i, c_i] = row[r_i]
        ins = np.flatnonzero(~has_i.any(axis=1) & (row > bound))
        slot = top_v[ins].argmin(axis=1)
        bound[ins] = np.maximum(bound[ins], top_v[ins, slot])
        top_j[ins, slot], top_v[ins, slot] = i, row[ins]
        # rows whose maximum may have moved; every other row keeps it (its list and bound did not
        # change, and the new value at i is below its maximum)
        touched = gone.any(axis=1) | has_i.any(axis=1) | (best_j == i) | (best_j == j) | (row >= best_v)
        touched[ins] = True
        touched[[i, j]] = False
        touched &= alive
        rows = np.flatnonzero(touched)
        m = top_v[rows].max(axis=1)
        sure = m > bound[rows]
        ok = rows[sure]
        best_v[ok] = m[sure]
        best_j[ok] = np.where(top_v[ok] == m[sure][:, None], top_j[ok], n).min(axis=1)
        reread(np.concatenate([rows[~sure], [i]]).astype(np.int64))
        best_v[j], best_j[j] = -np.inf, 0
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
    units = ids.join(frag, on="account_id", how="left", maintain_order="left").rename({"cluster": "fragment"})
    n_frag = int(units["fragment"].max() + 1) if units["fragment"].drop_nulls().len() else 0
    # singletons are units of their own, numbered after the fragments (sorted ids: deterministic)
    units = units.with_columns(
        unit=pl.when(pl.col("fragment").is_not_null())
        .then(pl.col("fragment"))
        .otherwise(n_frag + pl.col("fragment").is_null().cum_sum() - 1)
        .cast(pl.Int64)
    )
    col, mats = _profile_counts(con, staged, units, keys)
    content = col.filter(pl.col("facet") == "content").sort("c")
    names = content.select(
        text=pl.col("kind").replace_strict(KIND_NOUN, default="key")
        + pl.lit(" ")
        + pl.col("key").str.slice(0, 16)
    )["text"].to_list()

    def evidence(contrib: sp.csr_matrix) -> str:
        c = contrib.tocsr()
        keep = c.data > 0
        idx, val = c.indices[keep], c.data[keep]
        top = np.lexsort((idx, -val))[:3]  # largest first, ties to the lower column
        tot = val.sum() or 1.0
        return "; ".join(f"{names[idx[t]]} ({100 * val[t] / tot:.0f}%)" for t in top)

    sizes = units.group_by("unit").agg(n=pl.len()).sort("unit")["n"].to_numpy()
    # a unit is linked when edges tie its accounts (a Leiden fragment), not a singleton
    linked = units.group_by("unit").agg(pl.col("fragment").is_not_null().any()).sort("unit")["fragment"]
    label, merges = greedy_merge(
        mats,
        params.merge_similarity,
        params.veto_similarity,
        sizes,
        params.veto_min_accounts,
        linked=linked.to_numpy(),
        infra_facets=(list(FACETS).index("network"),),
    )
    merges_out = [
        {"into": int(i), "merged": int(j), "similarity": round(c, 4), "evidence": evidence(v)}
        for i, j, c, v in merges
    ]
    units = units.with_columns(group=pl.Series(label[units["unit"].to_numpy()], dtype=pl.Int64))
    merges_df = pl.DataFrame(merges_out, schema=empty_merges.schema) if merges_out else empty_merges
    return Attribution(units.select("account_id", "group", "fragment", "unit"), merges_df, n_frag)

"""Attribution: greedy profile merge (content decides, other facets veto) and dormant accounts."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from distillguard.accounts.dormant import dormant_accounts
from distillguard.campaigns.attribute import greedy_merge


def _m(rows: list[list[float]]) -> sp.csr_matrix:
    return sp.csr_matrix(np.array(rows, dtype=float))


@pytest.mark.parametrize(
    ("content", "network", "threshold", "expected"),
    [
        # two fragments with the same wrapper mix merge; a third with other keys stays apart
        ([[5, 3, 0], [10, 6, 1], [0, 0, 9]], None, 0.6, [0, 0, 2]),
        # same content, disjoint ASN mixes: the network facet vetoes the merge
        ([[5, 3, 0], [10, 6, 0]], [[4, 0], [0, 7]], 0.6, [0, 1]),
        # same content, overlapping ASN mixes: merged
        ([[5, 3, 0], [10, 6, 0]], [[4, 1], [1, 7]], 0.6, [0, 0]),
        # a chain: the centroid of {0,1} decides whether 2 joins
        ([[1, 0, 0], [1, 1, 0], [0, 1, 1]], None, 0.7, [0, 0, 2]),
        # nothing similar enough
        ([[1, 0], [0, 1]], None, 0.1, [0, 1]),
    ],
)
def test_greedy_merge(content, network, threshold, expected) -> None:
    facets = [_m(content)] + ([_m(network)] if network is not None else [])
    label, merges = greedy_merge(facets, threshold, veto=0.05)
    assert label.tolist() == expected
    assert all(c >= threshold for _, _, c, _ in merges)


@pytest.mark.parametrize(("sizes", "min_size", "merged"), [([1, 1], 3, True), ([3, 4], 3, False)])
def test_network_veto_needs_groups(sizes: list[int], min_size: int, merged: bool) -> None:
    """One home account's single ASN does not veto; two groups' disjoint ASN mixes do."""
    content, network = _m([[5, 3], [10, 6]]), _m([[4, 0], [0, 7]])
    label, _ = greedy_merge([content, network], 0.6, 0.05, np.array(sizes), min_size)
    assert bool(label[0] == label[1]) is merged


@pytest.mark.parametrize(
    ("linked", "config", "merged"),
    [
        # two groups tied by shared infrastructure with disjoint ASN mixes: vetoed, as before
        ([True, True], None, False),
        # groups gathered from unlinked home accounts (low-and-slow): their ASN mixes are home
        # networks, not infrastructure, so disjoint mixes do not veto
        ([False, False], None, True),
        ([True, False], None, True),
        # request parameters still veto unlinked groups (config is not an infrastructure facet)
        ([False, False], [[3, 0], [0, 5]], False),
        # ... and do not when they agree
        ([False, False], [[3, 1], [2, 5]], True),
    ],
)
def test_network_veto_needs_linked_groups(linked: list[bool], config, merged: bool) -> None:
    """Only the ASN mix of a group whose accounts share infrastructure (a Leiden fragment) vetoes."""
    facets = [_m([[5, 3], [10, 6]]), _m([[4, 0], [0, 7]])] + ([_m(config)] if config is not None else [])
    label, _ = greedy_merge(
        facets, 0.6, 0.05, np.array([5, 6]), 3, linked=np.array(linked), infra_facets=(1,)
    )
    assert bool(label[0] == label[1]) is merged


def test_linked_is_inherited_on_merge() -> None:
    """A group that absorbed a linked fragment is linked: its ASN mix now vetoes."""
    content = _m([[5, 3, 0], [5, 3, 0], [5, 3, 1]])
    network = _m([[4, 0], [4, 0], [0, 7]])
    # 0 (linked) and 1 (unlinked) merge first (same ASN); the result is linked, as is 2: vetoed
    label, _ = greedy_merge(
        [content, network],
        0.6,
        0.05,
        np.array([3, 3, 3]),
        3,
        linked=np.array([True, False, True]),
        infra_facets=(1,),
    )
    assert label.tolist() == [0, 0, 2]
    # had 0 been unlinked, nothing would veto 2 joining
    label, _ = greedy_merge(
        [content, network],
        0.6,
        0.05,
        np.array([3, 3, 3]),
        3,
        linked=np.array([False, False, True]),
        infra_facets=(1,),
    )
    assert label.tolist() == [0, 0, 0]


T0 = dt.datetime(2026, 4, 1, 10, 30, tzinfo=dt.UTC)


def _accounts(rows: list[tuple[str, str | None, dt.datetime | None, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "account_id": pl.Utf8,
            "payment_fingerprint": pl.Utf8,
            "created_at": pl.Datetime("us", "UTC"),
            "tier": pl.Utf8,
        },
        orient="row",
    ).with_columns(verified=pl.lit(False))


@pytest.mark.parametrize(
    ("dormant", "flagged", "campaign", "reason"),
    [
        (("d1", "card1", None, "free"), True, "DG-1", "payment instrument"),  # shares the campaign's card
        (("d1", "other", T0, "edu"), False, None, "same hour and tier"),  # same sign-up burst only
        (("d1", "other", T0, "pro"), False, None, ""),  # other tier: no tie
        (("d1", None, None, "free"), False, None, ""),  # nothing known
    ],
)
def test_dormant_accounts(dormant, flagged: bool, campaign: str | None, reason: str) -> None:
    acc = _accounts(
        [
            ("a1", "card1", T0, "edu"),
            ("a2", "card1", T0 + dt.timedelta(minutes=5), "edu"),
            ("b1", "card9", T0, "pro"),
            dormant,
        ]
    )
    members = pl.DataFrame({"account_id": ["a1", "a2"], "campaign_id": ["DG-1", "DG-1"]})
    scored = pl.DataFrame({"account_id": ["a1", "a2", "b1"], "score": [0.97, 0.93, 0.1]})
    out = dormant_accounts(acc, pl.Series(["a1", "a2", "b1"]), members, scored, threshold=0.5)
    assert out["account_id"].to_list() == ["d1"]
    row = out.row(0, named=True)
    assert row["flagged"] is flagged and row["campaign_id"] == campaign
    assert row["interactions"] == 0 and 0.0 <= row["score"] <= 1.0
    assert (reason in row["reasons"]) if reason else row["reasons"] == ""


def _reference_merge(facets, threshold, veto, sizes, veto_min_size, linked, infra_facets):
    """greedy_merge written plainly: the whole similarity matrix again before every merge."""
    from distillguard.campaigns.attribute import _gram

    n = facets[0].shape[0]
    grams = [_gram(sp.csr_matrix(f, dtype=np.float64)) for f in facets]
    label, size, link = np.arange(n), sizes.astype(np.int64).copy(), linked.copy()
    alive = np.ones(n, dtype=bool)
    merges = []
    while True:
        sim = None
        for f, g in enumerate(grams):
            d = np.sqrt(np.clip(np.diag(g), 0.0, None))
            with np.errstate(divide="ignore", invalid="ignore"):
                c = np.nan_to_num(g / np.outer(d, d), nan=0.0, posinf=0.0)
            if f == 0:
                sim = c
                continue
            known = (d > 0) & (size >= veto_min_size) & (link | (f not in infra_facets))
            sim = np.where((c >= veto) | ~known[:, None] | ~known[None, :], sim, -1.0)
        sim[~alive, :] = sim[:, ~alive] = -1.0
        np.fill_diagonal(sim, -1.0)
        i, j = divmod(int(np.argmax(sim)), n)
        if sim[i, j] < threshold:
            return label, merges
        i, j = min(i, j), max(i, j)
        merges.append((i, j))
        alive[j] = False
        label[label == j] = i
        size[i] += size[j]
        link[i] |= link[j]
        for g in grams:
            g[i, :] += g[j, :]
            g[:, i] += g[:, j]
            g[j, :] = g[:, j] = 0.0


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize(
    ("dense_cells", "top_k", "n", "block_cells"),
    [
        (0, 8, 40, 10**9),
        (10**9, 8, 40, 10**9),
        (10**9, 1, 40, 10**9),
        (10**9, 2, 60, 10**9),
        (10**9, 100, 30, 10**9),
        (10**9, 8, 40, 1),
        (0, 2, 60, 7 * 60),
    ],
)  # the sparse and the dense Gram matrix; lists of each row's largest entries short, long, whole;
# the whole-matrix steps in one block, a row at a time, 7 rows at a time (a last block of 4)
def test_greedy_merge_matches_the_plain_algorithm(
    seed, dense_cells, top_k, n, block_cells, monkeypatch
) -> None:
    """The incremental bookkeeping (row maxima, each row's largest entries, one row of similarities
    per merge) merges the same pairs in the same order as recomputing everything, ties included
    (small integer profiles repeat)."""
    from distillguard.campaigns import attribute

    monkeypatch.setattr(attribute, "DENSE_GRAM_CELLS", dense_cells)
    monkeypatch.setattr(attribute, "_TOP_K", top_k)
    monkeypatch.setattr(attribute, "_BLOCK_CELLS", block_cells)
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 3, (6, 12)) * (rng.random((6, 12)) < 0.4)
    content = base[rng.integers(0, 6, n)] + (rng.random((n, 12)) < 0.1) * rng.integers(0, 2, (n, 12))
    network = rng.integers(0, 3, (n, 4)) * (rng.random((n, 4)) < 0.5)
    sizes = rng.integers(1, 4, n)
    linked = rng.random(n) < 0.7
    facets = [sp.csr_matrix(content.astype(float)), sp.csr_matrix(network.astype(float))]
    args = (0.5, 0.2, sizes, 2, linked, (1,))
    label, merges = greedy_merge(facets, *args[:2], args[2], args[3], linked=args[4], infra_facets=args[5])
    ref_label, ref_merges = _reference_merge(facets, *args)
    assert [(i, j) for i, j, _, _ in merges] == ref_merges and len(ref_merges) > 5
    assert label.tolist() == ref_label.tolist()


@pytest.mark.parametrize(
    ("dense_cells", "dense_share"), [(10**9, 0.05), (0, 0.05), (50 * 7, 0.5), (50 * 79, 0.0), (0, 2.0)]
)  # all dense; split, blocks of 1 key; split, blocks of 7; dense in blocks; all sparse
def test_dense_and_sparse_gram_agree(dense_cells, dense_share, monkeypatch) -> None:
    from distillguard.campaigns import attribute

    monkeypatch.setattr(attribute, "DENSE_GRAM_CELLS", dense_cells)
    monkeypatch.setattr(attribute, "DENSE_KEY_SHARE", dense_share)
    x = sp.random(50, 80, density=0.3, random_state=np.random.default_rng(1), format="csr") * 100
    x = x.tolil()
    x[:, 3] = 5.0  # a key every unit carries
    x = x.tocsr()
    np.testing.assert_allclose(attribute._gram(x), (x @ x.T).toarray(), rtol=1e-12, atol=1e-9)

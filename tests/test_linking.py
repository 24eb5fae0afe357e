"""Linking weights: rarity x consistency; a key shared by thousands must not glue accounts together."""

from __future__ import annotations

import ibis
import polars as pl
import pytest

from distillguard.linking import LinkParams, candidate_edges, weigh_keys


def _keys(rows: list[tuple[str, str, str, float]]) -> ibis.Table:
    return ibis.memtable(
        pl.DataFrame(rows, schema=["account_id", "kind", "key", "share"], orient="row").with_columns(
            n=pl.lit(10, pl.Int64)
        )
    )


def _edges(rows: list[tuple[str, str, str, float]], n_accounts: int) -> pl.DataFrame:
    w = weigh_keys(_keys(rows), n_accounts)
    return pl.from_arrow(candidate_edges(w, LinkParams()))


@pytest.mark.parametrize(
    ("sharers", "population", "linked"),
    [
        (2, 5000, True),  # a rare key used by two accounts: evidence
        (30, 5000, True),  # a campaign-sized template
        (3000, 5000, False),  # a popular agent's system prompt: too common to link
    ],
)
def test_rarity_decides_whether_a_shared_key_links(sharers: int, population: int, linked: bool) -> None:
    rows = [(f"a{i:05d}", "template", "k1", 1.0) for i in range(sharers)]
    e = _edges(rows, population)
    assert (e.height > 0) is linked


@pytest.mark.parametrize(("share", "linked"), [(1.0, True), (0.5, True), (0.06, False)])
def test_consistency_scales_the_weight(share: float, linked: bool) -> None:
    rows = [(f"a{i}", "template", "k1", share) for i in range(5)]
    e = _edges(rows, 5000)
    assert (e.height > 0) is linked


@pytest.mark.parametrize("bucket", [50, 400, 2000])
def test_edges_per_bucket_are_bounded(bucket: int) -> None:
    rows = [(f"a{i:05d}", "payment", "card", 1.0) for i in range(bucket)]
    e = _edges(rows, 1_000_000)
    assert e.height <= bucket * LinkParams().neighbours
    assert e.height < bucket * (bucket - 1) // 2 or bucket <= 2 * LinkParams().neighbours + 1
    assert (e["src"] < e["dst"]).all()


def test_more_kinds_of_evidence_weigh_more() -> None:
    one = [("a", "template", "t", 1.0), ("b", "template", "t", 1.0)]
    two = [*one, ("a", "payment", "p", 1.0), ("b", "payment", "p", 1.0)]
    w1 = _edges(one, 1000)["weight"][0]
    w2 = _edges(two, 1000)["weight"][0]
    assert w2 > w1


@pytest.mark.parametrize("bucket", [2, 3, 6, 7, 12, 13, 14, 30])
def test_every_pair_of_a_bucket_is_made_once(bucket: int) -> None:
    """Members link to their next ``neighbours`` (cyclically): small buckets become complete graphs,
    larger ones ``bucket x neighbours`` edges; a pair reached from both ends counts its key once."""
    rows = [(f"a{i:03d}", "template", "k1", 1.0) for i in range(bucket)]
    e = _edges(rows, 5000)
    k = LinkParams().neighbours
    expected = bucket * (bucket - 1) // 2 if bucket <= 2 * k + 1 else bucket * k
    assert e.height == expected
    assert e.select("src", "dst").unique().height == e.height
    assert e["weight"].n_unique() == 1  # one shared key's evidence, never twice


# (parts, rows a part, rows a query, expected groups)
PART_GROUP_CASES = [
    ("all in one query", [1, 2, 3], 10, 1000, [[1, 2, 3]]),
    ("two a query", [1, 2, 3], 10, 25, [[1, 2], [3]]),
    ("a part larger than a query still goes alone", [1, 2], 100, 10, [[1], [2]]),
    ("no rows", [1, 2], 0, 10, [[1, 2]]),
]


@pytest.mark.parametrize(("parts", "size", "rows", "expected"),
                         [pytest.param(p, s, r, e, id=c) for c, p, s, r, e in PART_GROUP_CASES])
def test_part_groups(parts, size, rows, expected):
    from distillguard.linking.keys import part_groups

    assert [list(g) for g in part_groups(parts, size, rows)] == expected


@pytest.mark.parametrize(
    ("kind", "key", "df", "expected"),
    [
        ("template", "00000000000000ab", 2,
         "50% of its requests share template 0000000000… with 1 other account"),
        ("template", "00000000000000ab", 312,
         "50% of its requests share template 0000000000… with 311 other accounts"),
        ("payment", "card-1", 2, "shares payment instrument card-1 with 1 other account"),
        ("payment", "card-1", 4, "shares payment instrument card-1 with 3 other accounts"),
    ],
)
def test_key_evidence_text_counts_the_other_accounts(kind: str, key: str, df: int, expected: str) -> None:
    from distillguard.linking.evidence import key_evidence_text

    keys = ibis.memtable({"account_id": ["a"], "kind": [kind], "key": [key], "share": [0.5], "df": [df],
                          "w": [0.4]})
    assert key_evidence_text(keys)["text"].to_list() == [expected]

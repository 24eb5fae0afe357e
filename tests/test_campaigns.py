"""Leiden clustering and campaign ids: deterministic, planted groups kept apart."""

from __future__ import annotations

import itertools

import polars as pl
import pyarrow as pa
import pytest

from distillguard.campaigns import ClusterParams, campaign_id, leiden_clusters


def _planted(groups: list[int], bridge: float) -> pa.Table:
    src, dst, w = [], [], []
    for g, n in enumerate(groups):
        for a, b in itertools.combinations(range(n), 2):
            src.append(f"g{g}_{a:03d}")
            dst.append(f"g{g}_{b:03d}")
            w.append(1.0)
    for g in range(len(groups) - 1):  # one weak bridge between consecutive groups
        src.append(f"g{g}_000")
        dst.append(f"g{g + 1}_000")
        w.append(bridge)
    return pa.table({"src": src, "dst": dst, "weight": w})


@pytest.mark.parametrize(
    ("groups", "bridge", "resolution"),
    [([10, 10, 10], 1.0, 0.05), ([5, 40], 0.5, 0.05), ([8, 8, 8, 8], 1.0, 0.2)],
)
def test_leiden_keeps_planted_groups_apart(groups: list[int], bridge: float, resolution: float) -> None:
    cl = leiden_clusters(_planted(groups, bridge), ClusterParams(resolution=resolution))
    by_group = cl.with_columns(g=pl.col("account_id").str.extract(r"^(g\d+)_"))
    assert by_group.height == sum(groups)
    per_group = by_group.group_by("g").agg(clusters=pl.col("cluster").n_unique())
    assert per_group["clusters"].to_list() == [1] * len(groups)
    assert cl["cluster"].n_unique() == len(groups)


@pytest.mark.parametrize("seed", [0, 7])
def test_leiden_is_deterministic(seed: int) -> None:
    e = _planted([6, 9, 12], 0.8)
    a = leiden_clusters(e, ClusterParams(resolution=0.05, seed=seed))
    b = leiden_clusters(e, ClusterParams(resolution=0.05, seed=seed))
    assert a.equals(b)


@pytest.mark.parametrize(
    ("ids", "same_as"),
    [(["b", "a", "c"], ["a", "b", "c"]), (["x"], ["x"]), (["acct_2", "acct_1"], ["acct_1", "acct_2"])],
)
def test_campaign_id_depends_only_on_the_member_set(ids: list[str], same_as: list[str]) -> None:
    cid = campaign_id(ids)
    assert cid == campaign_id(same_as)
    assert cid.startswith("DG-") and len(cid) == 11
    assert cid != campaign_id([*ids, "extra"])


# --- each member's campaign clause in its reasons -------------------------------------------------

def _campaign(cid: str, accounts: int, templates=(), ips=()) -> dict:
    return {
        "campaign_id": cid,
        "accounts": accounts,
        "indicators": {
            "templates": [{"fingerprint": f, "accounts": 5, "interactions": 70} for f in templates],
            "payment_fingerprints": [],
            "ip_prefixes": [{"value": v, "accounts": 2} for v in ips],
            "signup_bursts": [],
        },
    }


def _attribution(units: dict[str, tuple[int, int | None]], merges: list[tuple[int, int, float, str]]):
    from distillguard.campaigns.attribute import Attribution

    groups = pl.DataFrame(
        [(a, 0, frag, unit) for a, (unit, frag) in units.items()],
        schema={"account_id": pl.Utf8, "group": pl.Int64, "fragment": pl.Int64, "unit": pl.Int64},
        orient="row",
    )
    m = pl.DataFrame(
        merges, schema={"into": pl.Int64, "merged": pl.Int64, "similarity": pl.Float64, "evidence": pl.Utf8},
        orient="row",
    )
    return Attribution(groups, m)


TPL = "00000000000000ab"
HELD = {"a": [("template", TPL, 4)], "b": [], "c": [], "d": [("ip_prefix", "10.0.0.0/24", 2)]}


@pytest.mark.parametrize(
    ("account", "expected", "absent"),
    [
        # holds a named key: the campaign's keys, then its own share of them
        ("a", "campaign DG-1 (4 accounts): shared template 0000000000… used by 5 accounts (70 requests), "
              "IP prefix 10.0.0.0/24 shared by 2 accounts; this account: template 0000000000… on 4 of its "
              "requests", "joined by"),
        # holds none, a unit of one merged in: the campaign's keys are not quoted as its own
        ("b", "campaign DG-1 (4 accounts); this account holds none of its shared keys; it joined by "
              "request-profile similarity 0.76 (near-duplicate prompt family f1 (60%), near-duplicate "
              "prompt family f2 (40%))", "template 0000000000"),
        # holds none, in a linked group that was the unit others joined (the first merge into it)
        ("c", "campaign DG-1 (4 accounts); this account holds none of its shared keys; its linked group "
              "of 2 flagged accounts joined by request-profile similarity 0.90", "template 0000000000"),
        ("d", "this account: IP prefix 10.0.0.0/24 on 2 of its requests", "holds none"),
        # a campaign that names no shared key
        ("e", "campaign DG-2 (2 accounts); it joined by request-profile similarity 0.50 (x (100%))",
         "holds none"),
    ],
)
def test_campaign_clause_quotes_only_the_keys_an_account_holds(account: str, expected: str, absent: str):
    from distillguard.campaigns.clauses import account_campaign_text

    ac = pl.DataFrame({"account_id": ["a", "b", "c", "c2", "d", "e", "e2"],
                       "campaign_id": ["DG-1"] * 5 + ["DG-2"] * 2})
    held = pl.DataFrame(
        [(a, k, v, n) for a, rows in HELD.items() for k, v, n in rows],
        schema={"account_id": pl.Utf8, "kind": pl.Utf8, "value": pl.Utf8, "n": pl.Int64}, orient="row",
    )
    attr = _attribution(
        {"a": (0, 0), "c": (1, 1), "c2": (1, 1), "b": (2, None), "d": (0, 0), "e": (3, None),
         "e2": (4, None)},
        [(1, 0, 0.9, "t (100%)"), (1, 2, 0.76, "near-duplicate prompt family f1 (60%); "
                                               "near-duplicate prompt family f2 (40%)"),
         (4, 3, 0.5, "x (100%)")],
    )
    camps = [_campaign("DG-1", 4, templates=[TPL], ips=["10.0.0.0/24"]), _campaign("DG-2", 2)]
    out = dict(account_campaign_text(ac, camps, held, attr).iter_rows())
    assert set(out) == set(ac["account_id"])
    assert expected in out[account]
    assert absent not in out[account]


def test_held_keys_are_counted_per_member():
    """Which of its campaign's named keys each member holds, on how many of its requests; a key named
    by another campaign does not count."""
    import datetime as dt

    import ibis

    from distillguard.campaigns.clauses import held
    from distillguard.linking.keys import fp_hex

    fp = "ffffffffffffff00"  # a negative fingerprint: the tie carries the staged integer beside its hex
    assert ibis.literal(-256, "int64").pipe(fp_hex).execute() == fp
    members = pl.DataFrame({"account_id": ["a", "b", "c"], "campaign_id": ["X", "X", "Y"],
                            "member": [0, 1, 2]}).cast({"member": pl.Int32})
    s = ibis.memtable(pl.DataFrame({
        "member": [0, 0, 0, 1, 2, 2],
        "campaign_id": ["X", "X", "X", "X", "Y", "Y"],
        "skeleton": [-256, -256, 7, 7, -256, 7],
        "ip24": ["1.2.3.0/24", None, None, "1.2.3.0/24", "1.2.3.0/24", None],
    }).cast({"member": pl.Int32}).to_arrow())
    hour = dt.datetime(2026, 4, 22, 10, tzinfo=dt.UTC)
    accounts = ibis.memtable(pa.table({
        "account_id": ["a", "b", "c"],
        "campaign_id": ["X", "X", "Y"],
        "payment_fingerprint": ["card1", "card2", "card1"],
        "created_at": [hour + dt.timedelta(minutes=5), hour + dt.timedelta(hours=2), hour],
    }))
    # the members' near-duplicate keys: who uses a family consistently, on how many requests
    families = ibis.memtable({"account_id": ["a", "c"], "campaign_id": ["X", "Y"], "key": ["fam1", "fam1"],
                              "n": [9, 7]})
    ties = pl.DataFrame({
        "campaign_id": ["X", "X", "X", "X", "X"],
        "kind": ["template", "ip_prefix", "payment", "signup_burst", "prompt_family"],
        "value": [fp, "1.2.3.0/24", "card1", "2026-04-22T10:00:00Z", "fam1"],
        "raw": [-256, None, None, None, None],
    })
    got = held(s, accounts, families, members.select("member", "account_id"), ties).sort("account_id", "kind")
    assert got.rows() == [
        ("a", "ip_prefix", "1.2.3.0/24", 1), ("a", "payment", "card1", 1),
        ("a", "prompt_family", "fam1", 9), ("a", "signup_burst", "2026-04-22T10:00:00Z", 1),
        ("a", "template", fp, 2), ("b", "ip_prefix", "1.2.3.0/24", 1),
    ]


def _ind(templates=(), families=()) -> dict:
    return {
        "templates": [{"fingerprint": f, "accounts": a, "interactions": n} for f, a, n in templates],
        "prompt_families": [{"family": f, "accounts": a, "interactions": n} for f, a, n in families],
        "payment_fingerprints": [], "ip_prefixes": [], "signup_bursts": [],
    }


@pytest.mark.parametrize(
    ("ind", "n_accounts", "named"),
    [
        # content used by the most accounts first, whatever its kind
        (_ind([("t1", 30, 900)], [("f1", 37, 1200), ("f2", 36, 1100)]), 40, ["f1", "t1"]),
        # one family at most (its bands repeat), the second content item a template
        (_ind([("t1", 5, 10)], [("f1", 45, 1300), ("f2", 45, 1300)]), 45, ["f1", "t1"]),
        # a template used by fewer than a tenth of the accounts is not what ties them
        (_ind([("t1", 3, 3), ("t2", 2, 3)], [("f1", 37, 1200)]), 40, ["f1"]),
        (_ind([("t1", 3, 3)]), 40, []),
        # in a small campaign two accounts are enough
        (_ind([("t1", 2, 4)]), 4, ["t1"]),
    ],
)
def test_campaign_tie_names_what_most_of_its_accounts_share(ind: dict, n_accounts: int, named: list[str]):
    from distillguard.campaigns.clauses import tie_items, tie_text

    assert [v for _, v, _ in tie_items(ind, n_accounts)] == named
    assert tie_text(ind, n_accounts).startswith("shared ") == bool(named)


@pytest.mark.parametrize(
    ("scores", "flagged", "says"),
    [
        ([0.3, 0.2, 0.1], [False] * 3, "the highest account score 0.30 is below the threshold 0.50."),
        ([0.9, 0.2, 0.1], [True, False, False], "score 0.90 reaches the threshold 0.50 (1 flagged on"),
        # reached but not flagged: the peer gate (or too few requests) stopped it, and the text says so
        ([0.9, 0.2, 0.1], [False] * 3, "score 0.90 reaches the threshold 0.50, but too few requests or"),
    ],
)
def test_lookalike_group_says_why_it_was_not_flagged(scores, flagged, says):
    from distillguard.campaigns.assemble import _lookalikes

    ids = ["a", "b", "c"]
    clusters = pl.DataFrame({"account_id": ids, "cluster": [7, 7, 7]})
    scored = pl.DataFrame({"account_id": ids, "score": scores, "flagged": flagged})
    feats = pl.DataFrame({"account_id": ids, "interactions": [10, 10, 10]})
    edges = pl.DataFrame({"src": ["a", "b"], "dst": ["b", "c"], "kind": ["asn", "asn"]})
    cfeats = pl.DataFrame({"cluster": [7], "size": [3], "interactions": [30], "cluster.cot_share": [0.1],
                           "cluster.capability_focus": [0.2], "cluster.content_sharing": [0.0]})
    (group,) = _lookalikes(clusters, scored, feats, edges, cfeats, pl.DataFrame(), 0.5)
    assert says in group["why_not"], group["why_not"]

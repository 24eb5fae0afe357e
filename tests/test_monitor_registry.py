"""Stable campaign ids across runs (``monitor.registry``) and analysts' decisions (``monitor.review``)."""

from __future__ import annotations

import polars as pl
import pytest

from distillguard.errors import UsageError
from distillguard.monitor import registry as rg
from distillguard.monitor import review as rv


def _runs(*runs: dict[str, set[str]]) -> tuple[dict, list[rg.Assignment]]:
    reg = rg.empty_registry()
    out = []
    for i, r in enumerate(runs, start=1):
        out.append(rg.assign(reg, r, i, f"2026-05-{i:02d}"))
    return reg, out


A = {f"a{i}" for i in range(10)}
B = {f"b{i}" for i in range(6)}


@pytest.mark.parametrize(
    ("runs", "final", "expect"),
    [
        # a campaign keeps its first id as it grows (and its run-derived id changes)
        ([{"X1": A}, {"X2": A | {"n1", "n2"}}], {"X2": "X1"}, {"X1": {"joined": ["n1", "n2"]}}),
        # two merge: the one flagged first survives, the other becomes its alias
        ([{"X1": A}, {"X1": A, "Y1": B}, {"Z": A | B}], {"Z": "X1"}, {"X1": {"aliases": ["Y1"]}}),
        # the merge survivor is the earlier one even when the later one is larger
        ([{"Y1": B}, {"Y1": B, "X1": A}, {"Z": A | B}], {"Z": "Y1"}, {"Y1": {"aliases": ["X1"]}}),
        # a split keeps the id on the larger part; the smaller gets a new id split from it
        ([{"X1": A}, {"P": set(list(sorted(A))[:7]), "Q": set(list(sorted(A))[7:])}],
         {"P": "X1", "Q": "Q"}, {"Q": {"split_from": "X1"}}),
        # a standby pool: the old accounts gone quiet, new ones linked to the remaining few
        ([{"X1": A}, {"W": {"a0", "a1", "s1", "s2", "s3", "s4"}}], {"W": "X1"},
         {"X1": {"joined": ["s1", "s2", "s3", "s4"]}}),
        # (held-out seed 4243) a campaign first flagged as one account in each of two groups another
        # campaign led: those merge, its own group splits off under a new id recorded as from them
        ([{"X1": set(sorted(A)[:5]) | {"c1"}, "X2": set(sorted(A)[5:]) | {"c2"}},
          {"Z": A, "C": {"c1", "c2"}}],
         {"Z": "X1", "C": "C"}, {"X1": {"aliases": ["X2"]}, "C": {"split_from": "X1"}}),
        # an unrelated new campaign whose derived id is already taken gets a suffix
        ([{"X1": A}, {"X1": B}], {"X1": "X1-2"}, {"X1-2": {"first_flagged_run": 2}}),
    ],
)
def test_stable_ids(runs: list[dict], final: dict[str, str], expect: dict[str, dict]) -> None:
    reg, asg = _runs(*runs)
    assert asg[-1].ids == final
    for sid, props in expect.items():
        rc = reg["campaigns"][sid]
        for k, v in props.items():
            if k == "joined":
                assert asg[-1].joined[sid] == v
            else:
                assert rc[k] == v
    for alias, survivor in reg["aliases"].items():
        assert rg.resolve(reg, alias) == survivor


def test_membership_is_exclusive_and_cumulative() -> None:
    reg, _ = _runs({"X1": A}, {"P": set(list(sorted(A))[:7]), "Q": set(list(sorted(A))[7:])})
    owners: dict[str, list[str]] = {}
    for sid, rc in reg["campaigns"].items():
        for a in rc["members"]:
            owners.setdefault(a, []).append(sid)
    assert all(len(v) == 1 for v in owners.values())
    assert set(owners) == A


def _campaign(cid: str, members: set[str]) -> dict:
    return {"campaign_id": cid, "accounts": len(members), "account_ids": sorted(members)}


def _accounts(members: set[str]) -> pl.DataFrame:
    ids = sorted(members)
    return pl.DataFrame({"account_id": ids, "flagged": [True] * len(ids), "reasons": ["r"] * len(ids)})


@pytest.mark.parametrize(
    ("at_decision", "now", "held"),
    [
        (A, A, True),  # unchanged: stays dismissed
        (A, A | {"n1", "n2", "n3", "n4"}, True),  # 4 new: below the 5 of MATERIAL_MIN_NEW
        (A | {"a10", "a11"}, A | {f"n{i}" for i in range(5)}, True),  # 5 new, below half of 12
        (A, A | {f"n{i}" for i in range(6)}, False),  # 6 new on 10: at least 5 and at least half
        (A, {f"n{i}" for i in range(4)} | {"a0"}, True),  # the old members gone, 4 new: not material
        (A, A | {f"n{i}" for i in range(12)}, False),  # 12 new on 10: material, flagged again
        ({"a0", "a1"}, {"a0", "a1"} | {f"n{i}" for i in range(5)}, False),  # small group, 5 new
    ],
)
def test_dismissal_holds_until_material_growth(at_decision: set[str], now: set[str], held: bool) -> None:
    reg = rg.empty_registry()
    rg.assign(reg, {"X1": at_decision}, 1, "2026-05-01")
    decisions: list[dict] = []
    rv.record(decisions, reg, "X1", "dismiss", "a university course", "")
    camps = [_campaign("X1", now)]
    acc, events = rv.apply(_accounts(now), camps, rv.latest(decisions, reg))
    assert (not acc["flagged"].any()) is held
    assert camps[0]["review"]["material_growth"] is (not held)
    if held:
        assert all(r.startswith("campaign X1 dismissed by") for r in acc["reasons"])
        assert not events
    else:
        assert events[0]["type"] == "dismissal_reopened"


def test_confirm_lists_accounts_joined_since() -> None:
    reg = rg.empty_registry()
    rg.assign(reg, {"X1": A}, 1, "2026-05-01")
    decisions: list[dict] = []
    rv.record(decisions, reg, "X1", "confirm", None, "")
    camps = [_campaign("X1", A | {"s1"})]
    acc, events = rv.apply(_accounts(A | {"s1"}), camps, rv.latest(decisions, reg))
    assert acc["flagged"].all()
    assert camps[0]["review"]["joined_since"] == ["s1"]
    assert events == [{"type": "confirmed_campaign_grew", "campaign_id": "X1", "proposed": ["s1"]}]


@pytest.mark.parametrize(
    ("cid", "decision", "reason", "needle"),
    [
        ("nope", "dismiss", "x", "no campaign 'nope'"),
        ("X1", "dismiss", "", "needs a reason"),
        ("X1", "ban", "x", "expected one of confirm, dismiss"),
    ],
)
def test_bad_decisions_are_refused(cid: str, decision: str, reason: str, needle: str) -> None:
    reg = rg.empty_registry()
    rg.assign(reg, {"X1": A}, 1, "2026-05-01")
    with pytest.raises(UsageError, match=needle):
        rv.record([], reg, cid, decision, reason, "")


def test_decision_on_an_alias_applies_to_the_survivor() -> None:
    reg, _ = _runs({"X1": A}, {"X1": A, "Y1": B}, {"Z": A | B})
    decisions: list[dict] = []
    d = rv.record(decisions, reg, "Y1", "confirm", None, "")
    assert d["campaign_id"] == "X1" and d["named_as"] == "Y1"
    assert set(rv.latest(decisions, reg)) == {"X1"}


@pytest.mark.parametrize(
    ("name", "content", "expect"),
    [
        ("d.csv", 'campaign_id,decision,reason\nX1,dismiss,"a course, checked"\nY1,confirm,\n',
         [("X1", "dismiss", "a course, checked"), ("Y1", "confirm", "")]),
        ("d.jsonl", '{"campaign_id": "X1", "decision": "confirm"}\n\n{"campaign_id": "Y1", '
         '"decision": "dismiss", "reason": "lab"}\n', [("X1", "confirm", None), ("Y1", "dismiss", "lab")]),
    ],
)
def test_decisions_file_is_read(tmp_path, name: str, content: str, expect: list) -> None:
    p = tmp_path / name
    p.write_text(content)
    assert [r[:3] for r in rv.read_decisions_file(p)] == expect


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("d.csv", "id,what\nX1,confirm\n", "expected a CSV header"),
        ("d.jsonl", '{"campaign_id": "X1"}\n', "line 1: expected an object with campaign_id and decision"),
        ("d.jsonl", '{"campaign_id": "X1", "decision": "confirm"}\nnope\n', "line 2: not JSON"),
        ("d.jsonl", "[1]\n", "line 1: expected a JSON object"),
    ],
)
def test_bad_decisions_file_names_the_problem(tmp_path, name: str, content: str, needle: str) -> None:
    from distillguard.errors import InputError

    p = tmp_path / name
    p.write_text(content)
    with pytest.raises(InputError, match=needle):
        rv.read_decisions_file(p)

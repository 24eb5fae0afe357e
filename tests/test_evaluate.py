"""evaluate: measures on tiny hand-made results and labels with known answers."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from distillguard import schema
from distillguard.errors import InputError, UsageError
from distillguard.evaluate import evaluate

# account, archetype, campaign, playbook, pool, harvest requests, cover/benign requests, first request
LABELS = [
    ("a1", "hydra", "c1", "hydra", "primary", 10, 2, "2026-04-22T10:00:00"),
    ("a2", "hydra", "c1", "hydra", "primary", 10, 0, "2026-04-23T10:00:00"),
    ("a3", "hydra", "c1", "hydra", "standby", 5, 0, "2026-04-26T10:00:00"),
    ("a4", "cot_harvest", "c2", "cot_harvest", "primary", 20, 0, "2026-04-24T08:00:00"),
    ("b1", "casual", "benign", None, None, 0, 3, "2026-04-22T09:00:00"),
    ("b2", "casual", "benign", None, None, 0, 3, "2026-04-22T09:00:00"),
    ("b3", "power_user", "benign", None, None, 0, 9, "2026-04-22T09:00:00"),
    ("b4", "eval_harness", "benign", None, None, 0, 30, "2026-04-22T09:00:00"),
]


@pytest.fixture
def labels_dir(tmp_path) -> Path:
    """A miniature simulate output: labels/ plus the interactions (for first-activity times)."""
    out = tmp_path / "sim"
    (out / "labels" / "interactions").mkdir(parents=True)
    (out / "interactions").mkdir()
    pl.DataFrame(
        [r[:5] for r in LABELS],
        schema=["account_id", "archetype", "campaign_id", "playbook", "pool"],
        orient="row",
    ).with_columns(population=pl.col("archetype")).select(schema.ACCOUNT_LABELS.names).write_parquet(
        out / "labels" / "accounts.parquet"
    )
    rows, inter = [], []
    for acct, _, camp, _, _, h, other, first in LABELS:
        t0 = dt.datetime.fromisoformat(first).replace(tzinfo=dt.UTC)
        for k in range(h + other):
            rid = f"r-{acct}-{k}"
            rows.append((rid, acct, camp, k < h))
            inter.append((rid, t0 + dt.timedelta(hours=k), acct))
    pl.DataFrame(
        rows, schema=["request_id", "account_id", "campaign_id", "harvest"], orient="row"
    ).write_parquet(out / "labels" / "interactions" / "part-00000.parquet")
    pl.DataFrame(inter, schema=["request_id", "ts", "account_id"], orient="row").write_parquet(
        out / "interactions" / "part-00000.parquet"
    )
    return out


def _results(tmp_path: Path, rows: list[tuple], name: str = "res", fmt: str = "parquet") -> Path:
    d = tmp_path / name
    d.mkdir()
    df = pl.DataFrame(rows, schema=["account_id", "score", "flagged", "campaign_id"], orient="row")
    df = df.with_columns(reasons=pl.lit("test"))
    if fmt == "csv":
        df.write_csv(d / "accounts.csv")
    else:
        df.write_parquet(d / "accounts.parquet")
    return d


PERFECT = [
    ("a1", 0.9, True, "P1"),
    ("a2", 0.9, True, "P1"),
    ("a3", 0.9, True, "P1"),
    ("a4", 0.9, True, "P2"),
    ("b1", 0.1, False, None),
    ("b2", 0.1, False, None),
    ("b3", 0.1, False, None),
    ("b4", 0.1, False, None),
]
ONE_FP = [
    ("a1", 0.9, True, "P1"),
    ("a2", 0.9, True, "P1"),
    ("a3", 0.3, False, None),
    ("a4", 0.9, True, "P2"),
    ("b1", 0.1, False, None),
    ("b2", 0.1, False, None),
    ("b3", 0.8, True, "P1"),
    ("b4", 0.1, False, None),
]
SPLIT = [
    ("a1", 0.9, True, "P1"),
    ("a2", 0.8, True, "P1"),
    ("a3", 0.7, True, "P2"),
    ("a4", 0.6, True, None),
    ("b1", 0.5, False, None),
    ("b2", 0.1, False, None),
    ("b3", 0.1, False, None),
    ("b4", 0.65, True, "P3"),
]
ONLY_A1 = [("a1", 1.0, True, "P1")]

CASES = {
    # name: (rows, expected measures)
    "perfect": (
        PERFECT,
        {
            "precision": 1.0,
            "recall": 1.0,
            "benign_fpr": 0.0,
            "average_precision": 1.0,
            "harvest_caught": 1.0,
            "cohesion": 1.0,
            "purity": 1.0,
            "failover_relinking": 1.0,
            "f1": 1.0,
            "predicted_campaigns": 2,
        },
    ),
    "one_fp_missed_standby": (
        ONE_FP,
        {
            "precision": 0.75,
            "recall": 0.75,
            "benign_fpr": 0.25,
            "average_precision": 0.95,
            "harvest_caught": 40 / 45,
            "cohesion": 1.0,
            "purity": 0.75,
            "failover_relinking": 0.0,
            "predicted_campaigns": 2,
        },
    ),
    # flagged: a1..a4 + b4 -> TP 4 FP 1; ranking a1 a2 a3 b4 a4 b1 ...: AP = (1+1+1+4/5)/4 = 0.95
    "split_attribution": (
        SPLIT,
        {
            "precision": 0.8,
            "recall": 1.0,
            "benign_fpr": 0.25,
            "average_precision": 0.95,
            "harvest_caught": 1.0,
            "cohesion": 2 / 4,
            "purity": 1.0,
            "failover_relinking": 0.0,
            "predicted_campaigns": 3,
        },
    ),
    "missing_accounts_score_zero": (
        ONLY_A1,
        {
            "precision": 1.0,
            "recall": 0.25,
            "benign_fpr": 0.0,
            "harvest_caught": 10 / 45,
            "cohesion": 1.0,
            "purity": 1.0,
            "failover_relinking": 0.0,
        },
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_measures(tmp_path, labels_dir, case):
    rows, expected = CASES[case]
    report = evaluate(_results(tmp_path, rows), labels_dir)
    d = report.to_dict()
    for key, want in expected.items():
        assert d[key] == pytest.approx(want), key
    assert report.accounts == 8 and report.campaign_accounts == 4 and report.harvest_interactions == 45


@pytest.mark.parametrize(
    ("rows", "group", "flagged"),
    [
        (ONE_FP, "power_user", 1),
        (ONE_FP, "casual", 0),
        (SPLIT, "eval_harness", 1),
        (PERFECT, "eval_harness", 0),
    ],
)
def test_lookalike_false_positives(tmp_path, labels_dir, rows, group, flagged):
    report = evaluate(_results(tmp_path, rows), labels_dir)
    g = {x.group: x for x in report.lookalikes}
    assert set(g) == {"casual", "power_user", "eval_harness"}
    assert g[group].flagged == flagged


@pytest.mark.parametrize(
    ("rows", "campaign", "recall", "caught", "predicted"),
    [
        (ONE_FP, "c1", 2 / 3, 20 / 25, "P1"),
        (ONE_FP, "c2", 1.0, 1.0, "P2"),
        (SPLIT, "c2", 1.0, 1.0, None),
        (ONLY_A1, "c1", 1 / 3, 10 / 25, "P1"),
    ],
)
def test_per_campaign(tmp_path, labels_dir, rows, campaign, recall, caught, predicted):
    report = evaluate(_results(tmp_path, rows), labels_dir)
    c = {x.campaign_id: x for x in report.campaigns}[campaign]
    assert c.recall == pytest.approx(recall)
    assert c.harvest_caught == pytest.approx(caught)
    assert c.predicted_campaign == predicted
    pb = {x.group: x.rate for x in report.playbooks}
    assert set(pb) == {"hydra", "cot_harvest"}


def test_missing_accounts_are_noted(tmp_path, labels_dir):
    report = evaluate(_results(tmp_path, ONLY_A1), labels_dir)
    assert any("7 labelled accounts are absent" in n for n in report.notes)


def _days(*days: tuple[str, dict[str, bool]]) -> list[tuple[str, str, bool]]:
    """Replay rows from (day, {account: flagged}) — a real replay lists every account seen so far."""
    return [(acct, day, f) for day, flags in days for acct, f in flags.items()]


@pytest.mark.parametrize(
    ("replay", "delays", "first_flagged"),
    [
        # c1 (a1 from 04-22, a2 from 04-23, standby a3 from 04-26); c2 (a4 from 04-24)
        pytest.param(
            _days(
                ("2026-04-22", {"a1": False}),
                ("2026-04-23", {"a1": False, "a2": False}),
                ("2026-04-24", {"a1": False, "a2": False, "a4": True}),
                ("2026-04-26", {"a1": True, "a2": False, "a3": False, "a4": True}),
                ("2026-04-27", {"a1": True, "a2": True, "a3": False, "a4": True}),
            ),
            {"c1": 5, "c2": 0},
            {"c1": "2026-04-26", "c2": "2026-04-24"},
            id="one of three flagged is not yet detection; two of three is",
        ),
        pytest.param(
            _days(
                ("2026-04-23", {"a1": False, "a2": True}),
                ("2026-04-26", {"a1": False, "a2": True, "a3": False}),
            ),
            {"c1": 1, "c2": None},
            {"c1": "2026-04-23", "c2": None},
            id="half of the accounts seen so far is enough, a later newcomer does not undo it",
        ),
        pytest.param(
            _days(("2026-04-26", {"a1": True, "a2": False, "a3": False})),
            {"c1": None, "c2": None},
            {"c1": "2026-04-26", "c2": None},
            id="never half: flagged once but not detected",
        ),
        pytest.param(
            [("a2", "2026-04-28", True), ("b1", "2026-04-22", True)],
            {"c1": 6, "c2": None},
            {"c1": "2026-04-28", "c2": None},
            id="sparse replay: the accounts a day lists",
        ),
    ],
)
def test_detection_delay(tmp_path, labels_dir, replay, delays, first_flagged):
    res = _results(tmp_path, PERFECT)
    pl.DataFrame(replay, schema=["account_id", "day", "flagged"], orient="row").with_columns(
        pl.col("day").str.to_date(), campaign_id=pl.lit("P1")
    ).write_parquet(res / "replay.parquet")
    report = evaluate(res, labels_dir)
    assert report.detection_delay == "available"
    assert {c.campaign_id: c.delay_days for c in report.campaigns} == delays
    assert {c.campaign_id: c.first_flagged for c in report.campaigns} == first_flagged
    # a batch scan's replay (no registry in campaigns.json) says nothing about kept ids
    assert all(c.id_kept is None and c.first_id is None for c in report.campaigns)


def test_delay_unavailable_without_replay(tmp_path, labels_dir):
    report = evaluate(_results(tmp_path, PERFECT), labels_dir)
    assert report.detection_delay.startswith("unavailable")
    assert all(c.delay_days is None for c in report.campaigns)
    assert {c.campaign_id: c.first_activity for c in report.campaigns} == {
        "c1": "2026-04-22",
        "c2": "2026-04-24",
    }


def test_csv_results_and_labels_folder(tmp_path, labels_dir):
    res = _results(tmp_path, ONE_FP, fmt="csv")
    a = evaluate(res, labels_dir).to_dict()
    b = evaluate(res, labels_dir / "labels").to_dict()
    assert a["precision"] == b["precision"] == pytest.approx(0.75)


@pytest.mark.parametrize(
    ("mutate", "error", "needle"),
    [
        (lambda d: (d / "accounts.parquet").unlink(), UsageError, "no accounts.parquet"),
        (
            lambda d: (
                pl.read_parquet(d / "accounts.parquet").drop("score").write_parquet(d / "accounts.parquet")
            ),
            InputError,
            "score",
        ),
        (
            lambda d: (
                pl.read_parquet(d / "accounts.parquet")
                .with_columns(score=pl.lit(1.5))
                .write_parquet(d / "accounts.parquet")
            ),
            InputError,
            "outside [0, 1]",
        ),
        (
            lambda d: pl.concat([pl.read_parquet(d / "accounts.parquet")] * 2).write_parquet(
                d / "accounts.parquet"
            ),
            InputError,
            "more than once",
        ),
        (lambda d: (d / "accounts.parquet").write_bytes(b"not parquet"), InputError, "cannot be read"),
    ],
)
def test_bad_results_give_clear_errors(tmp_path, labels_dir, mutate, error, needle):
    res = _results(tmp_path, PERFECT)
    mutate(res)
    with pytest.raises(error) as err:
        evaluate(res, labels_dir)
    assert needle in str(err.value)


def test_bad_labels(tmp_path, labels_dir):
    res = _results(tmp_path, PERFECT)
    with pytest.raises(UsageError, match="does not exist"):
        evaluate(res, tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UsageError, match="labels/accounts"):
        evaluate(res, empty)


def test_cli_evaluate_writes_json(tmp_path, labels_dir):
    from typer.testing import CliRunner

    from distillguard.cli import _load_commands, app

    _load_commands()
    res = _results(tmp_path, ONE_FP)
    out = tmp_path / "eval.json"
    r = CliRunner().invoke(app, ["evaluate", str(res), "--labels", str(labels_dir), "--json", str(out)])
    assert r.exit_code == 0, r.output
    assert "precision of flag" in r.output
    d = json.loads(out.read_text())
    assert d["precision"] == pytest.approx(0.75)
    assert {g["group"]: g["fp_rate"] for g in d["lookalikes"]}["power_user"] == 1.0


LINEAGE = {
    "DG-big": {"aliases": ["DG-early"], "split_from": None},
    "DG-part": {"aliases": [], "split_from": "DG-early"},
    "DG-new": {"aliases": [], "split_from": None},
}


@pytest.mark.parametrize(
    ("first", "share", "final", "kind"),
    [
        ("DG-big", 1.0, "DG-big", "kept"),
        ("DG-early", 0.9, "DG-big", "alias"),  # merged into the survivor
        ("DG-early", 0.2, "DG-part", "split"),  # a minority of another campaign's group, split off it
        ("DG-big", 0.2, "DG-part", "split"),  # ... the group's id now an alias
        ("DG-early", 0.8, "DG-part", "changed"),  # it led that group: it should have kept the id
        ("DG-big", 0.2, "DG-new", "changed"),  # no recorded tie to the first id
        ("DG-big", 1.0, None, None),  # in no campaign of the last run (gone quiet): no verdict
    ],
)
def test_id_kept(first, share, final, kind):
    from distillguard.evaluate import _id_kept

    assert _id_kept(first, share, final, LINEAGE) == kind

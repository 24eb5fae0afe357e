"""Quality floors on simulator seeds never used while tuning (seeds >= 1000), real prompt text, on the
`default` scenario, on `hard-lookalikes` (default traffic plus hard legitimate look-alikes) and on
`adaptive` (campaigns that avoid every published tell, among look-alikes that share what they still
show), scanned with the shared corpora's public-dataset index or without one (each mode has its own
shipped model).

Floors from the issues: account precision >= 0.98, recall >= 0.90, every playbook's recall >= 0.80
(every adaptive campaign's), no look-alike archetype with more than 0.5% of its accounts flagged, >= 90%
of each campaign's flagged accounts under one campaign id, the standby pool under its primary's
campaign id. Adaptive campaigns share nothing that ties their accounts together (no keys, no
synchronized hours), so their attribution to one id is not asserted.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from distillguard.pipeline import ScanOptions, scan

#: (scenario, held-out seed, scanned with the dataset index): seeds >= 1000, never used while tuning
#: or fitting the scorer
RUNS = [
    ("default", 1000, False),
    ("default", 1001, False),
    ("hard-lookalikes", 1002, False),
    ("default", 1003, True),
    ("hard-lookalikes", 1005, True),
    ("adaptive", 1010, True),
    ("adaptive", 1011, True),
    ("adaptive", 1012, True),
    ("adaptive", 1017, True),
    ("adaptive", 1042, True),
]
ADAPTIVE = "adaptive"
#: known detection gaps on a held-out run (scorer, not attribution): reported here, not hidden. None now:
#: default-1001's cot_harvest gap (recall 0.18) came from the capability signal reading a CoT meta
#: system prompt's boilerplate ("summarizing findings") as the task; fixed in prompt.capability, and
#: default-1003 and hard-lookalikes-1005 were added as runs nobody had looked at.
KNOWN_RECALL_GAPS: dict[tuple[str, int, bool], str] = {}
SCALE = 0.5


@pytest.fixture(
    scope="module", params=RUNS, ids=[f"{sc}-{seed}{'-index' if ix else ''}" for sc, seed, ix in RUNS]
)
def scanned(request: pytest.FixtureRequest, prompts_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    from distillguard.simulate import simulate

    scenario, seed, with_index = request.param
    index = str(request.getfixturevalue("dataset_index")) if with_index else None
    tmp = tmp_path_factory.mktemp(f"quality-{scenario}-{seed}")
    simulate(tmp / "logs", scenario=scenario, seed=seed, scale=SCALE, prompts_dir=prompts_dir)
    res = scan(
        [tmp / "logs" / "interactions"],
        [tmp / "logs" / "accounts.parquet"],
        tmp / "work",
        ScanOptions(seed=0, dataset_index=index),
    )
    lab = pl.read_parquet(tmp / "logs" / "labels" / "accounts.parquet")
    acc = pl.from_arrow(res.accounts).join(lab, on="account_id", suffix="_true", how="full", coalesce=True)
    return res, acc


@pytest.mark.slow
def test_one_result_row_per_account(scanned) -> None:
    res, a = scanned
    assert res.accounts.num_rows == a.height  # every labelled account has a row, no extra rows
    assert a["score"].null_count() == 0 and a["account_id"].is_unique().all()
    dormant = a.filter(pl.col("interactions") == 0)
    assert dormant.height > 0 and (dormant["score"] <= 1.0).all()


POS = pl.col("campaign_id_true") != "benign"


@pytest.mark.slow
def test_precision_and_recall(scanned) -> None:
    _, a = scanned
    tp = a.filter(POS & pl.col("flagged")).height
    fp = a.filter(~POS & pl.col("flagged")).height
    assert tp / max(1, tp + fp) >= 0.98
    assert tp / a.filter(POS).height >= 0.90


@pytest.mark.slow
def test_every_playbook_recall(scanned, request: pytest.FixtureRequest) -> None:
    run = request.node.callspec.params["scanned"]
    if run in KNOWN_RECALL_GAPS:
        request.applymarker(pytest.mark.xfail(reason=KNOWN_RECALL_GAPS[run], strict=True))
    _, a = scanned
    if run[0] == ADAPTIVE:  # one playbook, two campaigns: each must be found
        rec = a.filter(POS).group_by("campaign_id_true").agg(r=pl.col("flagged").mean())
        assert rec.height == 2
    else:
        rec = a.filter(POS).group_by("playbook").agg(r=pl.col("flagged").mean())
        assert rec.height >= 5
    assert rec.filter(pl.col("r") < 0.80).height == 0, rec


#: known false positives in a look-alike group on a held-out run: reported here, not hidden. None now:
#: 1042 and 1012 each over-flagged one startup-cohort account (a maths product of single-turn
#: public-dataset items) until the peer gate (scoring.peers): the accounts closest to it by evidence
#: are other startups that score low, while a campaign account's are its own campaign's.
KNOWN_LOOKALIKE_GAPS: dict[tuple[str, int, bool], str] = {}


@pytest.mark.slow
def test_no_lookalike_group_flagged(scanned, request: pytest.FixtureRequest) -> None:
    run = request.node.callspec.params["scanned"]
    if run in KNOWN_LOOKALIKE_GAPS:
        request.applymarker(pytest.mark.xfail(reason=KNOWN_LOOKALIKE_GAPS[run], strict=True))
    _, a = scanned
    fr = a.filter(~POS).group_by("archetype").agg(f=pl.col("flagged").mean())
    assert fr.filter(pl.col("f") > 0.005).height == 0, fr


@pytest.mark.slow
def test_campaigns_are_attributed_to_one_id_with_their_standby_pool(scanned, request) -> None:
    if request.node.callspec.params["scanned"][0] == ADAPTIVE:
        pytest.skip("adaptive campaigns share nothing that ties their accounts to one operator")
    _, a = scanned
    f = a.filter(POS & pl.col("flagged"))
    purity = f.group_by("campaign_id_true").agg(
        top=pl.col("campaign_id").drop_nulls().mode().first(),
        share=(pl.col("campaign_id") == pl.col("campaign_id").drop_nulls().mode().first()).mean(),
    )
    assert purity.filter(pl.col("share") < 0.90).height == 0, purity
    tops = purity["top"].to_list()
    assert len(set(tops)) == len(tops), "two simulated campaigns share one detected campaign"
    standby = f.filter(pl.col("pool") == "standby")
    if standby.height:
        primary_top = purity.join(standby.select("campaign_id_true").unique(), on="campaign_id_true")
        for cid, top in primary_top.select("campaign_id_true", "top").iter_rows():
            s = standby.filter(pl.col("campaign_id_true") == cid)
            assert (s["campaign_id"] == top).mean() >= 0.90


@pytest.mark.slow
def test_every_flagged_account_has_reasons_with_campaign_evidence(scanned, request) -> None:
    res, a = scanned
    f = a.filter(pl.col("flagged"))
    assert f.height > 0
    assert f.filter(pl.col("reasons").str.len_chars() == 0).height == 0
    # (a negative count cast to unsigned read "4294967295 more" in coverage reasons)
    assert f.filter(pl.col("reasons").str.contains(r"42949672\d\d|18446744\d{12}")).height == 0
    in_campaign = f.filter(pl.col("campaign_id").is_not_null())
    assert in_campaign.filter(~pl.col("reasons").str.contains("campaign DG-")).height == 0
    # the campaign's shared keys are quoted only with the ones the account holds itself
    quoted = pl.col("reasons").str.contains(r"campaign DG-\w+ \(\d+ accounts\): shared ")
    assert in_campaign.filter(quoted & ~pl.col("reasons").str.contains("; this account: ")).height == 0
    if request.node.callspec.params["scanned"][0] == ADAPTIVE:  # the dataset coverage behind a flag
        assert f.filter(POS & ~pl.col("reasons").str.contains("items of public datasets")).height == 0
    op = res.summary["operating_point"]
    assert op["threshold"] > 0 and op["measured_precision"] >= op["target_precision"]
    assert op["measured_on"]["scenarios"] and all(
        s < 100 for seeds in op["measured_on"]["scenarios"].values() for s in seeds
    )


@pytest.mark.slow
def test_the_peer_gate_is_applied_and_explained(scanned, request: pytest.FixtureRequest) -> None:
    """The model with an index carries a peer gate, the one without none; a flag the gate stopped says
    so, and every flagged account's reasons say what its closest accounts score."""
    run = request.node.callspec.params["scanned"]
    res, a = scanned
    gate = res.summary["operating_point"]["peer_gate"]
    if not run[2]:
        assert gate is None
        return
    assert gate is not None and "peer gate" in res.summary["operating_point"]["how"]
    seen = a.filter(pl.col("interactions") > 0)
    stopped = seen.filter(pl.col("reasons").str.contains("not flagged: the 10 accounts whose evidence"))
    assert not stopped["flagged"].any()
    flagged = seen.filter(pl.col("flagged"))
    assert flagged.height and flagged["reasons"].str.contains("on average: others look like it").all()

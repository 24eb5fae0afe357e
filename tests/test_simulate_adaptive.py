"""The simulator's evasion knobs, the ``adaptive`` scenario and its look-alikes; old scenarios unchanged.

Seeds here are >= 1000 and were not looked at while the simulator was tuned.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from functools import partial
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from distillguard import schema
from distillguard.errors import UsageError
from distillguard.simulate import elicitation, expected_counts, infra, load_scenario, simulate
from distillguard.simulate import text as T


def content_digest(out: Path) -> str:
    """A digest of what a simulation wrote: every table's schema and rows, and scenario.json.

    Values, not file bytes, so the pins below survive a new Parquet writer; the package version
    (recorded in scenario.json) and the folder manifest (file digests) are left out.
    """
    h = hashlib.sha256()
    for p in sorted(out.rglob("*")):
        rel = p.relative_to(out).as_posix()
        if not p.is_file() or rel == "distillguard-manifest.json":
            continue
        h.update(rel.encode() + b"\0")
        if p.suffix == ".parquet":
            df = pl.read_parquet(p)
            h.update(repr(df.schema).encode())
            for row in df.iter_rows():
                h.update(repr(row).encode())
        elif p.name == "scenario.json":
            meta = json.loads(p.read_text())
            meta.pop("distillguard_version", None)
            h.update(json.dumps(meta, sort_keys=True).encode())
        else:
            h.update(p.read_bytes())
    return h.hexdigest()[:32]


# recorded with the simulator of commit 68c5fe1, before the evasion knobs existed (seed 1020, 2 days);
# the shipped scorer was fitted on these scenarios and the held-out quality table measures them
PINNED = [
    ("default", 0.05, False, "0720b80a580f6d49a6fbc9238ec38a7b"),
    ("hard-lookalikes", 0.05, False, "3e19db7fd381a049c72c7240d24b7f1e"),
    ("hydra-reseller", 0.001, False, "1617c02e57dc214f8e0c6c36d78b79fe"),
    ("cot-and-sweeps", 0.05, False, "bb461464a81fdb794cfeaff961e5d56c"),
    ("low-and-slow", 0.05, False, "200c08194793e342788e8a87c91e9105"),
    ("default", 0.05, True, "13a655c0c80d025573a4f65b1f4ee58c"),
    ("hard-lookalikes", 0.05, True, "ad8ecf2b17df31d4ab379f80aa6c9eeb"),
]


@pytest.mark.parametrize(("name", "scale", "real", "digest"), PINNED)
def test_existing_scenarios_keep_their_output(tmp_path, request, name, scale, real, digest):
    """Same seed, same rows as before the knobs: new randomness comes from generators of its own."""
    prompts = request.getfixturevalue("prompts_dir") if real else None
    out = tmp_path / "o"
    simulate(out, scenario=name, seed=1020, scale=scale, days=2, prompts_dir=prompts, responses=real)
    assert content_digest(out) == digest


# ----------------------------------------------------------------------------------- the knobs


def _run(tmp_path: Path, campaign: str, *, days: int = 6, prompts=None, seed: int = 1040) -> pl.DataFrame:
    """A small scenario (casual users + one campaign ``c``); the campaign's rows joined with labels."""
    f = tmp_path / "s.toml"
    f.write_text(
        f'start = "2026-04-22"\ndays = {days}\n[[population]]\narchetype = "casual"\naccounts = 40\n'
        f'[[population]]\ncampaign = "c"\n{campaign}\n'
    )
    simulate(tmp_path / "o", scenario=f, seed=seed, prompts_dir=prompts)
    inter = pl.read_parquet(tmp_path / "o" / "interactions" / "*.parquet")
    labels = pl.read_parquet(tmp_path / "o" / "labels" / "accounts.parquet")
    accounts = pl.read_parquet(tmp_path / "o" / "accounts.parquet").join(labels, on="account_id")
    ilab = pl.read_parquet(tmp_path / "o" / "labels" / "interactions" / "*.parquet")
    rows = inter.join(ilab.select("request_id", "harvest"), on="request_id").join(labels, on="account_id")
    return rows.filter(pl.col("campaign_id") == "c"), accounts.filter(pl.col("campaign_id") == "c")


ADAPTIVE = 'archetype = "adaptive"\naccounts = 40'
HYDRA = 'archetype = "hydra"\naccounts = 30'
RESIDENTIAL = {a for c in infra.COUNTRIES for a in c[3]}
DATACENTER = {a for a, _, _ in infra.DATACENTERS}


def _daily(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.group_by("account_id", pl.col("ts").dt.date().alias("day")).len()


def _check_sticky(rows, accounts):
    assert set(rows["asn"].unique()) <= RESIDENTIAL  # ordinary consumer ISPs, no proxy pool, no cloud
    runs = rows.sort("account_id", "ts").with_columns(
        (pl.col("ip") != pl.col("ip").shift(1).over("account_id")).fill_null(True).alias("new")
    )
    per = runs.group_by("account_id").agg(
        pl.col("ip").n_unique().alias("ips"), pl.col("asn").n_unique(), pl.col("new").sum().alias("runs")
    )
    assert (per["asn"] == 1).all()  # one ISP per account
    assert (per["runs"] == per["ips"]).all()  # one address at a time, never back to an old one
    assert per["ips"].median() >= 3 and per["ips"].max() <= 10  # a new one every few days over 12
    owners = rows.group_by("ip").agg(pl.col("account_id").n_unique())
    assert (owners["account_id"] == 1).all()  # nobody shares an address
    used = rows.group_by("account_id").agg(pl.col("ip").unique().alias("used"))
    signed = accounts.join(used, on="account_id").select(pl.col("used").list.contains(pl.col("signup_ip")))
    assert signed[:, 0].mean() < 0.2  # signed up months ago, from an earlier address


def _check_proxy(rows, accounts):
    assert rows["ip"].n_unique() / rows.height > 0.7  # a fresh exit per request


def _check_no_card(rows, accounts):
    none = accounts["payment_fingerprint"].is_null()
    assert 0.35 < none.mean() < 0.75
    assert (accounts.filter(none)["tier"] == "free").all()
    assert accounts["payment_fingerprint"].drop_nulls().is_unique().all()  # card_group 1: own card


def _check_cards_shared(rows, accounts):
    assert accounts["payment_fingerprint"].null_count() == 0
    assert accounts["payment_fingerprint"].value_counts()["count"].max() >= 3


def _created_days(accounts) -> np.ndarray:
    start = dt.datetime(2026, 4, 22, tzinfo=dt.UTC)
    return np.asarray([(start - c).total_seconds() / 86400 for c in accounts["created_at"]])


def _check_spread(rows, accounts):
    age = _created_days(accounts)
    assert age.min() >= 30 and age.max() <= 30 + 120  # account_age_days + signup_spread_days
    assert age.max() - age.min() > 80
    created = np.sort(accounts["created_at"].dt.epoch("s").to_numpy())
    within = np.searchsorted(created, created + 6 * 3600) - np.searchsorted(created, created - 6 * 3600)
    assert within.max() <= 4  # no sign-up burst


def _check_bursts(rows, accounts):
    created = np.sort(accounts["created_at"].dt.epoch("s").to_numpy())
    within = np.searchsorted(created, created + 6 * 3600) - np.searchsorted(created, created - 6 * 3600)
    assert np.median(within) >= 0.2 * len(created)


def _check_rate_range(rows, accounts):
    mean = _daily(rows).group_by("account_id").agg(pl.col("len").mean())["len"]
    assert 8 <= mean.median() <= 35
    assert mean.quantile(0.1) < 16 and mean.quantile(0.9) > 24  # each account its own volume
    assert mean.min() >= 4 and mean.max() <= 50


def _check_rate_fixed(rows, accounts):
    mean = _daily(rows).group_by("account_id").agg(pl.col("len").mean())["len"]
    assert 15 <= mean.median() <= 35


def _check_settings_varied(rows, accounts):
    temps = rows.group_by("account_id").agg(
        pl.col("temperature").n_unique().alias("t"), pl.col("temperature").first()
    )
    assert (temps["t"] == 1).all() and temps["temperature"].n_unique() >= 3  # its own, and not the same
    mt = rows.filter(pl.col("harvest"))["max_tokens"]
    assert mt.null_count() > 0 and mt.drop_nulls().n_unique() >= 2


def _check_settings_fixed(rows, accounts):
    h = rows.filter(pl.col("harvest"))
    assert h["temperature"].n_unique() == 1 and h["max_tokens"].n_unique() == 1


def _check_cover_sessions(rows, accounts):
    cover = rows.filter(~pl.col("harvest"))
    assert 0.25 < cover.height / rows.height < 0.5
    assert (rows.filter(pl.col("harvest"))["turn"] == 0).all()  # harvest: one request, one conversation
    conv = cover.group_by("conversation_id").agg(pl.col("turn").max())
    assert (conv["turn"] > 0).mean() > 0.4  # cover: ordinary multi-turn chats
    assert rows.filter(pl.col("harvest"))["model"].n_unique() <= 2  # harvest: default model (or release)


def _check_human_hours(rows, accounts):
    tz = {"DE": 1, "FR": 1, "ES": 1, "PL": 1, "GB": 0, "JP": 9, "KR": 9, "IN": 5, "SG": 8, "TR": 3}
    d = rows.filter(pl.col("country").is_in(list(tz))).with_columns(
        ((pl.col("ts").dt.hour() + pl.col("country").replace_strict(tz, return_dtype=pl.Int32)) % 24).alias(
            "h"
        )
    )
    assert d.height > 50 and d["h"].is_between(1, 5).mean() < 0.1  # people sleep (uniform: 0.21)


def _check_spread_shares(rows, accounts, spread):
    """``spread``: each account its own cover share around the campaign's, so the accounts' shares
    spread far wider than the sampling noise of one shared share."""
    share = rows.group_by("account_id").agg(c=(~pl.col("harvest")).mean(), n=pl.len())
    share = share.filter(pl.col("n") >= 60)
    assert share.height >= 10
    sd = share["c"].std()
    assert (sd > 0.15) if spread else (sd < 0.12), sd
    assert 0.25 < (~rows["harvest"]).mean() < 0.5  # the campaign's share stays about the same


KNOBS = {
    "sticky_residential": (
        ADAPTIVE + '\nnetwork = "sticky_residential"\nip_change_days = 3.0',
        12,
        _check_sticky,
    ),
    "residential_proxy": (ADAPTIVE + '\nnetwork = "residential_proxy"', 4, _check_proxy),
    "no_card_share": (ADAPTIVE + "\nno_card_share = 0.5", 2, _check_no_card),
    "card_group": (ADAPTIVE + "\nno_card_share = 0.0\ncard_group = 4", 2, _check_cards_shared),
    "signup_spread_days": (ADAPTIVE + "\nsignup_spread_days = 120\naccount_age_days = 30", 2, _check_spread),
    "signup_bursts": (HYDRA + "\nsignup_bursts = 1", 2, _check_bursts),
    "rate_min_max": (ADAPTIVE, 10, _check_rate_range),
    "rate": (ADAPTIVE + "\nrate_min = 0.0\nrate_max = 0.0\nrate = 25.0", 6, _check_rate_fixed),
    "settings_varied": (ADAPTIVE, 4, _check_settings_varied),
    "settings_fixed": (ADAPTIVE + '\nsettings = "fixed"', 4, _check_settings_fixed),
    "cover_share": (ADAPTIVE + "\ncover_share = 0.38", 6, _check_cover_sessions),
    "hours_human": (ADAPTIVE, 6, _check_human_hours),
    "spread": (
        ADAPTIVE + "\ncover_share = 0.38\nspread = 0.35", 8, partial(_check_spread_shares, spread=True)
    ),
    "no_spread": (ADAPTIVE + "\ncover_share = 0.38", 8, partial(_check_spread_shares, spread=False)),
}


@pytest.mark.parametrize("name", sorted(KNOBS))
def test_knob_shows_in_the_logs(tmp_path, name):
    spec, days, check = KNOBS[name]
    rows, accounts = _run(tmp_path, spec, days=days)
    assert rows.height > 0
    check(rows, accounts)


_ASK = '\ncot_share = 0.8\ncapabilities = ["general"]\nlanguages = ["en", "zh", "es"]'
#: campaigns of one scenario on real prompts: (id, knobs)
REAL = {
    "p-focus": '\ntemplate = "none"\nelicitation = "none"\npartition = true\nfocus = 0.85',
    "p-even": '\ntemplate = "none"\nelicitation = "none"\npartition = true\nfocus = 0.0',
    "p-off": '\ntemplate = "none"\nelicitation = "none"\npartition = false\nfocus = 0.0',
    "p-eval": '\ntemplate = "none"\nelicitation = "none"\npartition = true\ndataset_sources = "evaluation"',
    "t-none": '\ntemplate = "none"\nelicitation = "none"',
    "t-fixed": '\ntemplate = "fixed"\nelicitation = "none"',
    "t-paraphrased": '\ntemplate = "paraphrased"\nelicitation = "none"',
    "e-fixed": '\nelicitation = "fixed"' + _ASK,
    "e-varied": '\nelicitation = "varied"' + _ASK,
    "e-none": '\nelicitation = "none"\ncapabilities = ["general"]',
}


@pytest.fixture(scope="module")
def real(tmp_path_factory, prompts_dir) -> dict:
    """One run of REAL's campaigns on real prompts (harvest rows per campaign), and the public items."""
    out = tmp_path_factory.mktemp("real")
    pops = "".join(f'[[population]]\ncampaign = "{c}"\n{ADAPTIVE}{k}\n' for c, k in REAL.items())
    f = out / "s.toml"
    f.write_text(
        f'start = "2026-04-22"\ndays = 4\n[[population]]\narchetype = "casual"\naccounts = 40\n{pops}'
    )
    simulate(out / "o", scenario=f, seed=1042, prompts_dir=prompts_dir)
    inter = pl.read_parquet(out / "o" / "interactions" / "*.parquet")
    ilab = pl.read_parquet(out / "o" / "labels" / "interactions" / "*.parquet")
    h = inter.join(ilab, on=["request_id", "account_id"]).filter(pl.col("harvest"))
    bank = T.TextBank(prompts_dir)
    items = {cap: set(bank.dataset(src)) for cap, src in T.DATASET_SOURCES.items()}
    evaluation = {
        cap: {x for c, split in src if (got := bank.dataset((c,), split)) is not None for x in got}
        for cap, src in T.EVALUATION_SOURCES.items()
    }
    return {"harvest": {c: h.filter(pl.col("campaign_id") == c) for c in REAL}, "items": items,
            "evaluation": evaluation}


def test_a_harvest_of_evaluation_sets_only(real):
    """dataset_sources = "evaluation": every harvest item from a published evaluation set, none twice."""
    h = real["harvest"]["p-eval"]["prompt"]
    every = set().union(*real["evaluation"].values())
    assert h.len() > 300 and h.is_unique().all()
    assert all(p in every for p in h)
    whole = set().union(*real["items"].values())
    assert sum(p in whole for p in h) < h.len()  # (AlpacaEval, Arena-Hard: outside the usual pools)


@pytest.mark.parametrize(
    ("campaign", "partition", "focus"), [("p-focus", 1, 1), ("p-even", 1, 0), ("p-off", 0, 0)]
)
def test_partition_and_focus(real, campaign, partition, focus):
    """partition: verbatim public items, none twice in the campaign; focus: one capability per account."""
    h = real["harvest"][campaign]
    if not partition:  # drawn with replacement: items come back
        assert not h["prompt"].is_unique().all()
        return
    assert h.height > 500 and h["prompt"].is_unique().all()  # no item twice: one account, once
    cap = pl.Series([next((c for c, s in real["items"].items() if p in s), None) for p in h["prompt"]])
    assert cap.null_count() == 0  # every harvest request is a public dataset item, verbatim
    top = (
        h.with_columns(cap=cap)
        .group_by("account_id", "cap")
        .len()
        .group_by("account_id")
        .agg((pl.col("len").max() / pl.col("len").sum()).alias("top"))["top"]
    )
    assert top.median() > 0.75 if focus else top.median() < 0.6


def test_partition_with_builtin_text(tmp_path):
    rows, _ = _run(tmp_path, ADAPTIVE + '\ncapabilities = ["reasoning", "coding"]', days=5)
    assert rows.filter(pl.col("harvest"))["prompt"].is_unique().all()


def _head_share(prompts: pl.Series, n: int = 25) -> float:
    return float(prompts.str.slice(0, n).value_counts()["count"].max() / prompts.len())


@pytest.mark.parametrize("template", ["none", "fixed", "paraphrased"])
def test_template_knob(real, template):
    h = real["harvest"][f"t-{template}"]["prompt"]
    fixed_parts = [w.split("{item}")[0] or w.split("{item}")[1] for w in T.FIXED_WRAPPERS]
    wrapped = pl.Series([any(f in p for f in fixed_parts) for p in h])
    if template == "fixed":  # one wrapper, on every request
        assert wrapped.all() and max(_head_share(h), _head_share(h.str.reverse())) > 0.95
    elif template == "paraphrased":  # clauses, no string shared by all
        assert h.str.contains("|".join(T.PARA_ASK)).mean() > 0.95 and _head_share(h) < 0.2
    else:  # the items as they are: no shared skeleton (natural-instructions items open with their
        # task's definition: some shared heads are the dataset's own)
        assert not wrapped.any() and _head_share(h) < 0.15 and _head_share(h.str.reverse()) < 0.15


def _cot(prompts: list[str]) -> np.ndarray:
    from distillguard.features import prompt_features

    t = pa.table(
        {"request_id": [f"r{i}" for i in range(len(prompts))], "prompt": pa.array(prompts, pa.string())}
    )
    return np.asarray(prompt_features(t).column("cot").to_pylist(), dtype=float)


@pytest.mark.parametrize(
    ("elicitation", "lo", "hi"), [("fixed", 0.5, 1.0), ("varied", 0.08, 0.45), ("none", 0.0, 0.01)]
)
def test_elicitation_knob(real, elicitation, lo, hi):
    """Share of harvest requests the CoT phrase signal catches (cot >= 0.5) at cot_share 0.8."""
    h = real["harvest"][f"e-{elicitation}"]["prompt"].to_list()
    caught = float((_cot(h) >= 0.5).mean())
    assert lo <= caught <= hi, caught


def test_varied_wording_is_varied_and_often_escapes_the_stock_phrases():
    rng = np.random.default_rng(1041)
    assert (
        elicitation.variety("en") > 10_000
        and sum(elicitation.variety(x) for x in elicitation.LANGUAGES) > 20_000
    )
    for langs in (["en"], ["zh", "es", "ru", "de", "fr"]):
        phrases = elicitation.compose(rng, langs, 3000)
        assert phrases.n_unique() > 1000  # thousands of wordings, no fixed instruction
        caught = (_cot(phrases.to_list()) >= 0.5).mean()
        assert 0.15 < caught < 0.6, (langs, caught)  # many escape the detector's phrase lists


# ------------------------------------------------------------------------------- bad knob values


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ('template = "weird"', "template"),
        ('elicitation = "maybe"', "elicitation"),
        ('network = "tor"', "network"),
        ('settings = "random"', "settings"),
        ("no_card_share = 1.5", "no_card_share"),
        ("focus = 2.0", "focus"),
        ("rate_min = 10.0\nrate_max = 0.0", "rate_m"),
        ("rate_min = 30.0\nrate_max = 10.0", "rate_max"),
        ("ip_change_days = 0.0", "ip_change_days"),
        ("signup_spread_days = -3", "signup_spread_days"),
        ("signup_spread_days = 30\nsignup_bursts = 2", "signup_spread_days"),
        ("account_age_days = 30\nsignup_bursts = 2", "account_age_days"),
        ('paraphrase = true\ntemplate = "none"', "paraphrase"),
        ('paraphrase = "yes"', "paraphrase"),
        ('elicitation = "none"\ncot_share = 0.5', "cot_share"),
        ('elicitation = "varied"\ninjected_instruction = true', "injected_instruction"),
        ('partition = true\ncapabilities = ["tool_use"]', "partition"),
        ("partition = 1", "partition"),
        ('dataset_sources = "evaluation"', "dataset_sources"),
        ('partition = true\ncapabilities = ["reasoning"]\ndataset_sources = "tests"', "dataset_sources"),
        ("spread = 0.3", "spread"),  # (a hydra: only adaptive accounts draw their own shares)
        ('archetype = "adaptive"\nspread = 1.5', "spread"),
    ],
)
def test_bad_knob_values_are_refused(tmp_path, extra, needle):
    f = tmp_path / "s.toml"
    arch = "" if "archetype" in extra else 'archetype = "hydra"\n'
    f.write_text(f'[[population]]\n{arch}campaign = "c"\n{extra}\n')
    with pytest.raises(UsageError) as err:
        load_scenario(f)
    assert f"population[0].{needle}" in str(err.value) and str(f) in str(err.value)


@pytest.mark.parametrize(
    ("archetype", "extra", "needle"),
    [
        ("casual", "dynamic_ip_share = 2.0", "dynamic_ip_share"),
        ("tutoring_product", "curriculum = 0", "curriculum"),
        ("tutoring_product", "popularity = 0.0", "popularity"),
        ("ml_researcher", "samples_max = 0", "samples_max"),
        ("labelling_contractor", "company_card_share = -0.1", "company_card_share"),
        ("labelling_contractor", "overlap = 0.5", "overlap"),
        ("content_agency", "group_size = 0", "group_size"),
    ],
)
def test_bad_lookalike_values_are_refused(tmp_path, archetype, extra, needle):
    f = tmp_path / "s.toml"
    f.write_text(f'[[population]]\narchetype = "{archetype}"\n{extra}\n')
    with pytest.raises(UsageError, match=rf"population\[0\]\.{needle}"):
        load_scenario(f)


@pytest.mark.parametrize(
    ("extra", "key", "value"),
    [
        ("paraphrase = true", "template", "paraphrased"),
        ("paraphrase = false", "template", "none"),
        ('archetype = "cot_harvest"\nelicitation = "varied"', "injected_instruction", False),
        ('elicitation = "none"', "cot_share", 0.0),
        ("signup_spread_days = 60", "signup_bursts", 0),
        ("account_age_days = 30", "signup_bursts", 0),
        ('archetype = "adaptive"\nsignup_spread_days = 0\nsignup_bursts = 3', "account_age_days", 0),
    ],
)
def test_knobs_resolve(tmp_path, extra, key, value):
    """Old files keep working (``paraphrase``); a knob turns off the playbook default it contradicts."""
    arch = "" if "archetype" in extra else 'archetype = "hydra"\n'
    f = tmp_path / "s.toml"
    f.write_text(f'[[population]]\n{arch}campaign = "c"\n{extra}\n')
    assert load_scenario(f).populations[0][key] == value


def test_scenario_json_records_old_populations_as_before(tmp_path):
    d = load_scenario("default").to_dict()
    hydra = next(p for p in d["populations"] if p["archetype"] == "hydra")
    assert hydra["paraphrase"] is True and "template" not in hydra and "partition" not in hydra
    casual = next(p for p in d["populations"] if p["archetype"] == "casual")
    assert "dynamic_ip_share" not in casual
    a = next(p for p in load_scenario("adaptive").to_dict()["populations"] if p["archetype"] == "adaptive")
    assert a["template"] == "none" and a["partition"] is True and "paraphrase" not in a


# ------------------------------------------------------------------ the adaptive scenario itself


@pytest.fixture(scope="module")
def adaptive(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("adaptive")
    res = simulate(out, scenario="adaptive", seed=1043, scale=0.15, days=7)
    inter = pl.read_parquet(out / "interactions" / "*.parquet")
    labels = pl.read_parquet(out / "labels" / "accounts.parquet")
    ilab = pl.read_parquet(out / "labels" / "interactions" / "*.parquet")
    accounts = pl.read_parquet(out / "accounts.parquet").join(labels, on="account_id")
    rows = inter.join(ilab.select("request_id", "harvest"), on="request_id").join(labels, on="account_id")
    return {"res": res, "rows": rows, "accounts": accounts}


def _who(a: dict, name: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    key = "campaign_id" if name.startswith("sim-") else "archetype"
    return a["rows"].filter(pl.col(key) == name), a["accounts"].filter(pl.col(key) == name)


_TZ = {
    "DE": 1,
    "FR": 1,
    "ES": 1,
    "PL": 1,
    "GB": 0,
    "JP": 9,
    "KR": 9,
    "IN": 5,
    "SG": 8,
    "TR": 3,
    "VN": 7,
    "ID": 7,
}


def _night(rows: pl.DataFrame) -> float:
    """Share of requests 01:00-06:00 local time (countries with one time zone)."""
    d = rows.filter(pl.col("country").is_in(list(_TZ)))
    h = (d["ts"].dt.hour().cast(pl.Int32) + d["country"].replace_strict(_TZ, return_dtype=pl.Int32)) % 24
    return float(h.is_between(1, 5).mean())


def _shared_prompts(rows: pl.DataFrame) -> int:
    """Distinct prompts sent by two accounts or more."""
    return int((rows.group_by("prompt").agg(pl.col("account_id").n_unique())["account_id"] >= 2).sum())


def _check_campaign(rows, accounts):
    assert (accounts["playbook"] == "adaptive").all() and (accounts["pool"] == "primary").all()
    cards = accounts["payment_fingerprint"]
    assert cards.drop_nulls().is_unique().all() and 0.15 < cards.null_count() / cards.len() < 0.6
    assert accounts["email_domain"].is_in(list(infra.CONSUMER_DOMAINS)).all()
    age = _created_days(accounts)
    assert age.min() >= 20 and age.max() - age.min() > 60  # aged, spread over months
    assert set(rows["asn"].unique()) <= RESIDENTIAL
    cover = 1 - rows["harvest"].mean()
    assert 0.25 < cover < 0.5
    assert rows.filter(pl.col("harvest"))["prompt"].is_unique().all()  # partitioned
    assert 8 <= _daily(rows)["len"].median() <= 35 and _night(rows) < 0.1
    assert rows["temperature"].n_unique() >= 3 and rows["user_agent"].n_unique() >= 4


def _check_reasoning_harvest(rows, accounts):
    _check_campaign(rows, accounts)
    h = rows.filter(pl.col("harvest"))["prompt"]
    assert h.str.contains("[\u4e00-\u9fff]").mean() > 0.03 and h.str.contains("(?i)step").mean() > 0.05


def _check_answer_harvest(rows, accounts):
    _check_campaign(rows, accounts)
    h = rows.filter(pl.col("harvest"))["prompt"].to_list()
    assert (_cot(h) >= 0.5).mean() < 0.02  # no chain-of-thought asked for


def _check_tutoring(rows, accounts):
    per = accounts.group_by("email_domain").agg(
        pl.len(), pl.col("payment_fingerprint").n_unique().alias("cards")
    )
    assert (per["len"] >= 2).all() and (per["cards"] == 1).all()  # a few accounts per product, one card
    assert set(rows["asn"].unique()) <= DATACENTER  # the product's backend
    sys_per = rows.group_by("account_id").agg(pl.col("system").n_unique())["system"]
    assert (sys_per == 1).all()
    assert rows["system"].str.contains("(?i)step|work|through|calculation|一步|paso").all()  # explain
    first = rows.filter(pl.col("turn") == 0)
    per_product = first.group_by("system", "prompt").len()  # a product: its system prompt
    assert per_product["len"].max() >= 5  # popular homework, asked by many students
    conv = rows.group_by("conversation_id").agg(pl.col("turn").max())
    assert (conv["turn"] > 0).mean() > 0.3 and rows["prompt"].str.contains("step 2").any()  # follow-ups
    assert _daily(rows)["len"].median() >= 15  # many students behind one account


def _check_researcher(rows, accounts):
    assert (rows["turn"] == 0).all()
    assert _shared_prompts(rows) >= 10  # the same benchmark items, for several researchers
    assert rows["prompt"].str.contains("(?i)step by step").mean() > 0.1  # CoT prompts
    assert (rows["temperature"] == 0).mean() > 0.3
    repeated = rows.group_by("account_id", "prompt").len()["len"]
    assert repeated.max() >= 2  # runs again, or samples an item several times
    nets = rows.group_by("account_id").agg(pl.col("asn").n_unique())["asn"]
    assert (nets >= 2).mean() > 0.2  # campus, home, GPU box
    assert accounts["email_domain"].is_in([c[3] for c in infra.CAMPUSES]).mean() > 0.3


def _check_contractor(rows, accounts):
    first = rows.filter(pl.col("turn") == 0)
    fragments = ["ideal assistant response", "reference answer", "gold-standard", "reference response"]
    assert first["prompt"].str.contains("|".join(fragments)).mean() > 0.45  # the vendor's guideline template
    assert _shared_prompts(first) >= 5  # the same queue item, several annotators
    assert (rows.group_by("conversation_id").agg(pl.col("turn").max())["turn"] > 0).mean() > 0.3
    hours = rows.group_by("account_id", pl.col("ts").dt.hour().alias("h")).len()
    best = []
    for _acct, g in hours.group_by("account_id"):  # accounts (tens), not rows
        counts = np.zeros(24)
        counts[g["h"].to_numpy()] = g["len"].to_numpy()
        window = max(np.roll(counts, -h)[:10].sum() for h in range(24))
        best.append(window / counts.sum())
    assert np.median(best) > 0.9  # an eight-hour shift
    assert set(rows["asn"].unique()) <= RESIDENTIAL
    ips = rows.group_by("account_id").agg(pl.col("ip").n_unique())["ip"]
    assert (ips >= 2).mean() > 0.5  # home addresses change every few days
    assert accounts["payment_fingerprint"].value_counts(sort=True)["count"][0] >= 2  # the vendor's card


def _check_agency(rows, accounts):
    heads = rows.group_by("account_id").agg(pl.col("prompt").str.slice(0, 20).n_unique())["prompt"]
    assert (heads == 1).all()  # one template over many documents
    assert rows["prompt"].n_unique() / rows.height > 0.9
    assert (rows["turn"] == 0).all() and _night(rows) < 0.05  # office hours
    per = accounts.group_by("email_domain").agg(pl.len(), pl.col("payment_fingerprint").n_unique().alias("c"))
    assert (per["len"] >= 2).all() and (per["c"] == 1).all()


ADAPTIVE_SHAPES = {
    "sim-a01": _check_reasoning_harvest,
    "sim-a02": _check_answer_harvest,
    "tutoring_product": _check_tutoring,
    "ml_researcher": _check_researcher,
    "labelling_contractor": _check_contractor,
    "content_agency": _check_agency,
}


@pytest.mark.parametrize("name", sorted(ADAPTIVE_SHAPES))
def test_adaptive_scenario_population_shape(adaptive, name):
    rows, accounts = _who(adaptive, name)
    assert rows.height > 0 and accounts.height > 0
    assert (accounts["campaign_id"] == schema.BENIGN).all() != name.startswith("sim-")
    ADAPTIVE_SHAPES[name](rows, accounts)


def test_adaptive_labels(adaptive):
    rows, accounts = adaptive["rows"], adaptive["accounts"]
    camp = accounts.filter(pl.col("campaign_id") != schema.BENIGN)
    assert set(camp["campaign_id"]) == {"sim-a01", "sim-a02"} and set(camp["playbook"]) == {"adaptive"}
    assert not rows.filter(pl.col("campaign_id") == schema.BENIGN)["harvest"].any()
    assert set(load_scenario("adaptive").to_dict()["populations"][0]) >= {"name", "archetype"}


def test_adaptive_expected_counts_and_dry_run(adaptive):
    from typer.testing import CliRunner

    from distillguard.cli import _load_commands, app

    e = expected_counts(load_scenario("adaptive").scaled(0.15, 7))
    got = adaptive["res"].campaigns
    for cid in ("sim-a01", "sim-a02"):
        row = e.filter(pl.col("campaign_id") == cid).row(0, named=True)
        assert abs(got[cid] / row["interactions"] - 1) < 0.15, cid
    _load_commands()
    r = CliRunner().invoke(
        app, ["simulate", "--out", "unused", "--scenario", "adaptive", "--dry-run", "--json"]
    )
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["campaign_accounts"] == 280 and {p["archetype"] for p in d["populations"]} >= set(
        ADAPTIVE_SHAPES
    ) - {
        "sim-a01",
        "sim-a02",
    }


def test_adaptive_same_seed_same_bytes(tmp_path):
    kw = {"scenario": "adaptive", "scale": 0.05, "days": 3}
    a = content_digest(simulate(tmp_path / "a", seed=1044, **kw).out_dir)
    b = content_digest(simulate(tmp_path / "b", seed=1044, **kw).out_dir)
    c = content_digest(simulate(tmp_path / "c", seed=1045, **kw).out_dir)
    assert a == b != c


def test_adaptive_keeps_the_hard_lookalikes_traffic(tmp_path):
    """Same seed: the benign populations they share have the same accounts and requests; only the
    home addresses that dynamic_ip_share re-assigns differ (a generator of their own)."""
    kw = {"seed": 1046, "scale": 0.05, "days": 2}
    simulate(tmp_path / "h", scenario="hard-lookalikes", **kw)
    simulate(tmp_path / "a", scenario="adaptive", **kw)
    lab = pl.read_parquet(tmp_path / "h" / "labels" / "accounts.parquet").filter(
        pl.col("campaign_id") == "benign"
    )
    ids = lab["account_id"].implode()

    def read(d: str, name: str) -> pl.DataFrame:
        return pl.read_parquet(tmp_path / d / name).filter(pl.col("account_id").is_in(ids))

    ha, aa = read("h", "accounts.parquet"), read("a", "accounts.parquet")
    assert ha.drop("signup_ip").sort("account_id").equals(aa.drop("signup_ip").sort("account_id"))
    hi = read("h", "interactions/part-00000.parquet").drop("request_id", "ip").sort("ts", "account_id")
    ai = read("a", "interactions/part-00000.parquet").drop("request_id", "ip").sort("ts", "account_id")
    assert hi.equals(ai)


def test_adaptive_linked_keeps_the_adaptive_traffic_and_links_its_pools(tmp_path):
    """Same seed: the legitimate accounts and requests of `adaptive`; its campaigns keep every other
    evasion but link their pools (sim-a01: a fixed template; sim-a02: five accounts per card)."""
    kw = {"seed": 1047, "scale": 0.1, "days": 2}
    simulate(tmp_path / "a", scenario="adaptive", **kw)
    simulate(tmp_path / "l", scenario="adaptive-linked", **kw)
    lab = pl.read_parquet(tmp_path / "l" / "labels" / "accounts.parquet")
    benign = lab.filter(pl.col("campaign_id") == "benign")["account_id"].implode()

    def read(d: str, name: str, keep: pl.Expr) -> pl.DataFrame:
        return pl.read_parquet(tmp_path / d / name).filter(keep)

    mine = pl.col("account_id").is_in(benign)
    assert read("a", "accounts.parquet", mine).sort("account_id").equals(
        read("l", "accounts.parquet", mine).sort("account_id"))
    ai = read("a", "interactions/part-00000.parquet", mine).drop("request_id").sort("ts", "account_id")
    li = read("l", "interactions/part-00000.parquet", mine).drop("request_id").sort("ts", "account_id")
    assert ai.equals(li)

    accounts = pl.read_parquet(tmp_path / "l" / "accounts.parquet").join(
        lab.select("account_id", "campaign_id"), on="account_id")
    per_card = accounts.filter(pl.col("campaign_id") == "sim-a02").group_by("payment_fingerprint").len()
    assert per_card["payment_fingerprint"].null_count() == 0 and per_card["len"].max() == 5
    a01 = accounts.filter(pl.col("campaign_id") == "sim-a01")
    fixed_parts = [w.split("{item}")[0] or w.split("{item}")[1] for w in T.FIXED_WRAPPERS]

    def wrapped(d: str) -> float:  # sim-a01's harvest requests wrapped in one of the fixed templates
        ilab = pl.read_parquet(tmp_path / d / "labels" / "interactions").filter(pl.col("harvest"))
        h = pl.read_parquet(tmp_path / d / "interactions").join(ilab.select("request_id"), on="request_id")
        h = h.filter(pl.col("account_id").is_in(a01["account_id"].implode()))["prompt"]
        return float(np.mean([any(f in p for f in fixed_parts) for p in h]))

    assert wrapped("l") == 1.0 and wrapped("a") < 0.05

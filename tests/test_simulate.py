"""The simulator: output contract, reproducibility, scenarios, and the statistical shape of each population.

Seeds here are >= 1000 and were not looked at while the simulator was tuned.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

from distillguard import schema
from distillguard.errors import UsageError
from distillguard.simulate import builtin_names, expected_counts, infra, load_scenario, simulate
from distillguard.simulate import text as T

START = dt.datetime(2026, 4, 22, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def sim(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("sim")
    res = simulate(out, scenario="default", seed=1001, scale=0.5)
    inter = pl.read_parquet(out / "interactions" / "*.parquet")
    labels = pl.read_parquet(out / "labels" / "accounts.parquet")
    accounts = pl.read_parquet(out / "accounts.parquet")
    ilab = pl.read_parquet(out / "labels" / "interactions" / "*.parquet")
    j = inter.join(labels, on="account_id").join(ilab.select("request_id", "harvest"), on="request_id")
    return {
        "out": out,
        "res": res,
        "inter": inter,
        "labels": labels,
        "accounts": accounts,
        "ilab": ilab,
        "j": j,
    }


def _arch(sim: dict, archetype: str) -> pl.DataFrame:
    return sim["j"].filter(pl.col("archetype") == archetype)


# ------------------------------------------------------------------------------------------ contract


def test_output_layout_and_schemas(sim):
    out = sim["out"]
    for part in sorted((out / "interactions").glob("part-*.parquet")):
        assert pq.read_schema(part).remove_metadata() == schema.INTERACTIONS.schema
    assert pq.read_schema(out / "accounts.parquet").remove_metadata() == schema.ACCOUNTS.schema
    assert pq.read_schema(out / "labels" / "accounts.parquet").remove_metadata() == schema.ACCOUNT_LABELS
    for part in sorted((out / "labels" / "interactions").glob("part-*.parquet")):
        assert pq.read_schema(part).remove_metadata() == schema.INTERACTION_LABELS
    meta = json.loads((out / "scenario.json").read_text())
    assert meta["seed"] == 1001 and meta["scenario"]["name"] == "default"
    assert meta["counts"]["interactions"] == sim["inter"].height


def test_rows_obey_the_log_format(sim):
    inter, accounts = sim["inter"], sim["accounts"]
    for col in schema.INTERACTIONS.required:
        assert inter[col].null_count() == 0, col
    assert inter["request_id"].is_unique().all()
    assert inter["ts"].is_sorted()
    assert inter["ts"].min() >= START
    assert inter["ts"].max() < START + dt.timedelta(days=14)
    assert set(inter["status"].unique()) <= schema.ENUMS[("interactions", "status")]
    assert set(accounts["tier"].unique()) <= schema.ENUMS[("accounts", "tier")]
    assert set(inter["account_id"].unique()) <= set(accounts["account_id"])
    assert accounts["account_id"].is_unique().all()
    # optional columns are filled realistically, not left empty
    for col in (
        "conversation_id",
        "turn",
        "model",
        "ip",
        "asn",
        "country",
        "user_agent",
        "input_tokens",
        "output_tokens",
        "temperature",
        "tools",
        "status",
    ):
        assert inter[col].null_count() == 0, col
    assert (inter["input_tokens"] > 0).all()
    assert ((inter["turn"] == 0) == inter["conversation_id"].is_first_distinct()).mean() > 0.99


def test_labels_cover_every_row_and_account(sim):
    inter, ilab, labels = sim["inter"], sim["ilab"], sim["labels"]
    assert ilab.height == inter.height
    assert (ilab["request_id"] == inter["request_id"]).all()  # same parts, same order
    assert set(labels["account_id"]) == set(sim["accounts"]["account_id"])
    benign = labels.filter(pl.col("campaign_id") == schema.BENIGN)
    assert set(benign["archetype"]) == {
        "casual",
        "power_user",
        "app_backend",
        "batch_job",
        "eval_harness",
        "agent_sdk_user",
        "university_class",
        "corporate_team",
    }
    camp = labels.filter(pl.col("campaign_id") != schema.BENIGN)
    assert set(camp["playbook"]) == {"hydra", "cot_harvest", "capability_sweep", "paraphrase", "low_and_slow"}
    assert camp["pool"].is_in(["primary", "standby"]).all()
    assert benign["pool"].is_null().all() and benign["playbook"].is_null().all()
    # harvest only on campaign accounts
    j = sim["j"]
    assert not j.filter(pl.col("campaign_id") == schema.BENIGN)["harvest"].any()


def test_default_scenario_is_demo_sized():
    sc = load_scenario("default")
    assert sc.days == 14
    assert (
        3000 <= sum(p["accounts"] + (p.params.get("standby_accounts") or 0) for p in sc.populations) <= 6000
    )
    assert sc.models["release"]
    assert any(p.is_campaign and p["failover_day"] > 0 for p in sc.populations)
    assert len({p.archetype for p in sc.populations if p.is_campaign}) >= 4


# -------------------------------------------------------------------------------------- shape checks


def _iqr(df: pl.DataFrame) -> tuple[float, float]:
    daily = df.group_by("account_id", pl.col("ts").dt.date()).len()["len"]
    return float(daily.quantile(0.25)), float(daily.quantile(0.75))


def test_hydra_daily_volume_overlaps_power_users(sim):
    h_lo, h_hi = _iqr(_arch(sim, "hydra"))
    p_lo, p_hi = _iqr(_arch(sim, "power_user"))
    assert h_lo <= p_hi and p_lo <= h_hi, ((h_lo, h_hi), (p_lo, p_hi))
    med = _arch(sim, "hydra").group_by("account_id", pl.col("ts").dt.date()).len()["len"].median()
    assert 12 <= med <= 40  # quiet: a few dozen requests a day


def _local_night_share(df: pl.DataFrame) -> float:
    """Share of requests between 01:00 and 06:00 local time (single-time-zone countries only)."""
    tz = {"DE": 1, "FR": 1, "ES": 1, "PL": 1, "GB": 0, "JP": 9, "KR": 9, "IN": 5, "SG": 8, "TR": 3}
    d = df.filter(pl.col("country").is_in(list(tz))).with_columns(
        ((pl.col("ts").dt.hour() + pl.col("country").replace_strict(tz, return_dtype=pl.Int32)) % 24).alias(
            "h"
        )
    )
    return float(d["h"].is_between(1, 5).mean())


def _check_casual(sim):
    d = _arch(sim, "casual")
    conv = d.group_by("conversation_id").agg(pl.col("turn").max())
    assert (conv["turn"] > 0).mean() > 0.3  # multi-turn
    assert _local_night_share(d) < 0.08  # human hours (uniform would be 5/24 = 0.21)
    per_acct_ips = d.group_by("account_id").agg(pl.col("ip").n_unique())["ip"]
    assert (per_acct_ips == 1).mean() > 0.95  # stable home IP


def _check_app_backend(sim):
    d = _arch(sim, "app_backend")
    dc = {a for a, _, _ in infra.DATACENTERS}
    assert d["asn"].is_in(list(dc)).all()
    busy = d.group_by("account_id").agg(pl.len(), pl.col("ts").dt.hour().n_unique().alias("hours"))
    assert (busy.filter(pl.col("len") >= 200)["hours"] >= 20).all()  # 24/7
    per_acct_sys = d.group_by("account_id").agg(pl.col("system").n_unique())["system"]
    assert (per_acct_sys == 1).all()  # one fixed system prompt per app
    assert d["system"].str.contains("step by step|ReAct").any()
    assert d.group_by("account_id").agg(pl.col("prompt").n_unique() / pl.len())["prompt"].median() > 0.1


def _check_batch_job(sim):
    d = _arch(sim, "batch_job")
    assert (d["temperature"] == 0).all()
    gaps = (
        d.sort("account_id", "ts")
        .with_columns(pl.col("ts").diff().over("account_id").dt.total_seconds().alias("gap"))["gap"]
        .drop_nulls()
    )
    assert gaps.median() < 5  # bursts
    head = (
        d.with_columns(pl.col("prompt").str.slice(0, 30).alias("h"))
        .group_by("account_id")
        .agg(pl.col("h").n_unique())["h"]
    )
    assert (head == 1).all()  # one template per job


def _check_eval_harness(sim):
    d = _arch(sim, "eval_harness")
    assert (d["temperature"] == 0).all()
    assert d["prompt"].str.contains("Let's think step by step|Solution:").mean() > 0.4


def _check_agent_sdk(sim):
    d = _arch(sim, "agent_sdk_user")
    assert d["system"].n_unique() <= 3 and d["account_id"].n_unique() > 100
    assert (d["tools"] == T.AGENT_SDK_TOOLS).all()
    assert d["system"].str.len_chars().min() > 800  # one long shared system prompt
    assert (d["turn"] > 0).mean() > 0.3


def _check_university_class(sim):
    labels = (
        sim["accounts"].join(sim["labels"], on="account_id").filter(pl.col("archetype") == "university_class")
    )
    assert (labels["tier"] == "edu").all()
    g = labels.group_by("email_domain").agg(
        pl.len(),
        (pl.col("created_at").max() - pl.col("created_at").min()).dt.total_days().alias("span"),
        pl.col("signup_ip").str.extract(r"^(\d+\.\d+)\.").n_unique().alias("nets"),
    )
    big = g.filter(pl.col("len") >= 10)
    assert big.height >= 1
    assert (big["span"] <= 7).all() and (big["nets"] == 1).all()  # same week, one campus network
    hw = _arch(sim, "university_class").filter(pl.col("turn") == 0)
    assert (
        hw["prompt"]
        .str.replace(r"^(help: |pls solve |hw question: |Can you explain how to do this\?\n)", "")
        .value_counts()["count"]
        .max()
        >= 5
    )  # the same homework pasted by several students


def _check_corporate_team(sim):
    labels = (
        sim["accounts"].join(sim["labels"], on="account_id").filter(pl.col("archetype") == "corporate_team")
    )
    g = labels.group_by("payment_fingerprint").agg(pl.len(), pl.col("email_domain").n_unique().alias("dom"))
    assert (g["len"] >= 2).all() and (g["dom"] == 1).all()
    assert labels["email_domain"].n_unique() == g.height
    assert not labels["email_domain"].is_in(list(infra.CONSUMER_DOMAINS)).any()


def _check_power_user(sim):
    d = _arch(sim, "power_user")
    assert d["prompt"].str.to_lowercase().str.contains("step by step").mean() > 0.03
    assert _local_night_share(d) < 0.12


def _check_hydra(sim):
    d = _arch(sim, "hydra")
    assert d["ip"].n_unique() / d.height > 0.7  # rotating residential exits
    assert not d["asn"].is_in([a for a, _, _ in infra.DATACENTERS]).any()
    cover = 1 - d["harvest"].mean()
    assert 0.1 < cover < 0.45  # the reseller's unrelated customers ride the same accounts
    acc = sim["accounts"].join(sim["labels"], on="account_id").filter(pl.col("archetype") == "hydra")
    cards = acc.group_by("payment_fingerprint").len()["len"]
    assert cards.max() >= 3 and cards.median() >= 2  # virtual cards shared by small groups
    assert acc["tier"].is_in(["edu", "research", "startup"]).mean() > 0.7
    # sign-ups in bursts: most accounts created within a few hours of many others
    created = np.sort(acc["created_at"].dt.epoch("s").to_numpy())
    within = np.searchsorted(created, created + 6 * 3600) - np.searchsorted(created, created - 6 * 3600)
    assert np.median(within) >= 0.15 * len(created)


def _check_failover_and_pivot(sim):
    d = _arch(sim, "hydra")
    sc = load_scenario("default")
    hydra = next(p for p in sc.populations if p.archetype == "hydra")
    fday = START + dt.timedelta(days=hydra["failover_day"])
    standby = d.filter(pl.col("pool") == "standby")
    primary = d.filter(pl.col("pool") == "primary")
    slack = dt.timedelta(hours=14)  # a "day" is the account's local day
    assert standby.height > 0 and standby["ts"].min() >= fday - slack
    assert primary["ts"].max() < fday + slack
    assert primary.filter(pl.col("ts") >= fday + slack).height == 0
    acc = sim["accounts"].join(sim["labels"], on="account_id").filter(pl.col("archetype") == "hydra")
    pools = acc.group_by("payment_fingerprint").agg(pl.col("pool").n_unique())["pool"]
    assert (pools == 1).all()  # the standby pool uses fresh cards
    rel = START + dt.timedelta(days=sc.models["release_day"] + 1)
    after = sim["j"].filter(pl.col("ts") >= rel)
    camp_new = after.filter(pl.col("campaign_id") == "sim-c01")["model"].eq(sc.models["release"]).mean()
    benign_new = after.filter(pl.col("campaign_id") == "benign")["model"].eq(sc.models["release"]).mean()
    assert 0.3 < camp_new < 0.65 and benign_new < 0.2


def _check_cot_harvest(sim):
    d = _arch(sim, "cot_harvest")
    both = d.select(pl.concat_str([pl.col("system").fill_null(""), pl.col("prompt")], separator="\n"))[:, 0]
    inj = [s for s in T.INJECTED if both.str.contains(s, literal=True).any()]
    assert len(inj) == 1 and both.str.contains(inj[0], literal=True).all()  # one fixed injected instruction
    langs = sum(bool(d["prompt"].str.contains(x, literal=True).any()) for x in ("请", "шаг", "paso"))
    assert langs >= 2  # step-by-step demands in several languages


def _check_paraphrase(sim):
    d = _arch(sim, "paraphrase")
    assert d["prompt"].n_unique() / d.height > 0.95  # no exact string repeats


def _check_capability_sweep(sim):
    d = _arch(sim, "capability_sweep")
    assert (d["tools"] > 0).mean() > 0.1  # agentic coding with tool definitions
    assert (
        d["prompt"]
        .str.contains("Articulate the internal reasoning|hidden chain of thought|thought process")
        .any()
    )
    assert d["prompt"].str.contains("(?i)grade|score|reward model").any()
    assert d["prompt"].str.contains("(?i)rewrite|harmless question").any()


def _check_low_and_slow(sim):
    d = _arch(sim, "low_and_slow")
    acc = sim["accounts"].join(sim["labels"], on="account_id").filter(pl.col("archetype") == "low_and_slow")
    assert (acc["created_at"] < START - dt.timedelta(days=90)).all()  # aged
    assert acc["payment_fingerprint"].is_unique().all()  # distinct cards
    assert (d.group_by("account_id").agg(pl.col("ip").n_unique())["ip"] == 1).all()  # home IPs
    assert d.group_by("account_id", pl.col("ts").dt.date()).len()["len"].median() <= 6  # a few a day


SHAPES = {
    "casual": _check_casual,
    "app_backend": _check_app_backend,
    "batch_job": _check_batch_job,
    "eval_harness": _check_eval_harness,
    "agent_sdk_user": _check_agent_sdk,
    "university_class": _check_university_class,
    "corporate_team": _check_corporate_team,
    "power_user": _check_power_user,
    "hydra": _check_hydra,
    "failover_and_pivot": _check_failover_and_pivot,
    "cot_harvest": _check_cot_harvest,
    "paraphrase": _check_paraphrase,
    "capability_sweep": _check_capability_sweep,
    "low_and_slow": _check_low_and_slow,
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_population_shape(sim, name):
    SHAPES[name](sim)


# ----------------------------------------------------------------------------------- reproducibility


def _digest(out: Path) -> dict[str, str]:
    return {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_same_seed_same_bytes_different_seed_differs(tmp_path, fmt):
    kw = {"scenario": "default", "scale": 0.05, "days": 3, "fmt": fmt}
    a = _digest(simulate(tmp_path / "a", seed=1002, **kw).out_dir)
    b = _digest(simulate(tmp_path / "b", seed=1002, **kw).out_dir)
    c = _digest(simulate(tmp_path / "c", seed=1003, **kw).out_dir)
    assert a == b
    assert a.keys() == c.keys()
    assert (
        a["interactions/part-00000." + ("parquet" if fmt == "parquet" else "jsonl.gz")]
        != c["interactions/part-00000." + ("parquet" if fmt == "parquet" else "jsonl.gz")]
    )


def test_adding_a_population_leaves_others_unchanged(tmp_path):
    base = 'start = "2026-04-22"\ndays = 2\n[[population]]\narchetype = "casual"\naccounts = 50\n'
    more = base + '[[population]]\narchetype = "hydra"\ncampaign = "sim-c09"\naccounts = 20\n'
    (tmp_path / "a.toml").write_text(base)
    (tmp_path / "b.toml").write_text(more)
    simulate(tmp_path / "a", scenario=tmp_path / "a.toml", seed=1004)
    simulate(tmp_path / "b", scenario=tmp_path / "b.toml", seed=1004)
    la = pl.read_parquet(tmp_path / "a" / "labels" / "accounts.parquet")
    lb = pl.read_parquet(tmp_path / "b" / "labels" / "accounts.parquet").filter(
        pl.col("archetype") == "casual"
    )
    assert sorted(la["account_id"]) == sorted(lb["account_id"])
    ia = pl.read_parquet(tmp_path / "a" / "interactions" / "*.parquet").drop("request_id")
    ib = pl.read_parquet(tmp_path / "b" / "interactions" / "*.parquet").drop("request_id")
    ib = ib.join(la.select("account_id"), on="account_id", how="semi")
    assert ia.sort("ts", "account_id").equals(ib.sort("ts", "account_id"))


def test_jsonl_format_is_readable(tmp_path):
    res = simulate(tmp_path / "j", scenario="default", seed=1005, scale=0.05, days=2, fmt="jsonl")
    part = res.interaction_paths[0]
    assert part.name.endswith(".jsonl.gz")
    with gzip.open(part, "rt") as fh:
        row = json.loads(fh.readline())
    assert list(row) == list(schema.INTERACTIONS.names)
    assert row["ts"].endswith("Z") and dt.datetime.fromisoformat(row["ts"])
    assert (tmp_path / "j" / "labels" / "accounts.jsonl.gz").is_file()


# ------------------------------------------------------------------------------------------ scenarios


@pytest.mark.parametrize(
    ("name", "scale"),
    [
        ("default", 0.05),
        ("hard-lookalikes", 0.05),
        ("hydra-reseller", 0.0015),
        ("cot-and-sweeps", 0.1),
        ("low-and-slow", 0.1),
        ("adaptive-linked", 0.1),
    ],
)
def test_builtin_scenarios_run(tmp_path, name, scale):
    assert name in builtin_names()
    res = simulate(tmp_path / name, scenario=name, seed=1006, scale=scale, days=4)
    assert res.interactions > 500
    assert res.campaign_accounts > 0 and res.harvest_interactions > 0
    labels = pl.read_parquet(tmp_path / name / "labels" / "accounts.parquet")
    sc = load_scenario(name)
    assert set(labels["population"]) == {p.name for p in sc.populations}


@pytest.mark.parametrize(
    ("content", "suffix", "needle"),
    [
        ('days = 3\nbogus = 1\n[[population]]\narchetype = "casual"\n', ".toml", "bogus"),
        ('days = "x"\n[[population]]\narchetype = "casual"\n', ".toml", "days"),
        ('[[population]]\narchetype = "alien"\n', ".toml", "population[0].archetype"),
        ('[[population]]\narchetype = "casual"\nfoo = 3\n', ".toml", "population[0].foo"),
        ('[[population]]\narchetype = "casual"\naccounts = "many"\n', ".toml", "population[0].accounts"),
        ('[[population]]\narchetype = "casual"\nactive = 1.5\n', ".toml", "population[0].active"),
        ('[[population]]\narchetype = "hydra"\n', ".toml", "population[0].campaign"),
        (
            '[[population]]\narchetype = "hydra"\ncampaign = "c"\ncapabilities = ["mind_reading"]\n',
            ".toml",
            "capabilities",
        ),
        (
            '[[population]]\narchetype = "hydra"\ncampaign = "c"\nfailover_day = 5\n',
            ".toml",
            "standby_accounts",
        ),
        ('[[population]]\narchetype = "hydra"\ncampaign = "c"\npivot = true\n', ".toml", "pivot"),
        (
            '[[population]]\narchetype = "cot_harvest"\ncampaign = "c"\nlanguages = ["klingon"]\n',
            ".toml",
            "languages",
        ),
        ("days = 3\n", ".toml", "population"),
        ('[[population]\narchetype = "casual"\n', ".toml", "not valid TOML"),
        ("population:\n  - archetype: casual\n    acounts: 3\n", ".yaml", "acounts"),
        ("population: [\n", ".yaml", "not valid YAML"),
        ('[[population]]\narchetype = "casual"\n', ".txt", ".toml, .yaml"),
    ],
)
def test_bad_scenario_files_are_refused_clearly(tmp_path, content, suffix, needle):
    f = tmp_path / f"scen{suffix}"
    f.write_text(content)
    with pytest.raises(UsageError) as err:
        load_scenario(f)
    assert needle in str(err.value) and str(f) in str(err.value)


def test_yaml_scenario_and_unknown_name(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text(
        "days: 2\npopulation:\n  - archetype: casual\n    accounts: 30\n  - archetype: low_and_slow\n"
        "    campaign: sim-c07\n    accounts: 5\n"
    )
    res = simulate(tmp_path / "o", scenario=f, seed=1007)
    assert res.days == 2 and res.campaigns.keys() == {"sim-c07"}
    with pytest.raises(UsageError, match="neither a built-in"):
        load_scenario("no-such-scenario")


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"scale": 0}, "--scale"),
        ({"days": 0}, "--days"),
        ({"fmt": "xml"}, "--format"),
        ({"seed": -1}, "--seed"),
    ],
)
def test_bad_options(tmp_path, kw, needle):
    with pytest.raises(UsageError, match=needle):
        simulate(tmp_path / "o", **{"scenario": "default", "scale": 0.05, "days": 1, **kw})


# ---------------------------------------------------------------------------------------------- text


def test_prompts_dir_draws_real_text(tmp_path, prompts_dir):
    res = simulate(tmp_path / "r", scenario="default", seed=1008, scale=0.05, days=3, prompts_dir=prompts_dir)
    meta = json.loads(res.scenario_path.read_text())
    assert meta["prompts"] != "builtin" and "gsm8k" in meta["prompts"]["math"]
    inter = pl.read_parquet(tmp_path / "r" / "interactions" / "*.parquet")
    labels = pl.read_parquet(tmp_path / "r" / "labels" / "accounts.parquet")
    bank = T.TextBank(prompts_dir)
    casual = inter.join(labels, on="account_id").filter(
        (pl.col("archetype") == "casual") & (pl.col("turn") == 0)
    )
    assert casual["prompt"].is_in(list(bank.pools["chat"])).mean() > 0.9
    builtin = set(T._builtin("chat", np.random.default_rng(0), 5000).to_list())
    assert casual["prompt"].is_in(list(builtin)).mean() < 0.05


def test_prompts_dir_must_exist(tmp_path):
    with pytest.raises(UsageError, match="prompts-dir"):
        simulate(tmp_path / "o", scenario="default", scale=0.05, days=1, prompts_dir=tmp_path / "missing")


def test_cli_simulate(tmp_path):
    from typer.testing import CliRunner

    from distillguard.cli import _load_commands, app

    _load_commands()
    r = CliRunner().invoke(
        app,
        [
            "simulate",
            "--out",
            str(tmp_path / "c"),
            "--scale",
            "0.05",
            "--days",
            "2",
            "--seed",
            "1009",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["interactions"] > 0
    r = CliRunner().invoke(app, ["simulate", "--out", str(tmp_path / "c"), "--scenario", "nope"])
    assert isinstance(r.exception, UsageError)


def test_cli_help_lists_every_builtin_scenario():
    """The --scenario help is a literal (listing the folder would import the simulator on every start
    of the CLI): it must name exactly the built-in scenarios."""
    import typer

    from distillguard.cli import _load_commands, app

    _load_commands()
    cmd = typer.main.get_command(app).commands["simulate"]  # type: ignore[attr-defined]
    text = next(p.help for p in cmd.params if p.name == "scenario")
    listed = text[text.index("(") + 1 : text.index(")")].split(", ")
    assert sorted(listed) == builtin_names()


# ----------------------------------------------------------------------------- hard look-alikes


@pytest.fixture(scope="module")
def hard(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("hard")
    res = simulate(out, scenario="hard-lookalikes", seed=1011, days=10, responses=True)
    inter = pl.read_parquet(out / "interactions" / "*.parquet")
    labels = pl.read_parquet(out / "labels" / "accounts.parquet")
    accounts = pl.read_parquet(out / "accounts.parquet").join(labels, on="account_id")
    return {"res": res, "inter": inter, "accounts": accounts, "j": inter.join(labels, on="account_id")}


def _acc(h: dict, archetype: str) -> pl.DataFrame:
    return h["accounts"].filter(pl.col("archetype") == archetype)


def _rows(h: dict, archetype: str) -> pl.DataFrame:
    return h["j"].filter(pl.col("archetype") == archetype)


def _p24(col: str) -> pl.Expr:
    return pl.col(col).str.extract(r"^(\d+\.\d+\.\d+)\.", 1)


def _check_startup_cohort(h):
    acc = _acc(h, "startup_cohort")
    assert (acc["tier"] == "startup").all() and 0.2 < acc["verified"].mean() < 0.8
    cohorts = acc.group_by(_p24("signup_ip").alias("p")).agg(
        pl.len(),
        ((pl.col("created_at").max() - pl.col("created_at").min()).dt.total_hours()).alias("span_h"),
        pl.col("payment_fingerprint").value_counts(sort=True).first().struct.field("count").alias("card"),
    )
    assert cohorts["len"].min() >= 30  # the batch signs up from the accelerator's office /24
    assert (cohorts["span_h"] <= 12).all()  # within hours: a sign-up burst
    assert (cohorts["card"] >= 5).all()  # some of each batch on the accelerator's card
    dom = acc.filter(~pl.col("email_domain").is_in(list(infra.CONSUMER_DOMAINS)))["email_domain"]
    assert dom.len() >= 0.7 * acc.height and dom.is_unique().all()  # each startup its own domain
    assert dom.str.contains(r"^(try|get|use|hey|go)?[a-z]+\.(ai|io|dev|app|co|so)$").all()
    d = _rows(h, "startup_cohort")
    per = d.group_by("account_id").agg(pl.col("system").n_unique(), pl.col("system").first().alias("s"))
    assert (per["system"] == 1).all() and per["s"].n_unique() == per.height  # a different product each
    assert d.group_by("account_id").agg(pl.col("prompt").n_unique() / pl.len())["prompt"].median() > 0.5


def _check_carrier_nat(h):
    d = _rows(h, "carrier_nat")
    assert d["asn"].n_unique() == 1
    pref = d.with_columns(_p24("ip").alias("p")).group_by("p").agg(pl.col("account_id").n_unique())
    assert pref.height <= 4 and pref["account_id"].min() >= 100  # thousands behind a few CGNAT /24s
    tz = {a: t for a, _, t in infra.CARRIERS}[int(d["asn"][0])]
    night = ((d["ts"].dt.hour().cast(pl.Int32) + tz) % 24).is_between(1, 5).mean()
    assert night < 0.08  # human hours
    assert (d.group_by("conversation_id").agg(pl.col("turn").max())["turn"] > 0).mean() > 0.3
    busy = d.group_by("account_id").agg(
        pl.col("conversation_id").n_unique().alias("c"), pl.col("ip").n_unique()
    )
    assert (busy.filter(pl.col("c") >= 4)["ip"] > 1).mean() > 0.9  # a new NAT address per session
    acc = _acc(h, "carrier_nat")
    assert acc["payment_fingerprint"].drop_nulls().is_unique().all()  # unrelated people


def _check_research_lab(h):
    acc = _acc(h, "research_lab")
    assert acc.height <= 6 and acc["verified"].all() and (acc["tier"] == "research").all()
    assert acc["payment_fingerprint"].n_unique() == 1 and acc["email_domain"].n_unique() == 1
    assert (acc["created_at"] < START - dt.timedelta(days=90)).all()
    d = _rows(h, "research_lab")
    assert d["asn"].is_in([a for a, _, _ in infra.DATACENTERS]).all()
    assert d.select(_p24("ip"))[:, 0].n_unique() == 1
    both = d.select(pl.concat_str([pl.col("system").fill_null(""), pl.col("prompt")], separator="\n"))[:, 0]
    used = [s for s in T.LAB_INSTRUCTIONS if both.str.contains(s, literal=True).any()]
    assert len(used) == 1 and both.str.contains(used[0], literal=True).all()  # one fixed instruction
    assert "step by step" in used[0]  # chain-of-thought elicitation
    days = d["ts"].dt.date().n_unique()
    assert days <= 4 + 1  # bounded: sweep_days (+1 for the lab's time zone)
    assert d["prompt"].value_counts()["count"].max() >= 4  # each problem sampled several times
    assert d["model"].n_unique() >= 2  # a sweep compares models


def _check_reward_model_vendor(h):
    acc = _acc(h, "reward_model_vendor")
    assert acc.height <= 2 and acc["verified"].all() and (acc["tier"] == "enterprise").all()
    assert acc["payment_fingerprint"].n_unique() == 1
    d = _rows(h, "reward_model_vendor")
    assert d.group_by("account_id", pl.col("ts").dt.date()).len()["len"].median() >= 500  # high volume
    assert d["prompt"].str.slice(0, 25).n_unique() == 1  # one grading template
    assert d["prompt"].str.contains("(?i)rate|rubric|compare").all() and (d["temperature"] == 0).all()


def _check_reseller_customers(h):
    d = _rows(h, "reseller_customers")
    gw_ua = {ua for _, ua in T.RESELLERS}
    via = d.filter(pl.col("user_agent").is_in(list(gw_ua)))
    assert 0.6 < via.height / d.height < 0.98 and via["user_agent"].n_unique() == 1
    assert via["asn"].n_unique() == 1 and via.select(_p24("ip"))[:, 0].n_unique() <= 3
    assert via["account_id"].n_unique() >= 100  # many customers share the gateway's /24s and agent
    acc = _acc(h, "reseller_customers")
    assert acc["payment_fingerprint"].drop_nulls().is_unique().all()  # yet unrelated: own cards
    assert acc["signup_ip"].is_unique().all()


HARD_SHAPES = {
    "startup_cohort": _check_startup_cohort,
    "carrier_nat": _check_carrier_nat,
    "research_lab": _check_research_lab,
    "reward_model_vendor": _check_reward_model_vendor,
    "reseller_customers": _check_reseller_customers,
}


@pytest.mark.parametrize("name", sorted(HARD_SHAPES))
def test_hard_lookalike_shape(hard, name):
    assert (_acc(hard, name)["campaign_id"] == schema.BENIGN).all()
    HARD_SHAPES[name](hard)


def test_hard_lookalikes_contains_default_traffic(hard, tmp_path):
    """The scenario is the default's traffic plus the look-alikes: same seed, same default accounts."""
    res = simulate(tmp_path / "d", scenario="default", seed=1011, days=2, scale=0.1)
    ref = pl.read_parquet(tmp_path / "d" / "accounts.parquet")
    mine = simulate(tmp_path / "h", scenario="hard-lookalikes", seed=1011, days=2, scale=0.1)
    got = pl.read_parquet(tmp_path / "h" / "accounts.parquet")
    same = got.filter(pl.col("account_id").is_in(ref["account_id"].implode())).sort("account_id")
    assert same.equals(ref.sort("account_id"))
    assert mine.accounts > res.accounts and mine.campaigns == res.campaigns


def test_hard_lookalikes_same_seed_same_bytes(tmp_path):
    kw = {"scenario": "hard-lookalikes", "scale": 0.2, "days": 6, "responses": True}
    a = _digest(simulate(tmp_path / "a", seed=1012, **kw).out_dir)
    b = _digest(simulate(tmp_path / "b", seed=1012, **kw).out_dir)
    c = _digest(simulate(tmp_path / "c", seed=1013, **kw).out_dir)
    assert a == b and a["interactions/part-00000.parquet"] != c["interactions/part-00000.parquet"]


# ---------------------------------------------------------------------------------------- responses


def test_responses_are_bounded_and_null_when_off(hard, sim):
    assert sim["inter"]["response"].is_null().all()  # default: off
    inter = hard["inter"]
    ok = inter["status"] == "ok"
    assert inter.filter(ok)["response"].null_count() == 0
    assert inter.filter(~ok)["response"].is_null().all()
    assert inter["response"].str.len_chars().max() <= 300


@pytest.mark.parametrize(
    ("marker", "open_tag", "close_tag"),
    [
        ("<reasoning>", "<reasoning>", "</reasoning>"),
        ("<think>", "<think>", "</think>"),
        ("[[THOUGHT]]", "[[THOUGHT]]", "[[/THOUGHT]]"),
    ],
)
def test_cot_forced_requests_answer_in_the_demanded_tags(marker, open_tag, close_tag):
    from distillguard.simulate.responses import synthesize

    rng = np.random.default_rng(1014)
    prompts = pl.Series(
        [f"Solve 2+2. Put your reasoning in {marker} tags.", "hi there", "Think step by step."]
    )
    system = pl.Series([None, None, None], dtype=pl.String)
    out = synthesize(
        rng, prompts, system, np.array(["chat", "chat", "chat"]), np.array(["ok", "ok", "error"])
    )
    assert out[0].startswith(open_tag) and close_tag in out[0] and len(out[0]) <= 300
    assert open_tag not in out[1]
    assert out[2] is None


def test_a_tag_instruction_after_many_requests_without_one():
    """Polars reads an object array with only None among its first values as objects, and the
    ``--responses`` run crashed on such a day (``simulate --scale 2 --seed 7 --responses``)."""
    from distillguard.simulate.responses import synthesize

    rng = np.random.default_rng(1016)
    prompts = pl.Series(["hi there"] * 1_000 + ["Solve 2+2. Put your reasoning in <think> tags."])
    system = pl.Series([None] * len(prompts), dtype=pl.String)
    out = synthesize(rng, prompts, system, np.array(["chat"] * len(prompts)), np.array(["ok"] * len(prompts)))
    assert out[-1].startswith("<think>") and "</think>" in out[-1]
    assert not out[:-1].str.contains("<think>", literal=True).any()


def test_harvest_responses_carry_the_reasoning(hard):
    d = _rows(hard, "cot_harvest").filter(pl.col("status") == "ok")
    both = d.select(pl.concat_str([pl.col("system").fill_null(""), pl.col("prompt")]))[:, 0]
    from distillguard.simulate.responses import TAGS

    for marker, open_tag, close_tag in TAGS:
        m = both.str.contains(marker, literal=True)
        if m.any():
            r = d.filter(m)["response"]
            assert r.str.starts_with(open_tag).all() and r.str.contains(close_tag, literal=True).all()
            return
    raise AssertionError("no injected tag instruction found")


def test_responses_leave_other_columns_unchanged(tmp_path):
    kw = {"scenario": "default", "scale": 0.05, "days": 2, "seed": 1015}
    a = pl.read_parquet(simulate(tmp_path / "a", **kw).interaction_paths)
    b = pl.read_parquet(simulate(tmp_path / "b", responses=True, **kw).interaction_paths)
    assert a.drop("response").equals(b.drop("response")) and b["response"].null_count() < b.height


# ------------------------------------------------------------------------------- seed-case volumes


def test_seed_case_calibration_from_parameters():
    """hydra-reseller at scale 1.0 has the seed case's shape (dry computation, no rows generated)."""
    sc = load_scenario("hydra-reseller")
    e = expected_counts(sc)
    camp = e.filter(pl.col("campaign_id") != schema.BENIGN)
    assert camp["accounts"].sum() == 25_000
    assert abs(camp["interactions"].sum() / 28.8e6 - 1) < 0.02
    assert sc.start == dt.date(2026, 4, 22) and sc.start + dt.timedelta(days=sc.days - 1) == dt.date(
        2026, 6, 5
    )
    assert 24 <= camp["interactions"].sum() / 25_000 / sc.days <= 28  # ~26 requests a day per account
    benign = e.filter(pl.col("campaign_id") == schema.BENIGN)
    assert benign["interactions"].sum() > 10e6 and benign["accounts"].sum() > 100_000
    hard = {"startup_cohort", "carrier_nat", "research_lab", "reward_model_vendor", "reseller_customers"}
    assert hard <= set(benign["archetype"])
    hydra = next(p for p in sc.populations if p.archetype == "hydra")
    assert hydra["failover_day"] > 0 and hydra["pivot"] and hydra["cover_share"] > 0


def test_expected_counts_match_generated(tmp_path):
    scale = 0.004
    res = simulate(tmp_path / "s", scenario="hydra-reseller", seed=1016, scale=scale)
    e = expected_counts(load_scenario("hydra-reseller").scaled(scale))
    camp = e.filter(pl.col("campaign_id") != schema.BENIGN)
    assert abs(sum(res.campaigns.values()) / camp["interactions"].sum() - 1) < 0.06
    assert abs(res.harvest_interactions / camp["harvest"].sum() - 1) < 0.06
    # populations of >= 100 accounts (smaller ones are a few heavy-tailed accounts at this scale)
    lab = pl.read_parquet(tmp_path / "s" / "labels" / "interactions" / "*.parquet").join(
        pl.read_parquet(tmp_path / "s" / "labels" / "accounts.parquet"), on="account_id"
    )
    got = dict(lab.group_by("population").len().iter_rows())
    for row in e.filter(pl.col("accounts") >= 100).iter_rows(named=True):
        assert abs(got[row["population"]] / row["interactions"] - 1) < 0.08, row["population"]

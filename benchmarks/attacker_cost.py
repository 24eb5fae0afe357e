"""What staying hidden costs an adaptive operator: recall against each evasion knob, and the harvest an
undetected account still brings in per day.

Starts from the built-in ``adaptive`` scenario (two campaigns that use every evasion) and changes one
knob of both campaigns at a time, on held-out seeds (>= 1000, never used while tuning), with real
prompts and the shared corpora's public-dataset index. For every variant it simulates, scans at the
default operating point (and again without the index: what the published tells alone find; and the
same scan's flags without the peer gate, `scoring.peers`) and
reports, per campaign, the recall of its accounts, the harvest requests
per account per active day, the distinct public-dataset items harvested, and the harvest of the
accounts the scan did not flag: what an operator keeps by evading.

Usage: ``.venv/bin/python benchmarks/attacker_cost.py [--scale 0.5] [--seeds 2000] [--only KNOB...]``
(``--json FILE`` writes the table).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import tomllib
from importlib import resources
from pathlib import Path

import polars as pl
import yaml

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ROOT.parent / "shared" / "data" / "prompts"

#: (knob, value label, parameters set on both adaptive campaigns); the first row is the baseline
VARIANTS: list[tuple[str, str, dict]] = [
    ("baseline", "every evasion", {}),
    ("elicitation", "fixed instruction", {"elicitation": "fixed", "injected_instruction": True}),
    ("elicitation", "none", {"elicitation": "none", "cot_share": 0.0}),
    ("template", "fixed", {"template": "fixed"}),
    ("template", "paraphrased", {"template": "paraphrased"}),
    ("cover_share", "0", {"cover_share": 0.0}),
    ("cover_share", "0.6", {"cover_share": 0.6}),
    ("cover_share", "0.8", {"cover_share": 0.8}),
    ("volume", "2-6 a day", {"rate_min": 2.0, "rate_max": 6.0}),
    ("volume", "35-80 a day", {"rate_min": 35.0, "rate_max": 80.0}),
    ("partition", "off", {"partition": False}),
    ("dataset sources", "evaluation sets only", {"dataset_sources": "evaluation"}),
    ("network", "rotating proxies", {"network": "residential_proxy"}),
    ("network", "cloud", {"network": "datacenter"}),
    ("timing", "uniform", {"hours": "flat"}),
    ("timing", "synchronized", {"hours": "shifts"}),
    ("payment", "5 accounts per card", {"card_group": 5, "no_card_share": 0.0}),
    ("sign-up", "3 bursts", {"signup_spread_days": 0, "signup_bursts": 3}),
    ("account age", "new accounts", {"account_age_days": 0}),
    ("settings", "fixed per campaign", {"settings": "fixed"}),
    # (the peer gate asks an account's 10 closest accounts by evidence: a pool smaller than that is
    # judged partly by strangers)
    ("pool size", "8 accounts each", {"accounts": 16}),
    ("pool size", "20 accounts each", {"accounts": 40}),
    # each account its own cover, chain-of-thought share and focus: accounts that look less alike
    ("spread", "0.3 per account", {"spread": 0.3}),
    ("spread", "0.6 per account", {"spread": 0.6}),
]


def scenario_file(params: dict, out: Path) -> Path:
    """The adaptive scenario with ``params`` set on both campaigns, as a YAML scenario file."""
    text = (resources.files("distillguard.simulate") / "scenarios" / "adaptive.toml").read_text()
    doc = tomllib.loads(text)
    for pop in doc["population"]:
        if pop["archetype"] == "adaptive":
            if params.get("elicitation") in ("none", "fixed"):
                pop.pop("cot_share", None)  # (varied wording's share; the knob sets its own)
            pop.update(params)
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


def ungated(design: pl.DataFrame, index: str | None) -> pl.DataFrame:
    """``account_id, ungated``: the scan's flags with the peer gate left out."""
    from distillguard.scoring import choose_operating_point, load_model
    from distillguard.scoring.operating_point import flag

    op = choose_operating_point(load_model(dataset_index=index is not None), peer_gate=False)
    f = flag(pl.col("score"), op.account_threshold(pl.col("observed_days")), pl.col("interactions"))
    return design.select("account_id", ungated=f)


def run_variant(params: dict, seed: int, scale: float, index: str, tmp: Path) -> list[dict]:
    from distillguard.pipeline import ScanOptions, scan
    from distillguard.simulate import simulate

    logs = tmp / "logs"
    simulate(logs, scenario=scenario_file(params, tmp / "variant.yaml"), seed=seed, scale=scale,
             prompts_dir=PROMPTS)
    flags = []
    for i, ix in enumerate((index, None)):  # (with the index, then without: what the tells alone find)
        res = scan([logs / "interactions"], [logs / "accounts.parquet"], tmp / f"work{i}",
                   ScanOptions(seed=0, dataset_index=ix, workers=2))
        flags.append(pl.from_arrow(res.accounts).select("account_id", pl.col("flagged").alias(f"f{i}")))
        if i == 0:  # the same scan's flags without the peer gate (scores and thresholds as made)
            flags.append(ungated(res.design, ix))
    lab = pl.read_parquet(logs / "labels" / "accounts.parquet").select("account_id", "campaign_id")
    acc = flags[0].join(flags[2], on="account_id").join(flags[1], on="account_id")
    acc = acc.rename({"f0": "flagged"}).join(lab, on="account_id")
    ilab = pl.read_parquet(logs / "labels" / "interactions").select("request_id", "account_id", "harvest")
    inter = pl.read_parquet(logs / "interactions", columns=["request_id", "ts"])
    days = (
        ilab.join(inter, on="request_id")
        .group_by("account_id")
        .agg(harvest=pl.col("harvest").sum(), days=pl.col("ts").dt.date().n_unique())
    )
    acc = acc.join(days, on="account_id", how="left").with_columns(pl.col("harvest", "days").fill_null(0))
    # distinct public-dataset items the harvest requests held (the scan with the index matched them):
    # what a harvest confined to a small pool gives up, however many requests it sends
    staged = pl.read_parquet(tmp / "work0" / "staged" / "*.parquet", columns=["request_id", "dataset_item"])
    items = (
        ilab.filter(pl.col("harvest")).join(staged, on="request_id")
        .join(lab, on="account_id")
        .group_by("campaign_id")
        .agg(items=pl.col("dataset_item").drop_nulls().n_unique())
    )
    distinct = dict(items.iter_rows())
    benign = acc.filter(pl.col("campaign_id") == "benign")
    fp = int(benign["flagged"].sum())
    fp_either = int((benign["flagged"] | benign["f1"]).sum())
    rows = []
    for cid in sorted(c for c in acc["campaign_id"].unique().to_list() if c != "benign"):
        c = acc.filter(pl.col("campaign_id") == cid)
        tp = int(c["flagged"].sum())
        hidden = c.filter(~pl.col("flagged"))
        rows.append({
            "campaign": cid,
            "accounts": c.height,
            "recall": tp / c.height,
            "false_positives": fp,
            "recall_without_index": float(c["f1"].mean()),
            "recall_without_gate": float(c["ungated"].mean()),
            "false_positives_without_gate": int(benign["ungated"].sum()),
            "recall_either": float((c["flagged"] | c["f1"]).mean()),
            "false_positives_either": fp_either,
            "harvest_per_account_day": float(c["harvest"].sum() / max(1, c["days"].sum())),
            "distinct_items": int(distinct.get(cid, 0)),
            "hidden_accounts": hidden.height,
            "harvest_per_hidden_account_day": float(hidden["harvest"].sum() / hidden["days"].sum())
            if hidden.height and hidden["days"].sum() else None,
        })
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=0.5)
    ap.add_argument("--seeds", default="2000", help="held-out seeds (>= 1000), comma-separated")
    ap.add_argument("--only", nargs="*", default=None, help="knobs to sweep (default: all)")
    ap.add_argument("--json", default=None, help="also write the rows as JSON to this file")
    a = ap.parse_args()
    seeds = [int(s) for s in a.seeds.split(",")]
    if any(s < 1000 for s in seeds):
        sys.exit("held-out seeds only (>= 1000): the scorer was fitted on seeds below 100")
    if not PROMPTS.is_dir():
        sys.exit(f"{PROMPTS}: the real prompt corpora are needed")
    from distillguard.scoring.train import build_index

    variants = [v for v in VARIANTS if a.only is None or v[0] in a.only or v[0] == "baseline"]
    out = []
    with tempfile.TemporaryDirectory() as root:
        index = str(build_index(str(PROMPTS), Path(root) / "index"))
        print(f"{'knob':<12} {'value':<22} {'campaign':<8} {'recall':>6} {'FP':>3} "
              f"{'harvest/acct-day':>16} {'items':>6} "
              f"{'hidden':>6} {'harvest/hidden acct-day':>23} "
              f"{'no index':>8} {'either':>6} {'FP':>3} {'no gate':>7} {'FP':>3}")
        for knob, label, params in variants:
            for seed in seeds:
                t0 = time.perf_counter()
                with tempfile.TemporaryDirectory(dir=root) as tmp:
                    rows = run_variant(params, seed, a.scale, index, Path(tmp))
                for r in rows:
                    r.update(knob=knob, value=label, seed=seed, seconds=round(time.perf_counter() - t0, 1))
                    hidden = r["harvest_per_hidden_account_day"]
                    print(f"{knob:<12} {label:<22} {r['campaign']:<8} {r['recall']:>6.2f} "
                          f"{r['false_positives']:>3} {r['harvest_per_account_day']:>16.1f} "
                          f"{r['distinct_items']:>6} "
                          f"{r['hidden_accounts']:>6} {'-' if hidden is None else f'{hidden:.1f}':>23} "
                          f"{r['recall_without_index']:>8.2f} {r['recall_either']:>6.2f} "
                          f"{r['false_positives_either']:>3} {r['recall_without_gate']:>7.2f} "
                          f"{r['false_positives_without_gate']:>3}",
                          flush=True)
                out.extend(rows)
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()

"""Measure a detector's results against the simulator's ground truth (``distillguard evaluate``).

``evaluate(results_dir, labels)`` reads ``results_dir/accounts.{parquet,csv}`` (``schema.ACCOUNT_RESULTS``,
as written by ``scan``) and the simulator's labels (the simulate output directory or its ``labels/``
folder) and computes what a trust-and-safety team needs before trusting a detector:

- ranking: average precision (and ROC AUC) of the account score;
- the flag: precision, recall, F1, benign false-positive rate, false positives of each look-alike group;
- coverage: recall per playbook and per campaign, share of harvest volume whose account is flagged;
- attribution: campaign cohesion (share of a campaign's flagged accounts under its most common
  predicted campaign id) and purity (share of a predicted campaign's accounts from its dominant true
  campaign), failover relinking (standby-pool accounts attributed to the primary pool's campaign);
- speed: detection delay per campaign from ``results_dir/replay.parquet`` (each day's run over the
  logs up to that day's end): days from the campaign's first request to the first run that flagged
  at least half of its accounts seen by then. Only each day's own flags count, not the final scan's.

Accounts in the labels but absent from the results count as score 0, not flagged.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from distillguard import schema
from distillguard.errors import InputError, UsageError

BENIGN = schema.BENIGN
RESULT_COLUMNS = ("account_id", "score", "flagged")
LABEL_COLUMNS = ("account_id", "archetype", "campaign_id")
REPLAY_COLUMNS = ("account_id", "day", "flagged")


@dataclass
class GroupRate:
    """Flag rate of one group of accounts (a look-alike archetype, a playbook, a campaign)."""

    group: str
    accounts: int
    flagged: int

    @property
    def rate(self) -> float | None:
        return self.flagged / self.accounts if self.accounts else None


@dataclass
class CampaignEval:
    """How one true campaign was found and attributed."""

    campaign_id: str
    playbook: str
    accounts: int
    flagged: int
    recall: float
    harvest_interactions: int
    harvest_caught: float | None  # share of its harvest volume on flagged accounts
    predicted_campaign: str | None  # the predicted id most of its flagged accounts carry
    cohesion: float | None  # share of its flagged accounts under that id
    standby_accounts: int = 0
    standby_flagged: int = 0
    relinked: float | None = None  # share of flagged standby accounts under the primary's predicted id
    first_activity: str | None = None
    first_flagged: str | None = None  # the first day's run that flagged any of its accounts
    detected: str | None = None  # the first day's run that flagged at least half of its accounts seen so far
    delay_days: int | None = None  # days from its first request to ``detected``
    # (monitoring runs) the id most of its flagged accounts carried in the first run that put any in a
    # campaign, and how ``predicted_campaign`` relates to it (see :func:`_id_kept`)
    first_id: str | None = None
    id_kept: str | None = None


@dataclass
class EvaluationReport:
    """Every measure ``evaluate`` computes; ``to_dict()`` for JSON, ``render()`` for people."""

    results_dir: str
    labels: str
    accounts: int
    campaign_accounts: int
    benign_accounts: int
    average_precision: float | None
    roc_auc: float | None
    flagged: int
    true_positives: int
    false_positives: int
    precision: float | None
    recall: float | None
    f1: float | None
    benign_fpr: float | None
    harvest_interactions: int
    harvest_caught: float | None
    cohesion: float | None  # flagged-account-weighted mean over campaigns
    purity: float | None  # account-weighted mean over predicted campaigns
    predicted_campaigns: int
    lookalikes: list[GroupRate] = field(default_factory=list)
    playbooks: list[GroupRate] = field(default_factory=list)
    campaigns: list[CampaignEval] = field(default_factory=list)
    purity_by_predicted: dict[str, dict[str, Any]] = field(default_factory=dict)
    failover_relinking: float | None = None
    detection_delay: str = "unavailable"  # "available" or why not
    unlabelled_result_accounts: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["lookalikes"] = [{**asdict(g), "fp_rate": g.rate} for g in self.lookalikes]
        d["playbooks"] = [{**asdict(g), "recall": g.rate} for g in self.playbooks]
        return d

    def render(self, console: Any) -> None:
        from rich.table import Table

        def pct(x: float | None) -> str:
            return "n/a" if x is None else f"{100 * x:.1f}%"

        def num(x: float | None) -> str:
            return "n/a" if x is None else f"{x:.3f}"

        def pct0(x: float | None) -> str:
            return "n/a" if x is None else f"{100 * x:.0f}%"

        delays = [c.delay_days for c in self.campaigns if c.delay_days is not None]
        delay = (
            (f"{min(delays)}" if min(delays) == max(delays) else f"{min(delays)}-{max(delays)}")
            + " days after a campaign's first request"
            if delays
            else self.detection_delay
        )

        head = Table(title="Detector evaluation", show_header=False, title_justify="left")
        head.add_column("measure")
        head.add_column("value", justify="right")
        rows = [
            (
                "accounts (campaign / benign)",
                f"{self.accounts:,} ({self.campaign_accounts:,} / {self.benign_accounts:,})",
            ),
            ("average precision of score", num(self.average_precision)),
            ("ROC AUC of score", num(self.roc_auc)),
            ("flagged", f"{self.flagged:,} ({self.true_positives:,} TP, {self.false_positives:,} FP)"),
            ("precision of flag", pct(self.precision)),
            ("recall of flag", pct(self.recall)),
            ("F1", num(self.f1)),
            ("benign false-positive rate", pct(self.benign_fpr)),
            (
                "harvest volume caught",
                f"{pct(self.harvest_caught)} of {self.harvest_interactions:,} requests",
            ),
            ("campaign cohesion", pct(self.cohesion)),
            (f"purity ({self.predicted_campaigns} predicted campaigns)", pct(self.purity)),
            ("failover relinking", pct(self.failover_relinking)),
            ("detection delay (daily replay)", delay),
        ]
        for k, v in rows:
            head.add_row(k, v)
        console.print(head)
        la = Table(title="False positives per look-alike group", title_justify="left")
        for c in ("group", "accounts", "flagged", "FP rate"):
            la.add_column(c, justify="left" if c == "group" else "right")
        for g in self.lookalikes:
            la.add_row(g.group, f"{g.accounts:,}", f"{g.flagged:,}", pct(g.rate))
        console.print(la)
        from rich import box

        ct = Table(
            title="Campaigns (the ids found: --json)",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
        )
        for c in ("campaign", "playbook", "accts", "recall", "harv.", "cohes.", "standby", "delay"):
            ct.add_column(c, justify="left" if c in ("campaign", "playbook") else "right", no_wrap=True)
        for c in self.campaigns:
            relink = "" if not c.standby_accounts else f"{c.standby_flagged}/{c.standby_accounts}"
            ct.add_row(
                c.campaign_id,
                c.playbook,
                f"{c.accounts:,}",
                pct0(c.recall),
                pct0(c.harvest_caught),
                pct0(c.cohesion),
                relink,
                "-" if c.delay_days is None else f"{c.delay_days} d",
            )
        console.print(ct)
        ids = [c for c in self.campaigns if c.id_kept is not None]
        if ids:  # (monitoring runs) the id each campaign was first flagged under, and where it ended
            kinds = {k: sum(c.id_kept == k for c in ids) for k in ("kept", "alias", "split", "changed")}
            odd = [f"{c.campaign_id} {c.first_id} -> {c.predicted_campaign} ({c.id_kept})"
                   for c in ids if c.id_kept != "kept"]
            console.print("ids since first flagged: " + ", ".join(f"{n} {k}" for k, n in kinds.items() if n)
                          + ("; " + "; ".join(odd) if odd else ""), highlight=False)
        for note in self.notes:
            console.print(f"[dim]note: {note}[/]")


# ------------------------------------------------------------------------------------------- reading


def _read_table(path: Path) -> pl.DataFrame:
    try:
        if path.suffix == ".parquet":
            return pl.read_parquet(path)
        if path.suffix == ".csv":
            return pl.read_csv(path, infer_schema_length=10000)
        if path.name.endswith((".jsonl", ".jsonl.gz")):
            return pl.read_ndjson(path)
    except Exception as exc:  # polars raises many kinds; the user needs the file and the reason
        raise InputError(path, f"cannot be read ({type(exc).__name__}: {exc})") from exc
    raise InputError(path, "unsupported file type (use .parquet, .csv or .jsonl[.gz])")


def _require(df: pl.DataFrame, cols: tuple[str, ...], path: Path) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise InputError(
            path, f"missing required column(s): {', '.join(missing)} (has: {', '.join(df.columns)})"
        )


def _find(directory: Path, stem: str) -> Path | None:
    for ext in (".parquet", ".csv", ".jsonl.gz", ".jsonl"):
        p = directory / f"{stem}{ext}"
        if p.is_file():
            return p
    return None


def read_results(results_dir: str | Path) -> tuple[pl.DataFrame, Path]:
    d = Path(results_dir)
    if not d.is_dir():
        raise UsageError(f"results directory {d} does not exist")
    path = _find(d, "accounts")
    if path is None:
        raise UsageError(f"{d}: no accounts.parquet or accounts.csv (the per-account results scan writes)")
    df = _read_table(path)
    _require(df, RESULT_COLUMNS, path)
    if "campaign_id" not in df.columns:
        df = df.with_columns(pl.lit(None, dtype=pl.String).alias("campaign_id"))
    try:
        df = df.select(
            pl.col("account_id").cast(pl.String),
            pl.col("score").cast(pl.Float64),
            _as_bool(df["flagged"]).alias("flagged"),
            pl.col("campaign_id").cast(pl.String),
        )
    except pl.exceptions.PolarsError as exc:
        raise InputError(path, f"wrong column type ({exc})") from exc
    bad = df.filter(
        pl.col("account_id").is_null()
        | pl.col("score").is_null()
        | pl.col("score").is_nan()
        | (pl.col("score") < 0)
        | (pl.col("score") > 1)
        | pl.col("flagged").is_null()
    )
    if bad.height:
        row = (
            df.with_row_index("row").join(bad.select("account_id"), on="account_id", how="semi")["row"][0] + 1
        )
        raise InputError(
            path,
            f"{bad.height} row(s) with a missing account_id/flagged or a score outside [0, 1] "
            f"(first at row {row})",
        )
    dup = df["account_id"].is_duplicated()
    if dup.any():
        raise InputError(path, f"account_id {df['account_id'].filter(dup)[0]!r} appears more than once")
    # empty campaign ids mean "not attributed"
    df = df.with_columns(
        pl.when(pl.col("campaign_id").str.strip_chars() == "")
        .then(None)
        .otherwise(pl.col("campaign_id"))
        .alias("campaign_id")
    )
    return df, path


def _as_bool(s: pl.Series) -> pl.Expr:
    if s.dtype == pl.Boolean:
        return pl.col(s.name)
    if s.dtype.is_numeric():
        return pl.col(s.name) != 0
    low = pl.col(s.name).cast(pl.String).str.to_lowercase().str.strip_chars()
    return (
        pl.when(low.is_in(["true", "1", "yes", "t"]))
        .then(True)
        .when(low.is_in(["false", "0", "no", "f", ""]))
        .then(False)
        .otherwise(None)
    )


@dataclass
class Labels:
    accounts: pl.DataFrame
    interactions: pl.LazyFrame | None
    interactions_dir: Path | None  # the simulated interactions (for first-activity times)
    where: Path


def read_labels(labels: str | Path) -> Labels:
    p = Path(labels)
    if not p.exists():
        raise UsageError(f"--labels {p} does not exist")
    if p.is_file():
        acc_path, inter_dir = p, p.parent / "interactions"
        base = p.parent
    else:
        base = p / "labels" if (p / "labels").is_dir() else p
        acc_path = _find(base, "accounts")
        if acc_path is None:
            raise UsageError(
                f"--labels {p}: no labels/accounts.parquet (give the simulate output directory "
                "or its labels/ folder)"
            )
        inter_dir = base / "interactions"
    acc = _read_table(acc_path)
    _require(acc, LABEL_COLUMNS, acc_path)
    for col in ("playbook", "pool"):
        if col not in acc.columns:
            acc = acc.with_columns(pl.lit(None, dtype=pl.String).alias(col))
    acc = acc.select("account_id", "archetype", "campaign_id", "playbook", "pool").with_columns(
        pl.col("campaign_id").fill_null(BENIGN)
    )
    inter = None
    if inter_dir.is_dir():
        parts = sorted(inter_dir.glob("part-*.parquet"))
        jparts = sorted(inter_dir.glob("part-*.jsonl.gz"))
        if parts:
            inter = pl.scan_parquet(parts)
        elif jparts:
            inter = pl.concat([pl.read_ndjson(f).lazy() for f in jparts])
    sim_inter = base.parent / "interactions" if base.name == "labels" else None
    return Labels(acc, inter, sim_inter if sim_inter and sim_inter.is_dir() else None, base)


# ---------------------------------------------------------------------------------------- measuring


def _ratio(a: float, b: float) -> float | None:
    return float(a) / float(b) if b else None


def _first_activity(labels: Labels) -> dict[str, dt.date]:
    """Per campaign, the UTC date of its first request (needs the simulated interactions)."""
    if labels.interactions_dir is None:
        return {}
    parts = sorted(labels.interactions_dir.glob("part-*.parquet"))
    camp = labels.accounts.filter(pl.col("campaign_id") != BENIGN).select("account_id", "campaign_id")
    if parts:
        lf = pl.scan_parquet(parts).select("account_id", "ts")
    else:
        jparts = sorted(labels.interactions_dir.glob("part-*.jsonl.gz"))
        if not jparts:
            return {}
        lf = pl.concat([pl.read_ndjson(f).select("account_id", "ts").lazy() for f in jparts]).with_columns(
            pl.col("ts").str.to_datetime(time_zone="UTC")
        )
    first = lf.join(camp.lazy(), on="account_id").group_by("campaign_id").agg(pl.col("ts").min()).collect()
    return {c: t.date() for c, t in first.iter_rows()}


def evaluate(results_dir: str | Path, labels: str | Path) -> EvaluationReport:
    """Compare ``results_dir`` (scan output) with the simulator's ``labels``."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    res, res_path = read_results(results_dir)
    lab = read_labels(labels)
    notes: list[str] = []
    acc = (
        lab.accounts.join(res, on="account_id", how="left")
        .with_columns(
            pl.col("score").fill_null(0.0),
            pl.col("flagged").fill_null(False),
            pl.col("campaign_id_right").alias("predicted"),
        )
        .drop("campaign_id_right")
    )
    missing = int(acc.height - acc.join(res, on="account_id", how="semi").height)
    if missing:
        notes.append(f"{missing:,} labelled accounts are absent from the results (scored 0, not flagged)")
    unl = int(res.join(lab.accounts, on="account_id", how="anti").height)
    if unl:
        notes.append(f"{unl:,} result accounts are not in the labels (ignored)")
    y = (acc["campaign_id"] != BENIGN).to_numpy()
    score = acc["score"].to_numpy()
    flag = acc["flagged"].to_numpy()
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    ap = float(average_precision_score(y, score)) if n_pos and n_neg else None
    auc = float(roc_auc_score(y, score)) if n_pos and n_neg else None
    tp, fp = int((flag & y).sum()), int((flag & ~y).sum())
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, n_pos)
    f1 = (
        (2 * precision * recall / (precision + recall))
        if precision and recall
        else (0.0 if precision is not None and recall is not None else None)
    )

    def rates(frame: pl.DataFrame, by: str) -> list[GroupRate]:
        g = frame.group_by(by).agg(pl.len().alias("n"), pl.col("flagged").sum().alias("f")).sort(by)
        return [GroupRate(str(k), int(n), int(f)) for k, n, f in g.iter_rows()]

    lookalikes = rates(acc.filter(pl.col("campaign_id") == BENIGN), "archetype")
    camp_acc = acc.filter(pl.col("campaign_id") != BENIGN)
    playbooks = rates(camp_acc.with_columns(pl.col("playbook").fill_null(pl.col("archetype"))), "playbook")

    # harvest volume
    harvest_by_acct = None
    if lab.interactions is not None:
        harvest_by_acct = lab.interactions.filter(pl.col("harvest")).group_by("account_id").len("h").collect()
    else:
        notes.append("no labels/interactions: harvest volume caught is unavailable")
    total_h = int(harvest_by_acct["h"].sum()) if harvest_by_acct is not None else 0
    caught_h = None
    if harvest_by_acct is not None:
        j = harvest_by_acct.join(
            acc.select("account_id", "flagged", "campaign_id"), on="account_id", how="left"
        )
        caught_h = _ratio(int(j.filter(pl.col("flagged").fill_null(False))["h"].sum()), total_h)

    # cohesion, relinking, delay per campaign
    first_act = _first_activity(lab)
    replay = _read_replay(Path(results_dir))
    lineage = _read_lineage(Path(results_dir))
    delay_state = "available" if replay is not None else "unavailable (no replay.parquet in the results)"
    campaigns: list[CampaignEval] = []
    coh_num = coh_den = 0
    relink_num = relink_den = 0
    for cid in sorted(camp_acc["campaign_id"].unique().to_list()):
        c = camp_acc.filter(pl.col("campaign_id") == cid)
        fl = c.filter(pl.col("flagged"))
        pred = (
            fl.filter(pl.col("predicted").is_not_null())
            .group_by("predicted")
            .len()
            .sort(["len", "predicted"], descending=[True, False])
        )
        top = pred["predicted"][0] if pred.height else None
        cohesion = _ratio(int(pred["len"][0]) if pred.height else 0, fl.height) if fl.height else None
        if fl.height:
            coh_num += int(pred["len"][0]) if pred.height else 0
            coh_den += fl.height
        ch = None
        nh = 0
        if harvest_by_acct is not None:
            hh = harvest_by_acct.join(c.select("account_id", "flagged"), on="account_id")
            nh = int(hh["h"].sum())
            ch = _ratio(int(hh.filter(pl.col("flagged"))["h"].sum()), nh)
        standby = c.filter(pl.col("pool") == "standby")
        sb_fl = standby.filter(pl.col("flagged"))
        relinked = None
        if standby.height:
            prim = c.filter(
                (pl.col("pool") != "standby") & pl.col("flagged") & pl.col("predicted").is_not_null()
            )
            ptop = prim.group_by("predicted").len().sort(["len", "predicted"], descending=[True, False])
            prim_id = ptop["predicted"][0] if ptop.height else None
            ok = int((sb_fl["predicted"] == prim_id).sum()) if prim_id is not None else 0
            relinked = _ratio(ok, standby.height)
            relink_num += ok
            relink_den += standby.height
        ce = CampaignEval(
            campaign_id=cid,
            playbook=str(c["playbook"].fill_null(c["archetype"])[0]),
            accounts=c.height,
            flagged=fl.height,
            recall=fl.height / c.height,
            harvest_interactions=nh,
            harvest_caught=ch,
            predicted_campaign=top,
            cohesion=cohesion,
            standby_accounts=standby.height,
            standby_flagged=sb_fl.height,
            relinked=relinked,
        )
        if cid in first_act:
            ce.first_activity = first_act[cid].isoformat()
        if replay is not None:
            days = (
                replay.join(c.select("account_id"), on="account_id")
                .group_by("day")
                .agg(seen=pl.len(), flagged=pl.col("flagged").sum())
                .sort("day")
            )
            hit = days.filter(pl.col("flagged") > 0)
            if hit.height:
                ce.first_flagged = hit["day"][0].isoformat()
            if lineage is not None:
                ce.first_id, ce.id_kept = _first_id(replay, c["account_id"], top, lineage)
            # detected: the first day whose run flagged at least half of the campaign's accounts seen
            # by then (one account flagged early is not yet a campaign an analyst can act on)
            half = days.filter((pl.col("flagged") > 0) & (2 * pl.col("flagged") >= pl.col("seen")))
            if half.height:
                detected = half["day"][0]
                ce.detected = detected.isoformat()
                start = first_act.get(cid)
                if start is None:  # fall back to the first replay day the campaign appears in
                    start = days["day"][0]
                ce.delay_days = (detected - start).days
        campaigns.append(ce)
    if replay is not None and not first_act:
        notes.append(
            "simulated interactions not found beside the labels: delay counted from the first replay "
            "day each campaign appears in"
        )

    # purity of predicted campaigns
    purity_by: dict[str, dict[str, Any]] = {}
    pur_num = pur_den = 0
    predicted = acc.filter(pl.col("flagged") & pl.col("predicted").is_not_null())
    for pid in sorted(predicted["predicted"].unique().to_list()):
        g = (
            predicted.filter(pl.col("predicted") == pid)
            .group_by("campaign_id")
            .len()
            .sort(["len", "campaign_id"], descending=[True, False])
        )
        n = int(g["len"].sum())
        dom, dn = g["campaign_id"][0], int(g["len"][0])
        purity_by[pid] = {
            "accounts": n,
            "dominant": dom,
            "purity": dn / n,
            "benign": int(g.filter(pl.col("campaign_id") == BENIGN)["len"].sum()),
        }
        pur_num += dn
        pur_den += n

    return EvaluationReport(
        results_dir=str(res_path.parent),
        labels=str(lab.where),
        accounts=acc.height,
        campaign_accounts=n_pos,
        benign_accounts=n_neg,
        average_precision=ap,
        roc_auc=auc,
        flagged=int(flag.sum()),
        true_positives=tp,
        false_positives=fp,
        precision=precision,
        recall=recall,
        f1=f1,
        benign_fpr=_ratio(fp, n_neg),
        harvest_interactions=total_h,
        harvest_caught=caught_h,
        cohesion=_ratio(coh_num, coh_den),
        purity=_ratio(pur_num, pur_den),
        predicted_campaigns=len(purity_by),
        lookalikes=lookalikes,
        playbooks=playbooks,
        campaigns=campaigns,
        purity_by_predicted=purity_by,
        failover_relinking=_ratio(relink_num, relink_den),
        detection_delay=delay_state,
        unlabelled_result_accounts=unl,
        notes=notes,
    )


def _read_replay(results_dir: Path) -> pl.DataFrame | None:
    path = _find(results_dir, "replay")
    if path is None:
        return None
    df = _read_table(path)
    _require(df, REPLAY_COLUMNS, path)
    day = df["day"]
    try:
        if day.dtype == pl.String:
            day_e = pl.col("day").str.to_date(strict=True)
        elif isinstance(day.dtype, pl.Datetime):
            day_e = pl.col("day").dt.date()
        else:
            day_e = pl.col("day").cast(pl.Date)
        return df.select(
            pl.col("account_id").cast(pl.String),
            day_e.alias("day"),
            _as_bool(df["flagged"]).fill_null(False).alias("flagged"),
            (pl.col("campaign_id") if "campaign_id" in df.columns else pl.lit(None))
            .cast(pl.String)
            .alias("campaign_id"),
        )
    except pl.exceptions.PolarsError as exc:
        raise InputError(path, f"column 'day' must hold dates ({exc})") from exc


def _read_lineage(results_dir: Path) -> dict[str, dict[str, Any]] | None:
    """Stable id -> its aliases and the id it split from, from a monitoring run's campaigns.json; None
    for a batch scan's (``--replay-daily`` labels every day with the final scan's ids, so whether ids
    were kept cannot be told from it)."""
    path = results_dir / "campaigns.json"
    if not path.is_file():
        return None
    try:
        camps = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(path, f"cannot be read as JSON ({exc})") from exc
    if not isinstance(camps, list) or not any(isinstance(c, dict) and "first_flagged" in c for c in camps):
        return None
    return {
        str(c["campaign_id"]): {"aliases": list(c.get("aliases") or []), "split_from": c.get("split_from")}
        for c in camps
        if isinstance(c, dict) and "campaign_id" in c
    }


def _first_id(
    replay: pl.DataFrame, members: pl.Series, final: str | None, lineage: dict[str, dict[str, Any]]
) -> tuple[str | None, str | None]:
    """A campaign's first id: the id most of its flagged accounts carried in the first run that put
    any of them in a campaign; and how ``final`` relates to it (:func:`_id_kept`)."""
    mine = pl.col("account_id").is_in(members.implode())
    named = replay.filter(pl.col("flagged") & pl.col("campaign_id").is_not_null() & mine)
    if not named.height:
        return None, None
    day0 = named["day"].min()
    ids = (
        named.filter(pl.col("day") == day0)
        .group_by("campaign_id")
        .len()
        .sort(["len", "campaign_id"], descending=[True, False])
    )
    first = ids["campaign_id"][0]
    group = replay.filter((pl.col("day") == day0) & (pl.col("campaign_id") == first) & pl.col("flagged"))
    return first, _id_kept(first, int(ids["len"][0]) / group.height, final, lineage)


def _id_kept(
    first: str, share: float, final: str | None, lineage: dict[str, dict[str, Any]]
) -> str | None:
    """Whether a campaign ends under the id it was first flagged under (issue 15's stable ids).

    ``kept``: the same id; ``alias``: the first id was merged into the final one; ``split``: the
    campaign was first flagged as a minority (``share`` < 1/2) inside a group another campaign led,
    and its final id is recorded as split from that group's id (the larger part keeps an id, so this
    one cannot); ``changed``: none of these, a break of id stability. None when none of its
    accounts is in a campaign of the last run (gone quiet, or aged out of the window)."""
    canon = {a: cid for cid, c in lineage.items() for a in c["aliases"]}
    if final is None:
        return None
    if first == final:
        return "kept"
    if canon.get(first) == final:
        return "alias"
    parent = (lineage.get(final) or {}).get("split_from")
    if share < 0.5 and parent is not None and canon.get(parent, parent) == canon.get(first, first):
        return "split"
    return "changed"


def write_json(report: EvaluationReport, path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(report.to_dict(), indent=2, default=_json_default) + "\n", encoding="utf-8")
    return p


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, dt.date):
        return o.isoformat()
    raise TypeError(type(o).__name__)

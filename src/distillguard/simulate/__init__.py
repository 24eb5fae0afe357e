"""The traffic simulator: realistic provider logs with known truth (``distillguard simulate``).

``simulate(out_dir, scenario=..., seed=...)`` writes, in the log format of
``shared/spec/log-format.md``::

    DIR/interactions/part-00000.parquet ...   schema.INTERACTIONS (sorted by ts)
    DIR/accounts.parquet                      schema.ACCOUNTS
    DIR/labels/accounts.parquet               schema.ACCOUNT_LABELS
    DIR/labels/interactions/part-*.parquet    schema.INTERACTION_LABELS (same parts, same row order)
    DIR/scenario.json                         the resolved scenario, seed and version

Generation streams day by day: memory holds one day of traffic (plus a few hours carried over so the
output stays sorted across time zones), never the whole run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from distillguard import __version__, schema
from distillguard.errors import UsageError
from distillguard.outdir import OutputFolder
from distillguard.simulate.expected import expected_counts
from distillguard.simulate.populations import DAY_US, HOUR_US, build
from distillguard.simulate.scenario import Scenario, builtin_names, load_scenario
from distillguard.simulate.text import TextBank
from distillguard.simulate.writer import FORMATS, PartWriter, write_table

__all__ = ["SimulationResult", "builtin_names", "expected_counts", "load_scenario", "simulate"]

#: rows per interactions part file
PART_ROWS = 250_000
#: requests of day d can land up to this long before the UTC day starts (UTC+14) or after it ends
_CARRY_US = 16 * HOUR_US


@dataclass
class SimulationResult:
    """What a simulation wrote."""

    out_dir: Path
    scenario: str
    seed: int
    days: int
    interactions: int
    accounts: int
    campaign_accounts: int
    harvest_interactions: int
    seconds: float
    interaction_paths: list[Path] = field(default_factory=list)
    accounts_path: Path | None = None
    labels_accounts_path: Path | None = None
    labels_interaction_paths: list[Path] = field(default_factory=list)
    scenario_path: Path | None = None
    campaigns: dict[str, int] = field(default_factory=dict)
    #: what publishing into the folder kept or left (see :mod:`distillguard.outdir`)
    notes: list[str] = field(default_factory=list)

    @property
    def rows_per_second(self) -> float:
        return self.interactions / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        return {
            "out_dir": str(self.out_dir),
            "scenario": self.scenario,
            "seed": self.seed,
            "days": self.days,
            "interactions": self.interactions,
            "accounts": self.accounts,
            "campaign_accounts": self.campaign_accounts,
            "harvest_interactions": self.harvest_interactions,
            "campaigns": self.campaigns,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_per_second, 1),
            "interaction_parts": len(self.interaction_paths),
        }


#: every path a simulation may write into its folder (the rule of :mod:`distillguard.outdir`)
SIMULATION_FILES = (
    "interactions/part-*.parquet", "interactions/part-*.jsonl.gz", "accounts.parquet", "accounts.jsonl.gz",
    "labels/accounts.parquet", "labels/accounts.jsonl.gz", "labels/interactions/part-*.parquet",
    "labels/interactions/part-*.jsonl.gz", "scenario.json", "interactions", "labels", "labels/interactions",
)


def simulation_folder(out_dir: Path, *inputs: Path | None) -> OutputFolder:
    """The folder a simulation writes; ``inputs`` (the prompt corpora, a scenario file) may not lie in it."""
    return OutputFolder(Path(out_dir), "simulate", SIMULATION_FILES,
                        inputs=tuple(Path(p) for p in inputs if p is not None))


def simulate(
    out_dir: str | Path,
    *,
    scenario: str | Path | Scenario = "default",
    seed: int = 0,
    scale: float = 1.0,
    days: int | None = None,
    prompts_dir: str | Path | None = None,
    fmt: str = "parquet",
    progress: Callable[[int, int, int], None] | None = None,
    part_rows: int = PART_ROWS,
    responses: bool = False,
) -> SimulationResult:
    """Simulate a scenario and write interactions, accounts and labels under ``out_dir``.

    ``progress(day, days, rows_so_far)`` is called after each simulated day. ``responses=True`` fills
    the ``response`` column with short synthetic answers (see :mod:`distillguard.simulate.responses`);
    otherwise it stays null and every other column is byte-for-byte the same.
    """
    t_start = time.perf_counter()
    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if seed < 0:
        raise UsageError(f"--seed must be >= 0, got {seed}")
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    sc = sc.scaled(scale, days)
    out = Path(out_dir)
    scenario_file = Path(scenario) if isinstance(scenario, str | Path) and Path(scenario).is_file() else None
    folder = simulation_folder(out, Path(prompts_dir) if prompts_dir is not None else None, scenario_file)
    existing = folder.check()
    bank = TextBank(prompts_dir)
    with folder.staging() as stage:
        res = _write(stage, sc, bank, seed, scale, fmt, responses, part_rows, progress)
        res.campaigns = dict(sorted((k, v) for k, v in res.campaigns.items() if k != schema.BENIGN))
        published = folder.publish(stage, existing)

    def moved(p: Path) -> Path:
        return out / p.relative_to(stage)

    res.out_dir = out
    res.notes = published.notes(out)
    res.interaction_paths = [moved(p) for p in res.interaction_paths]
    res.labels_interaction_paths = [moved(p) for p in res.labels_interaction_paths]
    for name in ("accounts_path", "labels_accounts_path", "scenario_path"):
        setattr(res, name, moved(getattr(res, name)))
    res.seconds = time.perf_counter() - t_start
    return res


def _write(
    out: Path,
    sc: Scenario,
    bank: TextBank,
    seed: int,
    scale: float,
    fmt: str,
    responses: bool,
    part_rows: int,
    progress: Callable[[int, int, int], None] | None,
) -> SimulationResult:
    """Generate the scenario into the (staging) folder ``out``."""
    pops = build(sc, bank, seed, responses)

    accounts = pl.concat([p.accounts() for p in pops], how="vertical").sort("account_id")
    acc_path = write_table(accounts, schema.ACCOUNTS.schema, out / "accounts", fmt)
    lab_acc_path = write_table(accounts, schema.ACCOUNT_LABELS, out / "labels" / "accounts", fmt)

    inter = PartWriter(out / "interactions", schema.INTERACTIONS.schema, fmt, part_rows)
    labels = PartWriter(out / "labels" / "interactions", schema.INTERACTION_LABELS, fmt, part_rows)
    t0 = pops[0].t0
    t_end = t0 + sc.days * DAY_US
    carry: pl.DataFrame | None = None
    next_id = 0
    harvest = 0
    per_campaign: dict[str, int] = {}

    def emit(df: pl.DataFrame) -> None:
        nonlocal next_id, harvest
        if df.height == 0:
            return
        df = df.with_columns(
            pl.concat_str(
                [
                    pl.lit("req_"),
                    (pl.int_range(0, df.height, dtype=pl.Int64) + next_id).cast(pl.String).str.zfill(10),
                ]
            ).alias("request_id")
        )
        next_id += df.height
        inter.write(df.select(schema.INTERACTIONS.names))
        lab = df.select(
            "request_id",
            "account_id",
            pl.col("_campaign_id").alias("campaign_id"),
            pl.col("_harvest").alias("harvest"),
        )
        labels.write(lab)
        harvest += int(lab["harvest"].sum())
        for cid, cnt in lab.group_by("campaign_id").len().iter_rows():
            per_campaign[cid] = per_campaign.get(cid, 0) + cnt

    for d in range(sc.days):
        frames = [f for p in pops if (f := p.day(d)) is not None]
        if carry is not None:
            frames.append(carry)
        if not frames:
            continue
        day = pl.concat(frames, how="vertical")
        # keep only the simulated window; sort; emit what no later day can precede
        day = day.filter(
            (pl.col("ts") >= pl.lit(t0).cast(pl.Datetime("us", "UTC")))
            & (pl.col("ts") < pl.lit(t_end).cast(pl.Datetime("us", "UTC")))
        )
        day = day.sort(["ts", "account_id", "conversation_id", "turn"], maintain_order=True)
        cutoff = t0 + (d + 1) * DAY_US - _CARRY_US
        ready = day.filter(pl.col("ts").dt.epoch("us") < cutoff)
        carry = day.filter(pl.col("ts").dt.epoch("us") >= cutoff)
        emit(ready)
        if progress is not None:
            progress(d + 1, sc.days, next_id)
    if carry is not None:
        emit(carry)
    inter.close()
    labels.close()

    resolved = sc.to_dict()
    meta = {
        "distillguard_version": __version__,
        "seed": seed,
        "scale": scale,
        "format": fmt,
        "prompts": {k: v for k, v in bank.sources.items()} if bank.real else "builtin",
        "scenario": resolved,
        "counts": {
            "interactions": next_id,
            "accounts": accounts.height,
            "harvest_interactions": harvest,
            "per_campaign_interactions": dict(sorted(per_campaign.items())),
        },
    }
    if responses:  # only recorded when on, so files written without it keep their bytes
        meta["responses"] = True
    scen_path = out / "scenario.json"
    scen_path.write_text(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    campaign_accounts = int((accounts["campaign_id"] != schema.BENIGN).sum())
    return SimulationResult(
        out_dir=out,
        scenario=sc.name,
        seed=seed,
        days=sc.days,
        interactions=next_id,
        accounts=accounts.height,
        campaign_accounts=campaign_accounts,
        harvest_interactions=harvest,
        seconds=0.0,
        interaction_paths=inter.paths,
        accounts_path=acc_path,
        labels_accounts_path=lab_acc_path,
        labels_interaction_paths=labels.paths,
        scenario_path=scen_path,
        campaigns=per_campaign,
    )

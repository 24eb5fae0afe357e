"""``scan NEW_LOGS --state STATE --out OUT``: one run of continuous monitoring.

A run reads only the input files the state has not read (by content fingerprint), computes their
per-prompt features once, and files the staged rows by UTC day into the state. Rows older than the
window, and rows whose request id the state already holds (a re-delivered log), are set aside with
their reason. Detection (aggregates, links, clusters, scores, campaigns) then runs over the window's
staged rows, exactly as a batch scan of those rows would; campaign ids are mapped onto the stable
ids of the registry, analysts' decisions are applied, and what changed since the previous run is
written to ``OUT/changes.jsonl`` (and posted to a webhook). Results go to ``OUT`` first, then the new
state generation is committed: a run killed at any point leaves the state as it was, and the rerun
does the same work again.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from distillguard import schema
from distillguard.errors import UsageError
from distillguard.monitor import changes as ch
from distillguard.monitor import registry as rg
from distillguard.monitor import review as rv
from distillguard.monitor.state import Generation, StateDir
from distillguard.outdir import digest
from distillguard.pipeline import ScanOptions, ScanResult, Staged, analyse
from distillguard.stage import Progress, stage_inputs

DEFAULT_WINDOW_DAYS = 30
#: days of run decisions kept for replay.parquet (the detection delay), whatever the window
HISTORY_DAYS = 90
_WINDOW = re.compile(r"\s*(\d+)\s*([dw])\s*")


def parse_window(text: str) -> int:
    """``30d`` or ``4w`` -> days. The window is whole UTC days, ending with the day of the newest row."""
    m = _WINDOW.fullmatch(text or "")
    if not m or int(m.group(1)) < 1:
        raise UsageError(f"--window {text!r}: expected a number of days or weeks, such as 30d or 4w")
    return int(m.group(1)) * (7 if m.group(2) == "w" else 1)


@dataclass(frozen=True)
class MonitorOptions:
    window_days: int = DEFAULT_WINDOW_DAYS
    webhook: str | None = None
    webhook_timeout: float = 10.0


@dataclass
class RunOutcome:
    result: ScanResult
    changes: list[dict[str, Any]]
    run: int
    notes: list[str] = field(default_factory=list)


def _no_rows() -> pa.Table:
    return pa.Table.from_batches([], schema=schema.REJECTED)


def _iso(t: dt.datetime | None) -> str | None:
    return None if t is None else t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _new_files(paths: list[Path], seen: dict[str, dict]) -> tuple[list[tuple[Path, str, dict]], list[str]]:
    """The input files whose content the state has not read: (path, fingerprint, stat), and notes.

    A file whose path, size and modification time match a file already read is not hashed again
    (a daily run pointed at the whole log folder reads only the new day's bytes)."""
    from distillguard.ingest.files import discover

    files, _ignored = discover(list(paths))
    by_stat = {(f.get("path"), f.get("size"), f.get("mtime_ns")): f for f in seen.values()}
    new, notes = [], []
    batch: set[str] = set()
    for f in files:
        st = f.path.stat()
        info = {"path": str(f.path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
        known = by_stat.get((info["path"], info["size"], info["mtime_ns"]))
        fp = known["fingerprint"] if known else digest(f.path)
        if fp in seen:
            s = seen[fp]
            notes.append(f"{f.path}: already read by run {s['run']} (as {s['path']}); skipped")
        elif fp in batch:
            notes.append(f"{f.path}: the same content as another input of this run; skipped")
        else:
            batch.add(fp)
            new.append((f.path, fp, info))
    return new, notes


def _locate(files: list[Path], ids: set[str]) -> dict[str, tuple[str, int]]:
    """request_id -> (file, 1-based row) for the given ids, where the file can be read by polars."""
    found: dict[str, tuple[str, int]] = {}
    for p in files:
        name = p.name.lower()
        try:
            if name.endswith(".parquet"):
                df = pl.read_parquet(p, columns=["request_id"])
            elif name.endswith((".jsonl", ".jsonl.gz", ".ndjson")):
                df = pl.read_ndjson(p, schema={"request_id": pl.String}, ignore_errors=True)
            elif name.endswith((".csv", ".csv.gz")):
                df = pl.read_csv(p, columns=["request_id"], schema_overrides={"request_id": pl.String})
            else:
                continue
        except Exception:
            continue
        df = df.with_row_index("row", offset=1).filter(pl.col("request_id").is_in(list(ids)))
        for rid, row in df.select("request_id", "row").iter_rows():
            found.setdefault(rid, (str(p), int(row)))
    return found


def _file_rows(
    staged: Staged, gen: Generation, run: int, start: dt.date, new_files: list[Path]
) -> tuple[int, pa.Table]:
    """File the staged rows of this run's new files into ``gen`` (which holds the window's earlier rows)
    by day; returns (rows filed, rows set aside). Request ids are compared with the earlier rows of the
    same days only (a day's file of logs touches one or two days)."""
    parts = sorted(staged.stage_dir.glob("*.parquet"))
    days: set[str] = set()
    for part in parts:
        d = pl.read_parquet(part, columns=["ts"]).select(pl.col("ts").dt.date().unique().cast(pl.String))
        days.update(d.to_series().to_list())
    olds = [f for f in gen.row_files() if f.name.split("--")[0] in days]
    known = (
        pl.read_parquet(olds, columns=["request_id"])["request_id"]
        if olds
        else pl.Series([], dtype=pl.String)
    )
    set_aside: list[pl.DataFrame] = []
    filed = 0
    for k, part in enumerate(parts):
        df = pl.read_parquet(part).with_columns(_day=pl.col("ts").dt.date())
        old = df.filter(pl.col("_day") < start).with_columns(
            _reason=pl.lit(f"older than the state's window (it starts {start.isoformat()})")
        )
        df = df.filter(pl.col("_day") >= start)
        seen = pl.col("request_id").is_in(known.implode())
        dup = df.filter(seen).with_columns(
            _reason=pl.lit("request_id already read by an earlier run (a re-delivered row)")
        )
        df = df.filter(~seen)
        set_aside += [x for x in (old, dup) if x.height]
        for (day,), part_df in df.partition_by("_day", as_dict=True, maintain_order=True).items():
            out = part_df.drop("_day")
            pq.write_table(
                out.to_arrow(),
                gen.rows / f"{day.isoformat()}--r{run:06d}-{k:05d}.parquet",
                compression="zstd",
                compression_level=1,
            )
            filed += out.height
    if not set_aside:
        return filed, _no_rows()
    aside = pl.concat(set_aside, how="vertical_relaxed")
    where = _locate(new_files, set(aside["request_id"].to_list()))
    raw_cols = [
        c for c in ("request_id", "ts", "account_id", "model", "ip", "prompt_head") if c in aside.columns
    ]
    raws = [
        json.dumps(
            {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in r.items()},
            ensure_ascii=False,
        )
        for r in aside.select(raw_cols).to_dicts()
    ]
    files = [where.get(r, (", ".join(map(str, new_files)), None)) for r in aside["request_id"].to_list()]
    table = pa.table(
        {
            "table": ["interactions"] * aside.height,
            "file": [f for f, _ in files],
            "row": pa.array([r for _, r in files], pa.int64()),
            "reason": aside["_reason"].to_list(),
            "raw": raws,
        },
        schema=schema.REJECTED,
    )
    return filed, table


def _merge_accounts(cur: Generation | None, gen: Generation, paths: list[Path] | None):
    """The state's accounts table updated with the given files (a newer row wins); AccountsRead or None."""
    from distillguard.ingest import AccountsRead, IngestStats, read_accounts

    old = None
    if cur is not None and (cur.path / "accounts.parquet").exists():
        old = pq.read_table(cur.path / "accounts.parquet")
    read = read_accounts([str(p) for p in paths]) if paths else None
    if read is None and old is None:
        return None, None
    if read is None:
        table = old
    elif old is None:
        table = read.table
    else:
        new_ids = pa.compute.is_in(old.column("account_id"), value_set=read.table.column("account_id"))
        table = pa.concat_tables([old.filter(pa.compute.invert(new_ids)), read.table.cast(old.schema)])
    assert table is not None
    table = table.sort_by("account_id")
    pq.write_table(table, gen.path / "accounts.parquet")
    cols = set(gen.read_json("meta.json", {}).get("account_columns", []))
    stats = IngestStats()
    if read is not None:
        cols |= read.stats.columns_present
        stats = read.stats
    stats = replace(stats, columns_present=cols)
    return AccountsRead(table, read.rejected if read is not None else _no_rows(), stats), cols


def run_incremental(
    paths: list[Path],
    accounts: list[Path] | None,
    state_path: Path,
    tmp: Path,
    options: ScanOptions,
    mon: MonitorOptions,
    st: StateDir,
    progress: Progress | None = None,
    publish: Any = None,
    report: bool = True,
) -> RunOutcome:
    """One monitoring run under ``st`` (locked); results staged in ``tmp``; ``publish()`` puts them in
    place before the state is committed."""
    from distillguard.ingest import IngestStats
    from distillguard.output import write_report_if_available, write_results

    t0 = time.perf_counter()
    say = progress or (lambda stage, frac: None)
    cur = st.current()
    meta: dict[str, Any] = cur.read_json("meta.json", {}) if cur else {}
    if meta and meta.get("seed") != options.seed:
        raise UsageError(
            f"{state_path}: this state was built with --seed {meta.get('seed')}; "
            f"this run asks for {options.seed}. Use the same seed (or a new state folder)."
        )
    index = options.dataset_index
    if meta and (meta.get("dataset_index") is not None) != (index is not None):
        raise UsageError(
            f"{state_path}: this state was built {'with' if meta.get('dataset_index') else 'without'} "
            "--dataset-index, and the per-prompt features it holds depend on that; give the same "
            "option (or use a new state folder)."
        )
    files_seen: dict[str, dict] = {
        f["fingerprint"]: f for f in (cur.read_json("files.json", []) if cur else [])
    }
    new, notes = _new_files(paths, files_seen)
    run = int(meta.get("runs", 0)) + 1
    work = tmp / "_work"
    staged: Staged | None = None
    new_max: dt.datetime | None = None
    if new:
        staged = stage_inputs(
            [p for p, _, _ in new],
            None,
            work / "new",
            seed=options.seed,
            batch_rows=options.batch_rows,
            workers=options.workers,
            progress=progress,
            dataset_index=index,
        )
        new_max = (
            pl.scan_parquet(str(staged.stage_dir / "*.parquet")).select(pl.col("ts").max()).collect().item()
        )
    prev_now = dt.datetime.fromisoformat(meta["now"]) if meta.get("now") else None
    now = max([t for t in (prev_now, new_max) if t is not None], default=None)
    if now is None:
        raise UsageError(
            f"{state_path}: the state holds no rows yet and this run read none; give the first day's logs"
        )
    start = now.date() - dt.timedelta(days=mon.window_days - 1)
    kept_from = {
        "rows": start.isoformat(),
        "history": (now.date() - dt.timedelta(days=HISTORY_DAYS)).isoformat(),
    }

    def keep(folder: str, name: str) -> bool:  # (file names start with their UTC day)
        return name.split("--")[0] >= kept_from[folder]

    aged = sum(1 for f in (cur.row_files() if cur else []) if not keep("rows", f.name))
    with st.next_generation(keep) as gen:
        filed = 0
        aside = _no_rows()
        acc_read, acc_cols = _merge_accounts(cur, gen, accounts)
        if staged is not None:
            say("filing rows into the state", 0.0)
            filed, aside = _file_rows(staged, gen, run, start, [p for p, _, _ in new])
            shutil.rmtree(work / "new", ignore_errors=True)
        if not gen.row_files():
            raise UsageError(f"{state_path}: no rows inside the window ({start} .. {now.date()}) to scan")
        stats = staged.stats if staged is not None else IngestStats()
        columns = set(meta.get("columns", [])) | set(stats.columns_present)
        stats = replace(stats, columns_present=columns)
        rejected = staged.rejected if staged is not None else aside.slice(0, 0)
        if acc_read is not None:
            rejected = pa.concat_tables([rejected, acc_read.rejected.cast(rejected.schema)])
        rejected = pa.concat_tables([rejected, aside.cast(rejected.schema)])
        window = Staged(
            gen.rows,
            [str(p) for p, _, _ in new],
            [str(p) for p in (accounts or [])],
            stats,
            acc_read,
            rejected,
            filed,
            staged.seconds if staged is not None else 0.0,
        )
        result = analyse(window, work, options, progress)
        shutil.rmtree(work, ignore_errors=True)

        # --- stable ids, decisions, changes ------------------------------------------------------
        say("stable campaign ids", 0.0)
        registry = cur.read_json("registry.json", rg.empty_registry()) if cur else rg.empty_registry()
        acc = pl.from_arrow(result.accounts)
        assert isinstance(acc, pl.DataFrame)
        # a campaign's members: every account the scan attributed to it (flagged or not)
        members = {
            cid: set(ids)
            for cid, ids in acc.filter(pl.col("campaign_id").is_not_null())
            .group_by("campaign_id")
            .agg("account_id")
            .iter_rows()
        }
        evidence = dict(acc.select("account_id", pl.col("reasons").fill_null("")).iter_rows())
        asg = rg.assign(registry, members, run, now.date().isoformat(), evidence)
        ids = asg.ids
        _rename(result, acc, ids, registry)
        acc = pl.from_arrow(result.accounts)
        assert isinstance(acc, pl.DataFrame)
        decisions = cur.read_json("decisions.json", []) if cur else []
        acc, review_events = rv.apply(acc, result.campaigns, rv.latest(decisions, registry))
        result.accounts = acc.to_arrow().cast(result.accounts.schema)
        flagged = set(acc.filter(pl.col("flagged"))["account_id"].to_list())
        sizes = {c["campaign_id"]: int(c["accounts"]) for c in result.campaigns}
        last = cur.read_json("last.json", {}) if cur else {}
        cutoff = dt.datetime.fromisoformat(last["now"]) if last.get("now") else None
        active: dict[str, bool] = {}
        for cid in last.get("campaigns", {}):
            sid = rg.resolve(registry, cid)
            if sid is None or sid in sizes:  # (still flagged, maybe under the id it merged into)
                continue
            mem = list(registry["campaigns"][sid]["members"])
            active[cid] = _active_since(acc, mem, cutoff)
            registry["campaigns"][sid]["status"] = "unflagged" if active[cid] else "quiet"
        events = asg.events + review_events + ch.diff_runs(last, flagged, active)
        state_id = meta.get("state_id") or uuid.uuid4().hex
        header = {
            "type": "run",
            "run": run,
            "state_id": state_id,
            "batch_id": f"{state_id}-{run}",
            "at": _iso(dt.datetime.now(dt.UTC)),
            "data_through": _iso(now),
            "window": {"from": start.isoformat(), "to": now.date().isoformat()},
            "new_files": len(new),
            "rows_added": filed,
            "rows_set_aside": aside.num_rows,
            "flagged_accounts": len(flagged),
            "campaigns": len(sizes),
            "events": len(events),
        }
        change_lines = [header, *[{"run": run, **e} for e in events]]

        # --- history (honest delay) and the results ------------------------------------------------
        now_rows = acc.filter(pl.col("interactions") > 0).select(
            pl.lit(run, pl.Int32).alias("run"),
            pl.lit(now.date(), pl.Date).alias("day"),
            "account_id",
            "flagged",
            pl.when(pl.col("flagged")).then(pl.col("campaign_id")).otherwise(None).alias("campaign_id"),
        )
        now_rows.write_parquet(gen.path / "history" / f"{now.date().isoformat()}--r{run:06d}.parquet")
        hist = pl.read_parquet(sorted((gen.path / "history").glob("*.parquet")))
        result.replay = (
            hist.sort("run")
            .group_by("account_id", "day")
            .last()
            .select("account_id", "day", "flagged", "campaign_id")
            .sort("day", "account_id")
            .to_arrow()
        )
        seconds = round(time.perf_counter() - t0, 2)
        result.summary["monitor"] = {
            "run": run,
            "state": str(state_path),
            "window_days": mon.window_days,
            "window": header["window"],
            "data_through": header["data_through"],
            "new_files": len(new),
            "skipped_files": notes,
            "rows_added": filed,
            "rows_set_aside": aside.num_rows,
            "row_files_aged_out": aged,
            "events": dict(sorted(Counter(e["type"] for e in events).items())),
        }
        result.summary["rejected_rows"] = int(rejected.num_rows)
        result.summary["flagged_accounts"] = len(flagged)
        result.summary["campaigns"] = sum(
            1
            for c in result.campaigns
            if (c.get("review") or {}).get("decision") != "dismiss"
            or (c.get("review") or {}).get("material_growth")
        )
        result.summary["seconds"] = seconds
        result.rejected = rejected
        outbox = (cur.read_json("outbox.json", []) if cur else []) + (
            [{"batch_id": header["batch_id"], "run": run, "changes": change_lines}] if mon.webhook else []
        )
        say("writing results", 0.0)
        write_results(result, tmp)
        with open(tmp / "changes.jsonl", "w", encoding="utf-8") as f:
            for line in change_lines:
                f.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
        problem = write_report_if_available(tmp) if report else None
        if problem:
            notes.append(problem)
        if publish is not None:
            publish()
        pending, delivery = ch.deliver(mon.webhook, outbox, mon.webhook_timeout)
        if delivery.error:
            notes.append(
                f"webhook: {delivery.error}; {delivery.pending} batch(es) kept in the state and sent "
                "again by the next run (the changes are in changes.jsonl)"
            )
        # --- the new state -------------------------------------------------------------------------
        gen.write_json("outbox.json", pending)
        gen.write_json("registry.json", registry)
        gen.write_json("decisions.json", decisions)
        gen.write_json(
            "last.json", {"run": run, "now": now.isoformat(), "flagged": sorted(flagged), "campaigns": sizes}
        )
        gen.write_json(
            "files.json",
            list(files_seen.values()) + [{"fingerprint": fp, **info, "run": run} for _, fp, info in new],
        )
        meta.update(
            {
                "state_id": state_id,
                "runs": run,
                "seed": options.seed,
                "dataset_index": index,
                "window_days": mon.window_days,
                "now": now.isoformat(),
                "columns": sorted(columns),
                "account_columns": sorted(acc_cols or []),
            }
        )
        meta.setdefault("created", _iso(dt.datetime.now(dt.UTC)))
        meta.setdefault("log", []).append(
            {
                "run": run,
                "at": header["at"],
                "data_through": header["data_through"],
                "new_files": len(new),
                "rows_added": filed,
                "rows_set_aside": aside.num_rows,
                "flagged": len(flagged),
                "campaigns": len(sizes),
                "seconds": seconds,
            }
        )
        gen.write_json("meta.json", meta)
    return RunOutcome(result, change_lines, run, notes)


def _active_since(acc: pl.DataFrame, members: list[str], cutoff: dt.datetime | None) -> bool:
    """Whether any of ``members`` sent a request after ``cutoff`` (their last_seen in this run)."""
    if cutoff is None or not members:
        return False
    last = acc.filter(pl.col("account_id").is_in(members))["last_seen"]
    if last.dtype.time_zone is None:  # type: ignore[attr-defined]
        last = last.dt.replace_time_zone("UTC")
    hi = last.max()
    c = cutoff if cutoff.tzinfo else cutoff.replace(tzinfo=dt.UTC)
    return hi is not None and hi > c  # type: ignore[operator]


def _rename(result: ScanResult, acc: pl.DataFrame, ids: dict[str, str], registry: dict[str, Any]) -> None:
    """Put the stable ids everywhere the run's own ids appear."""
    changed = {k: v for k, v in ids.items() if k != v}
    if changed:
        acc = acc.with_columns(pl.col("campaign_id").replace(changed))
        reasons = pl.col("reasons")
        for k, v in changed.items():
            reasons = reasons.str.replace_all(k, v, literal=True)
        acc = acc.with_columns(reasons)
        result.accounts = acc.to_arrow().cast(result.accounts.schema)
        e = pl.from_arrow(result.edges)
        assert isinstance(e, pl.DataFrame)
        if "campaign_id" in e.columns:
            result.edges = (
                e.with_columns(pl.col("campaign_id").replace(changed)).to_arrow().cast(result.edges.schema)
            )
    for c in result.campaigns:
        sid = ids.get(c["campaign_id"], c["campaign_id"])
        c["campaign_id"] = sid
        rc = registry["campaigns"].get(sid, {})
        c["first_flagged"] = rc.get("first_flagged_day")
        c["aliases"] = rc.get("aliases", [])
        if rc.get("split_from"):
            c["split_from"] = rc["split_from"]
        for k, v in changed.items():
            c["summary"] = str(c.get("summary", "")).replace(k, v)
    result.campaigns.sort(key=lambda c: (-c["confidence"], c["campaign_id"]))


__all__ = ["MonitorOptions", "RunOutcome", "parse_window", "run_incremental"]

"""The ``scan`` pipeline: stages wired together.

ingest batches -> prompt features per batch -> a narrow staged Parquet (temp dir) -> ibis/DuckDB:
per-account aggregates and per-key counts -> key rarity x consistency -> bounded candidate edges ->
igraph Leiden (CPM) -> cluster features -> account score (logistic, explainable) -> operating point ->
campaigns (deterministic ids), indicators, reasons, look-alike groups.

Each stage lives in its own module (``accounts``, ``linking``, ``campaigns``, ``scoring``); this
module only orchestrates and records what it did.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir
import polars as pl
import pyarrow as pa

from distillguard import __version__, schema
from distillguard.accounts import account_features, account_signal_values
from distillguard.accounts.counts import AccountCounts
from distillguard.accounts.coverage import (
    account_coverage,
    campaign_coverage,
    coverage_text,
    item_datasets,
    part_coverage,
)
from distillguard.accounts.dormant import EXTRA, dormant_accounts
from distillguard.accounts.sequential import harvest_cusum
from distillguard.accounts.signals import ACCOUNT_SIGNALS
from distillguard.campaigns import ClusterParams, cluster_features, leiden_clusters
from distillguard.campaigns.assemble import assemble_campaigns
from distillguard.campaigns.attribute import AttributionParams
from distillguard.engine import materialise
from distillguard.errors import ResourceError, UsageError
from distillguard.linking import LINK_SIGNALS, LinkParams, all_keys, candidate_edges, weigh_keys
from distillguard.linking.behaviour import (
    BehaviourParams,
    account_behaviour_text,
    add_behaviour,
    behaviour_edges,
    profiles,
)
from distillguard.linking.edges import content_reach, vouched_peer_share
from distillguard.linking.evidence import key_evidence_text, popular_keys
from distillguard.linking.keys import KEY_SCHEMA
from distillguard.linking.sync import SyncParams, account_sync_text, campaign_sync, reinforce, sync_evidence
from distillguard.scoring import (
    OperatingPoint,
    ScoreModel,
    choose_operating_point,
    load_model,
    score_accounts,
)
from distillguard.scoring.history import history_text, observed_days
from distillguard.scoring.operating_point import flag, too_few_text
from distillguard.scoring.peers import gate_column, gate_text, passes
from distillguard.scoring.reasons import account_reasons, joined_evidence
from distillguard.signals.base import unavailable_signals
from distillguard.stage import ND_BAND_COLUMNS, FeatureFn, Progress, Staged, ip_prefix, stage_inputs

__all__ = ["ScanOptions", "ScanResult", "Staged", "analyse", "ip_prefix", "scan", "stage_inputs"]

if TYPE_CHECKING:
    pass


@dataclass(frozen=True)
class ScanOptions:
    """What the user asked for. Parameters state intent; the stages derive their mechanisms."""

    threshold: float | None = None
    target_precision: float | None = None
    seed: int = 0
    resolution: float = 0.01
    link: LinkParams = field(default_factory=LinkParams)
    attribution: AttributionParams = field(default_factory=AttributionParams)
    #: synchronized activity: reinforces candidate links (``kind_weight=0`` turns it off)
    sync: SyncParams = field(default_factory=SyncParams)
    #: behavioural peers: links between near-identical, rare request profiles (``kind_weight=0``: off)
    behaviour: BehaviourParams = field(default_factory=BehaviourParams)
    replay_daily: bool = False
    #: the model's peer gate (a flag needs closest accounts by evidence that score high too; False: off)
    peer_gate: bool = True
    batch_rows: int = 65536
    model_path: str | None = None
    #: DuckDB's memory for the set-wise stages (it spills to disk beyond it); None = DuckDB's own default
    #: (80% of RAM). 2GB keeps peak RSS ~2.5 GB from 1M to 2.3M interactions at ~15% more time.
    memory_limit: str | None = "2GB"
    threads: int | None = None
    #: processes for the per-prompt features (1 = in this process). More than 1 starts worker processes
    #: with the "spawn" method, so a script that calls :func:`scan` with it must guard its entry
    #: point with ``if __name__ == "__main__":``; the CLI does. Inputs of one batch run in-process.
    workers: int = 1
    #: a public-dataset index (``distillguard index build``) prompts are matched against (None: none)
    dataset_index: str | None = None
    #: "duckdb" (embedded, the default) or "spark": the same stages on a Spark session
    engine: str = "duckdb"
    #: Spark's master URL (None: ``local[*]``, or what ``spark-submit`` set) and extra configuration
    spark_master: str | None = None
    spark_conf: tuple[tuple[str, str], ...] = ()


@dataclass
class ScanResult:
    accounts: pa.Table  # schema.ACCOUNT_RESULTS columns first, then extras
    campaigns: list[dict]
    edges: pa.Table
    lookalikes: list[dict]
    summary: dict
    rejected: pa.Table
    replay: pa.Table | None = None
    #: per-account model inputs (signals + cluster features) and scores, for training and debugging
    design: pl.DataFrame | None = None


def _connect(work: Path, options: ScanOptions) -> ibis.BaseBackend:
    if options.engine == "spark":
        from distillguard.spark import connect

        return connect(options.spark_master, options.spark_conf, work)
    con = ibis.duckdb.connect()
    tmp = work / "duckdb-spill"
    tmp.mkdir(parents=True, exist_ok=True)
    con.raw_sql(f"SET temp_directory='{tmp.as_posix()}'")
    con.raw_sql("SET preserve_insertion_order=false")
    # DuckDB draws its own progress bar on stdout for queries over two seconds: it broke `scan --json`
    # output on large inputs and scribbled over the scan's own progress display
    con.raw_sql("SET enable_progress_bar=false")
    if options.memory_limit:
        if not re.fullmatch(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", options.memory_limit.strip()):
            raise UsageError(f"--memory-limit {options.memory_limit!r}: expected a size such as 2GB or 512MB")
        con.raw_sql(f"SET memory_limit='{options.memory_limit.strip()}'")
    if options.threads:
        con.raw_sql(f"SET threads={int(options.threads)}")
    return con


#: DuckDB threads for the near-duplicate key aggregation when the user did not set ``threads``
AGGREGATION_THREADS = 4


@contextlib.contextmanager
def _aggregation_threads(con: ibis.BaseBackend, options: ScanOptions) -> Iterator[None]:
    """At least :data:`AGGREGATION_THREADS` DuckDB threads for a block, then DuckDB's default again.

    The near-duplicate keys group ~35M (account, band) rows into ~25M groups. DuckDB sizes the
    partitioning of a large aggregate by its thread count: with the 2 threads of a 2-core machine
    that grouping took 3.0-4.4 s on the benchmark, with 3 to 8 threads 1.8-2.3 s (same result, less
    CPU, lower peak memory); other queries ran no faster with more threads than cores. A thread
    count the user chose (``options.threads``) is left alone."""
    if options.threads or (os.cpu_count() or 1) >= AGGREGATION_THREADS or con.name != "duckdb":
        yield
        return
    con.raw_sql(f"SET threads={AGGREGATION_THREADS}")
    try:
        yield
    finally:
        con.raw_sql("RESET threads")


#: modules the analysis phase imports on first use (DuckDB, ibis's DuckDB backend and SQL dialect,
#: pandas, which pyarrow and ibis load on demand, and scipy for attribution): measured 0.9 s on the
#: 2-core machine
_ANALYSIS_MODULES = ("duckdb", "ibis.backends.duckdb", "sqlglot.dialects.duckdb", "pandas", "scipy.sparse")


def _preload_analysis() -> None:
    """Import :data:`_ANALYSIS_MODULES` (in a thread, while the feature phase runs)."""
    for name in _ANALYSIS_MODULES:
        with contextlib.suppress(ImportError):  # (an import that fails fails again where it is used)
            importlib.import_module(name)


def scan(
    paths: Sequence[str | Path],
    accounts_paths: Sequence[str | Path] | None,
    work_dir: Path,
    options: ScanOptions = ScanOptions(),
    progress: Progress | None = None,
    feature_fn: FeatureFn | None = None,
) -> ScanResult:
    """Run the whole scan; ``work_dir`` (created, not removed) holds the staged data and DuckDB spill."""
    model = load_model(options.model_path, dataset_index=options.dataset_index is not None)
    choose_operating_point(model, options.threshold, options.target_precision, options.peer_gate)
    if options.dataset_index is not None:  # (a bad index stops the scan before any work)
        from distillguard.dataset_index import load_cached

        load_cached(options.dataset_index)
    # the analysis phase's own imports load while the feature workers run, not after them (and not
    # before the workers are started: the import holds the interpreter's lock)
    if options.engine == "spark":
        from distillguard.spark import stage_inputs_spark

        spark_staged = stage_inputs_spark(
            paths, accounts_paths, work_dir, _connect(work_dir, options), seed=options.seed,
            progress=progress, dataset_index=options.dataset_index,
        )
        return analyse(spark_staged, work_dir, options, progress)
    preload = threading.Thread(target=_preload_analysis, name="distillguard-preload", daemon=True)
    staged = stage_inputs(
        paths,
        accounts_paths,
        work_dir,
        seed=options.seed,
        batch_rows=options.batch_rows,
        workers=options.workers,
        progress=progress,
        feature_fn=feature_fn,
        on_started=preload.start,
        dataset_index=options.dataset_index,
    )
    if preload.ident is not None:  # (not started when staging stopped early)
        preload.join()
    return analyse(staged, work_dir, options, progress)


@dataclass
class _Detection:
    feats: pl.DataFrame
    keys: ir.Table
    edges: pa.Table
    edges_pl: pl.DataFrame
    clusters: pl.DataFrame
    cfeats: pl.DataFrame
    frame: pl.DataFrame
    scored: pl.DataFrame


def _detect(
    con: ibis.BaseBackend,
    staged: ir.Table,
    acc_t: ir.Table | None,
    unavailable: dict[str, list[str]],
    options: ScanOptions,
    model: ScoreModel,
    op: OperatingPoint,
    say: Progress,
    tag: str = "",
) -> _Detection:
    """Account aggregates and signals, links, clusters, cluster features and scores over ``staged``."""
    say("account aggregates", 0.0)
    # per-account totals and fingerprint counts, read by the account features and by the link keys
    counts = AccountCounts.materialised(con, staged, tag)
    feats = account_features(staged, acc_t, counts=counts)
    sequential, _ = harvest_cusum(staged)
    feats = feats.join(sequential, on="account_id", how="left")
    if options.dataset_index is not None:
        from distillguard.dataset_index import load_cached

        datasets = item_datasets(load_cached(options.dataset_index))
        feats = feats.join(part_coverage(staged, datasets), on="account_id", how="left")
    else:
        feats = feats.with_columns(
            benchmark_coverage=pl.lit(None, pl.Float64), benchmark_part=pl.lit(None, pl.String),
            evaluation_share=pl.lit(None, pl.Float64),
        )

    say("linking accounts", 0.0)
    skip = set(unavailable)
    # kinds with many keys per request (near-duplicate bands, 32 per request: the costliest grouping
    # of the scan) are materialised on their own, with more DuckDB threads
    heavy = [s for s in LINK_SIGNALS if s.per_index and s.id not in skip]
    parts = []
    with _aggregation_threads(con, options):
        for s in heavy:
            # part by part (near-duplicate bands: one band at a time), so that memory holds one
            # part's grouping, not all of them
            kp = s.key_parts(staged, acc_t, counts)
            for i, k in enumerate(kp or ()):
                parts.append(materialise(con, f"keys_{s.kind}{tag}_{i}", k.cast(KEY_SCHEMA)))
    light = all_keys(staged, acc_t, skip=skip | {s.id for s in heavy}, counts=counts)
    if light is not None:
        parts.append(light)
    keys = weigh_keys(ibis.union(*parts) if len(parts) > 1 else parts[0], feats.height)
    keys = materialise(con, f"weighted_keys{tag}", keys)
    feats = feats.join(content_reach(keys), on="account_id", how="left").with_columns(
        pl.col("content_reach").fill_null(0.0), pl.col("content_reach_accounts").fill_null(0)
    )
    say("linking accounts: candidate edges", 0.0)
    edges = candidate_edges(keys, options.link)
    if options.sync.kind_weight > 0 and "link.sync" not in skip:
        say("linking accounts: synchronized activity", 0.0)
        # co-activity beyond the pair's daily rhythms reinforces links the keys proposed
        edges = reinforce(edges, sync_evidence(con, staged, edges, options.sync, tag), options.sync)
    if options.behaviour.kind_weight > 0 and "link.behaviour" not in skip:
        say("linking accounts: behavioural peers", 0.0)
        # accounts that share no key but run one program: near-identical, rare request profiles
        prof = profiles(staged, feats, options.behaviour.min_requests)
        edges = add_behaviour(edges, behaviour_edges(prof, options.behaviour), options.behaviour)
    edges_pl = pl.from_arrow(edges)
    assert isinstance(edges_pl, pl.DataFrame)
    feats = feats.join(vouched_peer_share(edges_pl, feats), on="account_id", how="left")
    sig = account_signal_values(feats)
    for sid in unavailable:
        if sid in sig.columns:
            sig = sig.with_columns(pl.lit(None, pl.Float64).alias(sid))

    say("clustering", 0.0)
    clusters = leiden_clusters(edges, ClusterParams(resolution=options.resolution, seed=options.seed))
    acc = feats.select("account_id", "interactions").join(sig, on="account_id")
    cfeats = cluster_features(acc, clusters, edges_pl)

    say("scoring", 0.0)
    frame = acc.join(clusters, on="account_id", how="left").join(
        cfeats.drop("interactions"), on="cluster", how="left"
    )
    end = feats["last_seen"].max()
    seen = feats.select("account_id", observed_days=observed_days(pl.col("first_seen"), end))  # type: ignore[arg-type]
    frame = frame.join(seen, on="account_id", how="left")
    # (same rows, same order)
    scored = score_accounts(frame, model).with_columns(frame["observed_days"], frame["interactions"])
    scored = scored.with_columns(threshold=op.account_threshold(pl.col("observed_days")))
    reached = flag(pl.col("score"), pl.col("threshold"), pl.col("interactions"))
    scored = scored.with_columns(peer_score=gate_column(scored, op.gate, reached))
    scored = scored.with_columns(flagged=reached & passes(op.gate))
    return _Detection(feats, keys, edges, edges_pl, clusters, cfeats, frame, scored)


def replay_daily(
    con: ibis.BaseBackend,
    staged: ir.Table,
    acc_t: ir.Table | None,
    unavailable: dict[str, list[str]],
    options: ScanOptions,
    model: ScoreModel,
    op: OperatingPoint,
    account_campaign: pl.DataFrame,
    say: Progress,
) -> pa.Table:
    """Decisions as they would have been taken at the end of each day, on all traffic up to then.

    For every day of the span, the detection stages (aggregates, links, clusters, scores) rerun on
    the staged rows with ``ts`` before the next midnight (UTC); the per-prompt features are reused.
    ``campaign_id`` is the account's campaign in the full scan when flagged that day (attribution is
    not rerun per day). One row per (account seen so far, day).
    """
    span = staged.aggregate(lo=staged.ts.min(), hi=staged.ts.max()).to_pyarrow().to_pylist()[0]
    day0 = span["lo"].date()
    n_days = (span["hi"].date() - day0).days + 1
    parts = []
    for d in range(n_days):  # one detection pass per day (days, not rows)
        day = day0 + dt.timedelta(days=d)
        cutoff = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
        say(f"replay {day.isoformat()}", 0.0)
        window = staged.filter(staged.ts < ibis.literal(cutoff))
        def say_day(name: str, frac: float, day: dt.date = day) -> None:  # ("replay DAY: stage")
            say(f"replay {day.isoformat()}: {name}", frac)

        det = _detect(con, window, acc_t, unavailable, options, model, op, say_day, tag=f"_d{d}")
        parts.append(det.scored.select("account_id", "flagged").with_columns(day=pl.lit(day, pl.Date)))
    out = pl.concat(parts).join(account_campaign, on="account_id", how="left")
    out = out.with_columns(campaign_id=pl.when(pl.col("flagged")).then(pl.col("campaign_id")).otherwise(None))
    return out.select("account_id", "day", "flagged", "campaign_id").sort(["day", "account_id"]).to_arrow()


def analyse(
    st: Staged, work_dir: Path, options: ScanOptions = ScanOptions(), progress: Progress | None = None
) -> ScanResult:
    """Everything after the per-prompt features: aggregates, links, clusters, scores, campaigns.

    DuckDB spills most of its work to disk beyond ``--memory-limit``, but not all of it: a query that
    cannot stops the scan with a message naming the limit and the stage, not a traceback."""
    import duckdb

    stage = ["account aggregates"]
    marks: list[tuple[str, float]] = []

    def say(name: str, frac: float) -> None:
        stage[0] = name
        if not marks or marks[-1][0] != name:
            marks.append((name, time.perf_counter()))
        if progress is not None:
            progress(name, frac)

    try:
        res = _analyse(st, work_dir, options, say)
        res.summary["timings"]["stages"] = stage_seconds(marks, time.perf_counter())
        return res
    except duckdb.OutOfMemoryException as exc:
        raise ResourceError(
            f"the scan ran out of memory at stage '{stage[0]}' with --memory-limit "
            f"{options.memory_limit or 'unset'} for DuckDB ({st.stats.rows_ok:,} rows): rerun with a larger "
            f"--memory-limit (this machine has {_machine_memory()}); DuckDB said: {str(exc).splitlines()[0]}"
        ) from None


def stage_seconds(marks: list[tuple[str, float]], end: float) -> dict[str, float]:
    """Seconds per stage from ``(stage, start)`` marks in order, the last one ending at ``end``; a
    stage entered more than once is summed, and the daily replay's days are one stage."""
    out: dict[str, float] = {}
    for (name, t), t_next in zip(marks, [m[1] for m in marks[1:]] + [end], strict=False):
        key = "daily replay" if name.startswith("replay ") else name
        out[key] = out.get(key, 0.0) + t_next - t
    return {k: round(v, 2) for k, v in out.items()}


def _machine_memory() -> str:
    try:
        return f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB"
    except (ValueError, OSError, AttributeError):
        return "an unknown amount of memory"


def _band_columns(staged: ir.Table) -> ir.Table:
    """Staged rows with the near-duplicate bands as a list (how a monitoring state's row files were
    written before the bands had a column each; they stay in the state for its window), element by
    element into :data:`~distillguard.stage.ND_BAND_COLUMNS`."""
    if "nd_bands" not in staged.columns:
        return staged
    bands = staged.nd_bands
    cols = {
        c: staged[c].fill_null(bands[i]) if c in staged.columns else bands[i].cast("int64")
        for i, c in enumerate(ND_BAND_COLUMNS)
    }
    return staged.mutate(**cols).drop("nd_bands")


def _analyse(st: Staged, work_dir: Path, options: ScanOptions, say: Progress) -> ScanResult:
    t0 = time.perf_counter()
    model = load_model(options.model_path, dataset_index=options.dataset_index is not None)
    op = choose_operating_point(model, options.threshold, options.target_precision, options.peer_gate)
    stats, accounts_read, rejected = st.stats, st.accounts, st.rejected
    paths, accounts_paths = st.paths, st.accounts_paths

    # --- set-wise work on DuckDB through ibis --------------------------------------------------------
    say("account aggregates", 0.0)
    con = _connect(work_dir, options)
    if options.engine == "spark":
        staged = con.read_parquet(str(st.stage_dir), table_name="staged")
    else:
        # (by name: a monitoring state's older row files may lack columns added since)
        staged = con.read_parquet(str(st.stage_dir / "*.parquet"), table_name="staged", union_by_name=True)
        staged = _band_columns(staged)
    acc_t: ir.Table | None = None
    account_cols: set[str] | None = None
    if accounts_read is not None:
        account_cols = set(accounts_read.stats.columns_present)
        acc_t = materialise(con, "accounts", accounts_read.table)
    given = ["--dataset-index"] if options.dataset_index is not None else []
    unavailable = unavailable_signals(set(stats.columns_present), account_cols, given)
    det = _detect(con, staged, acc_t, unavailable, options, model, op, say)
    feats, keys, edges, edges_pl = det.feats, det.keys, det.edges, det.edges_pl
    clusters, cfeats, frame, scored = det.clusters, det.cfeats, det.frame, det.scored
    n_accounts = feats.height

    say("campaigns", 0.0)
    assembled = assemble_campaigns(
        con=con,
        staged=staged,
        accounts=acc_t,
        feats=feats,
        scored=scored,
        clusters=clusters,
        edges=edges_pl,
        keys=keys,
        cluster_feats=cfeats,
        threshold=op.threshold,
        params=replace(options.attribution, seed=options.seed),
    )
    say("campaign evidence and reasons", 0.0)
    key_text = key_evidence_text(keys)
    evidence = [account_sync_text(edges_pl), account_behaviour_text(edges_pl)]
    by_campaign: dict[str, list[dict]] = {}
    if options.dataset_index is not None:  # which public datasets, how many items, how shared
        from distillguard.dataset_index import load_cached

        datasets = item_datasets(load_cached(options.dataset_index))
        evidence.append(coverage_text(account_coverage(staged, datasets)))
        by_campaign = campaign_coverage(staged, datasets, assembled.account_campaign)
    evidence.append(history_text(scored, op))
    evidence.append(too_few_text(scored))
    evidence.append(gate_text(scored, op.gate))
    reasons = account_reasons(
        scored, feats, cfeats, clusters, key_text, assembled.campaign_evidence, joined_evidence(*evidence)
    )
    sync_by_campaign = campaign_sync(edges_pl, assembled.account_campaign)
    for c in assembled.campaigns:
        c["indicators"]["synchronized_activity"] = sync_by_campaign[c["campaign_id"]]
        if options.dataset_index is not None:
            c["indicators"]["public_datasets"] = by_campaign.get(c["campaign_id"], [])

    # --- results table --------------------------------------------------------------------------
    res = (
        feats.select(
            "account_id",
            "interactions",
            "first_seen",
            "last_seen",
            "tier",
            "verified",
            "org_id",
            "top_capability",
            "cot_share",
        )
        .join(scored.select("account_id", "score", "flagged", "threshold"), on="account_id")
        .join(assembled.account_campaign, on="account_id", how="left")
        .join(reasons, on="account_id", how="left")
    )
    res = res.with_columns(
        reasons=pl.when(pl.col("flagged") | (pl.col("score") >= pl.col("threshold") * 0.5))
        .then(pl.col("reasons"))
        .otherwise(pl.lit(""))
    ).drop("threshold")
    first = [f.name for f in schema.ACCOUNT_RESULTS]
    res = res.select(*first, *EXTRA)
    if accounts_read is not None:
        acc_pl = pl.from_arrow(accounts_read.table)
        assert isinstance(acc_pl, pl.DataFrame)
        dormant = dormant_accounts(
            acc_pl, feats["account_id"], assembled.account_campaign, scored, op.threshold
        )
        res = pl.concat([res, dormant.cast(dict(res.schema))])
    res = res.sort(["score", "account_id"], descending=[True, False])
    acc_table = res.to_arrow()
    acc_table = pa.Table.from_arrays(
        [acc_table.column(f.name).cast(f.type) for f in schema.ACCOUNT_RESULTS]
        + [acc_table.column(c) for c in ("tier", "verified", "org_id", "top_capability", "cot_share")],
        names=[*first, "tier", "verified", "org_id", "top_capability", "cot_share"],
    )

    lookalikes = assembled.lookalikes + popular_keys(keys, scored, n_accounts)
    flagged = scored.filter(pl.col("flagged"))
    flagged_ids = flagged["account_id"]
    fl_inter = feats.filter(pl.col("account_id").is_in(flagged_ids.implode()))
    total_inter = int(feats["interactions"].sum())
    summary = {
        "version": __version__,
        "inputs": [str(p) for p in paths] + [str(p) for p in (accounts_paths or [])],
        "interactions": total_inter,
        "accounts": res.height,
        "accounts_without_traffic": res.height - n_accounts,
        "rejected_rows": int(rejected.num_rows),
        "time_span": {"first": _iso(feats["first_seen"].min()), "last": _iso(feats["last_seen"].max())},
        "operating_point": op.to_dict(),
        "flagged_accounts": int(res["flagged"].sum()),
        "campaigns": len(assembled.campaigns),
        "flagged_traffic_share": (float(fl_inter["interactions"].sum()) / total_inter)
        if total_inter
        else 0.0,
        "flagged_verified": int(fl_inter["verified"].fill_null(False).sum()),
        "flagged_enterprise": int((fl_inter["tier"] == "enterprise").fill_null(False).sum()),
        "seconds": 0.0,
        "signals": sorted(
            [s.id for s in ACCOUNT_SIGNALS if s.id not in unavailable]
            + [s.id for s in LINK_SIGNALS if s.id not in unavailable]
            + (["link.sync"] if options.sync.kind_weight > 0 and "link.sync" not in unavailable else [])
            + (["link.behaviour"] if options.behaviour.kind_weight > 0 and "link.behaviour" not in unavailable
               else [])
        ),
        "unavailable_signals": unavailable,
        # rows whose timestamps point at a faulty clock (set aside, counted in rejected_rows)
        "warnings": stats.warnings() + (accounts_read.stats.warnings() if accounts_read is not None else []),
        "ingest": {
            "files": len(stats.files),
            "rows_read": stats.rows_read,
            "rows_ok": stats.rows_ok,
            "rows_rejected": stats.rows_rejected,
        },
        "graph": {
            "edges": edges.num_rows,
            "clustered_accounts": clusters.height,
            "clusters": int(clusters["cluster"].n_unique()) if clusters.height else 0,
        },
        "model": model.trained_on,
    }
    replay = None
    if options.replay_daily:
        replay = replay_daily(
            con, staged, acc_t, unavailable, options, model, op, assembled.account_campaign, say
        )
    if options.engine == "spark":
        from distillguard.spark import release

        release(con)  # (the session stays: it may be the caller's)
    else:
        con.disconnect()
    t_an = time.perf_counter() - t0
    summary["seconds"] = round(st.seconds + t_an, 2)
    summary["timings"] = {"ingest_and_prompt_features": round(st.seconds, 2), "analysis": round(t_an, 2)}
    design = frame.join(scored.select("account_id", "score", "flagged"), on="account_id")
    return ScanResult(
        acc_table, assembled.campaigns, assembled.edges, lookalikes, summary, rejected, replay, design
    )


def _iso(v: object) -> str | None:
    if v is None:
        return None
    return v.strftime("%Y-%m-%dT%H:%M:%SZ")  # type: ignore[attr-defined]

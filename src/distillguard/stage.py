"""Ingest + per-prompt features + staging: the first phase of a scan.

Interaction batches are validated (``distillguard.ingest``), their per-prompt features computed
(``distillguard.features``) and the narrow columns the analysis phase reads written as Parquet parts
to a work directory (``Staged``). The analysis phase (``distillguard.pipeline.analyse``) reads only
those parts.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import multiprocessing as mp
import os
import pickle
import shutil
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from distillguard.allocators import POLARS_ENV, lazy_release
from distillguard.signals.prompt.near_duplicate import band_count

if TYPE_CHECKING:
    from distillguard.features import FeatureCaches
    from distillguard.ingest import AccountsRead, IngestStats

Progress = Callable[[str, float], None]
FeatureFn = Callable[..., pa.Table]

#: staged columns taken from the interactions (the rest of the contract is not needed after staging)
_KEEP = (
    "request_id",
    "ts",
    "account_id",
    "org_id",
    "turn",
    "model",
    "ip",
    "asn",
    "country",
    "user_agent",
    "input_tokens",
    "output_tokens",
    "max_tokens",
    "temperature",
    "tools",
    "status",
)
_FEATURES = (
    "request_id",
    "cot",
    "cot_tagged",
    "capability",
    "dataset_shape",
    "skeleton",
    "head_fp",
    "tail_fp",
    "nd_bands",
    "system_fp",
    "prompt_chars",
    "dataset_item",
)
EXAMPLE_CHARS = 300
#: the near-duplicate band keys, staged one column per band (the feature's ``nd_bands`` list, element
#: by element): counted band by band, each grouping is one column wide and a 32nd of the rows, about
#: half the time of counting the unnested list (``SharedNearDuplicate``), and never one hash table of
#: every (account, band key) of the logs
ND_BAND_COLUMNS = tuple(f"nd_b{i:02d}" for i in range(band_count()))
#: staged columns written plain (no compression, no dictionary): (near-)random values, and the
#: mostly distinct ones (timestamps, addresses, prompt heads), where a dictionary does not pay and
#: zstd costs more time than these once-read work files gain from it (measured on a 53K-row part:
#: 1.07 instead of 1.57 us per row written, 35% more bytes, the same DuckDB read time)
_RANDOM = frozenset({"request_id", "skeleton", "head_fp", "tail_fp", "system_fp", *ND_BAND_COLUMNS}) | {
    "ts",
    "ip",
    "ip24",
    "prompt_head",
}


#: columns of a batch the default feature phase reads (kept columns, IP, texts): the rest is not sent
_READ = (*_KEEP, "prompt", "system")
#: this process's feature caches, per dataset index (None: none)
_CACHES: dict[str | None, FeatureCaches] = {}


#: staged features that read the prompt alone (the costly text work); the others also read the
#: system prompt and the tools
_PROMPT_ONLY = ("skeleton", "head_fp", "tail_fp", "nd_bands", "prompt_chars", "dataset_item")


def staged_features(dataset_index: str | None = None) -> FeatureCaches:
    """Fresh feature caches of the staged feature columns.

    :func:`~distillguard.features.prompt_features` limited to the columns staged here (so the
    unstaged ``prompt_lang`` is not computed), remembering feature rows between batches (at most
    ``features.CACHE_ROWS`` per cache): the features of the prompt alone (:data:`_PROMPT_ONLY`) are
    not computed again for a prompt seen in an earlier batch of the same process, the others not for
    a row whose prompt, system prompt and tools were. Same values as without the caches.
    ``dataset_index``: the public-dataset index prompts are matched against (``dataset_item``).
    """
    from distillguard.features import FeatureCache, FeatureCaches, prompt_features

    rest = tuple(c for c in _FEATURES[1:] if c not in _PROMPT_ONLY)
    return FeatureCaches(
        [
            FeatureCache(
                feature_fn=functools.partial(
                    prompt_features, columns=_PROMPT_ONLY, dataset_index=dataset_index
                ),
                key_columns=("prompt",),
            ),
            FeatureCache(feature_fn=functools.partial(prompt_features, columns=rest)),
        ]
    )


def _default_features(dataset_index: str | None = None) -> FeatureFn:
    """This process's :func:`staged_features` (a worker keeps its cache from batch to batch)."""
    if dataset_index not in _CACHES:
        _CACHES[dataset_index] = staged_features(dataset_index)
    return _CACHES[dataset_index]


def ip_prefix(ip: pl.Series) -> pl.Series:
    """The /24 (IPv4) or /48 (IPv6) network of each client address, null when absent or not an address.

    Dotted IPv4 is done with string expressions; the other distinct values (IPv6 in any of its
    spellings, e.g. ``2001:db8::1``, and garbage) go through the standard library's ``ipaddress``:
    per distinct value, not per row.
    """
    groups = ip.str.extract_groups(r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$").struct.unnest()
    in_range = groups.select(
        pl.all_horizontal([pl.col(c).cast(pl.Int64).is_between(0, 255) for c in groups.columns])
    ).to_series()
    v4 = pl.select(pl.when(in_range).then(ip.str.replace(r"\.\d{1,3}$", ".0/24"))).to_series()
    frame = pl.DataFrame({"ip": ip})
    rest = ip.filter(v4.is_null() & ip.is_not_null()).unique()
    if rest.len() == 0:
        return v4.alias("ip24")
    import ipaddress

    def network(value: str) -> str | None:
        try:
            addr = ipaddress.ip_address(value.strip())
        except ValueError:
            return None
        return str(ipaddress.ip_network(f"{addr}/{24 if addr.version == 4 else 48}", strict=False))

    mapping = pl.DataFrame(
        {"ip": rest, "net": [network(v) for v in rest.to_list()]}, schema={"ip": pl.String, "net": pl.String}
    )
    other = frame.join(mapping, on="ip", how="left", maintain_order="left").get_column("net")
    return v4.fill_null(other).alias("ip24")


def _ip_prefix_distinct(ip: pl.Series) -> pl.Series:
    """:func:`ip_prefix`, computed once per distinct address (a batch repeats its clients' addresses)."""
    distinct = ip.drop_nulls().unique()
    nets = ip_prefix(distinct)
    return ip.replace_strict(distinct, nets, default=None, return_dtype=pl.String).alias("ip24")


#: 64-bit fingerprint columns, staged as signed integers with the same bits (one staged schema for both
#: engines; the keys' hex text is the same either way)
_FINGERPRINTS = ("skeleton", "head_fp", "tail_fp", "nd_bands", "system_fp")


def _signed(col: pl.Expr, is_list: bool) -> pl.Expr:
    if is_list:
        return col.cast(pl.List(pl.UInt64)).list.eval(pl.element().reinterpret(signed=True))
    return col.cast(pl.UInt64).reinterpret(signed=True)


def stage_batch(batch: pa.RecordBatch, feats: pa.Table | pl.DataFrame) -> pa.Table:
    """The narrow staged rows for one ingest batch: kept columns + features + IP prefix + text heads.

    ``feats`` is a feature function's result (Arrow, or the polars frame of a ``FeatureCache``).
    """
    df = pl.from_arrow(pa.Table.from_batches([batch]))
    assert isinstance(df, pl.DataFrame)
    base = df.select(
        *_KEEP,
        ip24=_ip_prefix_distinct(df.get_column("ip")),
        prompt_head=pl.col("prompt").str.slice(0, EXAMPLE_CHARS),
        system_head=pl.col("system").str.slice(0, EXAMPLE_CHARS),
    )
    f = feats if isinstance(feats, pl.DataFrame) else pl.from_arrow(feats)
    assert isinstance(f, pl.DataFrame)
    cols = [c for c in _FEATURES if c in f.columns]
    f = f.select(cols)
    for c, dtype in (
        ("cot", pl.Float64),
        ("cot_tagged", pl.Boolean),
        ("capability", pl.Utf8),
        ("dataset_shape", pl.Float64),
        ("skeleton", pl.Int64),
        ("head_fp", pl.Int64),
        ("tail_fp", pl.Int64),
        ("nd_bands", pl.List(pl.Int64)),
        ("system_fp", pl.Int64),
        ("prompt_chars", pl.Int64),
        ("dataset_item", pl.Int64),
    ):
        if c not in f.columns:
            f = f.with_columns(pl.lit(None, dtype).alias(c))
        elif c in _FINGERPRINTS:  # (the same 64 bits, signed: Spark has no unsigned integers)
            f = f.with_columns(_signed(pl.col(c), c == "nd_bands"))
        else:
            f = f.with_columns(pl.col(c).cast(dtype))
    bands = pl.col("nd_bands")
    f = f.with_columns(bands.list.get(i, null_on_oob=True).alias(c) for i, c in enumerate(ND_BAND_COLUMNS))
    f = f.drop("nd_bands")
    if f.height == base.height and f["request_id"].equals(base["request_id"]):
        out = pl.concat([base, f.drop("request_id")], how="horizontal")
    else:
        out = base.join(f, on="request_id", how="left")
    return out.to_arrow()


def stage_part(
    batch: pa.RecordBatch, path: Path, seed: int, feature_fn: FeatureFn | None = None,
    dataset_index: str | None = None,
) -> int:
    """Features + staged columns of one batch written to ``path``; the number of rows staged.

    The unit of work of the feature phase: a pure function of the batch (and the seed), so it runs
    the same in this process or in a worker process.
    """
    from distillguard.features import FeatureCache, FeatureCaches

    # (`is None`: an empty FeatureCaches is falsy: it has a length)
    fn = feature_fn if feature_fn is not None else _default_features(dataset_index)
    cached = isinstance(fn, FeatureCache | FeatureCaches)
    feats = fn.frame(batch, seed=seed) if cached else fn(batch, seed=seed)
    table = stage_batch(batch, feats)
    tmp = path.with_suffix(".tmp")
    names = table.schema.names
    pq.write_table(
        table,
        tmp,
        # see _RANDOM: plain where compression and dictionaries do not pay for their time
        compression={c: "none" if c in _RANDOM else "zstd" for c in names},
        compression_level={c: 1 for c in names if c not in _RANDOM},
        use_dictionary=[c for c in names if c not in _RANDOM],
    )
    tmp.replace(path)  # the analysis phase reads *.parquet: never a half-written part
    return batch.num_rows


#: the polars thread-pool size setting, given to the worker processes (see ``_Parts.start_pool``)
THREADS_ENV = "POLARS_MAX_THREADS"


def _worker_init() -> None:
    """In a worker, at start: leave without the interpreter's teardown once the pool shuts it down.

    By then the worker has returned its last result and multiprocessing has run its own exit
    handlers (queues flushed); the teardown that follows freed the worker's caches object by object
    and held up the end of the feature phase by ~1.5 s on the benchmark (``close`` waits for the
    workers to exit). Handlers registered later still run first (``atexit`` is last in, first out).
    """
    import atexit

    atexit.register(_exit_now)


def _exit_now() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)


def _warm_up(seed: int, default: bool, dataset_index: str | None = None) -> None:
    """In a worker: import the default feature code and compile its patterns (one row through it)."""
    if default:
        from distillguard.features import prompt_features

        _default_features(dataset_index)
        if dataset_index is not None:
            from distillguard.dataset_index import load_cached

            load_cached(dataset_index)
        prompt_features(pa.table({"request_id": ["warm-up"], "prompt": ["Warm up: solve 2 + 2."]}), seed=seed)


def _stage_shared(
    src: Path, path: Path, seed: int, feature_fn: FeatureFn | None, dataset_index: str | None = None
) -> int:
    """:func:`stage_part` of the rows in the Arrow IPC file ``src`` (memory-mapped, removed after;
    several record batches in it are staged as one part)."""
    try:
        with pa.memory_map(str(src)) as mm:
            reader = pa.ipc.open_file(mm)
            if reader.num_record_batches == 1:
                batch = reader.get_batch(0)
            else:
                batch = reader.read_all().combine_chunks().to_batches()[0]
            return stage_part(batch, path, seed, feature_fn, dataset_index)
    finally:
        src.unlink(missing_ok=True)


#: where the batches for the workers are written (shared memory, on Linux), else the work directory
SHARED_ROOT = Path("/dev/shm")


def _write_batches(batches: Sequence[pa.RecordBatch], path: Path) -> None:
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, batches[0].schema) as writer:
        for batch in batches:
            writer.write_batch(batch)


def routes(batch: pa.RecordBatch, workers: int) -> np.ndarray:
    """The worker (``0 .. workers-1``) of each row: a hash of its prompt, so that every repeat of a
    prompt goes to the same worker (whose feature cache has seen it; rows without a prompt column
    are dealt round-robin). A pure function of the row."""
    n = batch.num_rows
    if "prompt" not in batch.schema.names:
        return (np.arange(n) % workers).astype(np.int64)
    h = pl.Series("p", batch.column("prompt")).cast(pl.String).hash(_ROUTE_SEED).to_numpy()
    return (h % np.uint64(workers)).astype(np.int64)


#: the seed of the prompt hash that routes rows to workers
_ROUTE_SEED = 0x0D15_7111


def _shared_dir(fallback: Path) -> Path:
    """A fresh folder for the batches handed to the workers: in shared memory where there is some.

    Its name carries this process's id; the folders of scans that were killed (their process gone)
    are removed here, since shared memory is the machine's memory and nothing else frees it."""
    shm = SHARED_ROOT
    base = shm if shm.is_dir() and os.access(shm, os.W_OK) else fallback
    if base == shm:
        for old in shm.glob(f"{BATCHES_PREFIX}*-*"):
            if not _alive(old.name.removeprefix(BATCHES_PREFIX).split("-", 1)[0]):
                shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{BATCHES_PREFIX}{os.getpid()}-", dir=base))


#: the name of a batches folder: the prefix, the scan's process id, a dash, then random letters
BATCHES_PREFIX = "distillguard-batches-"


def _alive(pid: str) -> bool:
    """Whether the process ``pid`` exists (True when the name holds no process id: left alone)."""
    if not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def default_workers() -> int:
    """Worker processes for the feature phase: the CPU cores this process may run on (at most 8)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


def _picklable(obj: object) -> bool:
    try:
        pickle.dumps(obj)
    except Exception:  # any failure means "run it in this process"
        return False
    return True


#: parts queued or running per worker: one staged while the next waits (memory: about
#: ``workers x PARTS_IN_FLIGHT`` batches in flight)
PARTS_IN_FLIGHT = 2
#: a worker's first part is this many times smaller than a batch (see ``_Parts._part_rows``)
FIRST_PART_DIVISOR = 4


class _Parts:
    """Runs :func:`stage_part` for a stream of batches, in this process or in worker processes.

    Workers are "spawn" processes (fork is unsafe with the thread pools of polars, DuckDB and
    rensa); they start only when the input has more than one batch, so small inputs never pay for
    them. Each worker has its own queue and feature cache, and every row goes to the worker its
    prompt hashes to (:func:`routes`): all repeats of a prompt meet the same cache (measured on the
    1.1M-row bench: 286K distinct rows per worker of two instead of 333K with whole batches dealt
    out). A worker's rows are buffered until they make a batch of ``batch_rows`` (a quarter of
    one for its first part, so that it starts sooner). At most
    :data:`PARTS_IN_FLIGHT` batches per worker are in flight, which bounds memory; when a worker's
    queue is full only that worker is waited for (a slower worker does not leave the others idle).
    Part files are numbered in the order the buffered batches are sent, which depends only on the
    input, so the staged data does not depend on which worker finished first.
    """

    def __init__(
        self,
        stage_dir: Path,
        seed: int,
        workers: int,
        feature_fn: FeatureFn | None,
        batch_rows: int = 65536,
        dataset_index: str | None = None,
    ) -> None:
        self.dir = stage_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.seed = seed
        self.workers = max(1, int(workers))
        self.feature_fn = feature_fn
        self.dataset_index = dataset_index
        self.batch_rows = max(1, int(batch_rows))
        # in this process: a cache that lives as long as this run (workers keep one per process)
        self._local_fn: FeatureFn = feature_fn if feature_fn is not None else staged_features(dataset_index)
        self.parts = 0
        self.rows = 0
        self._pools: list[ProcessPoolExecutor] = []
        self._sent_to: set[int] = set()  # workers handed a part so far
        self._set_env: dict[str, str | None] = {}  # variables set for the workers: their values before
        self._shared: list[Path] = []  # folders of the batches handed to the workers
        self._warming: list[Future[None]] = []
        self._pending: list[deque[Future[int]]] = []  # per worker, in the order sent
        self._buffers: list[list[pa.RecordBatch]] = []
        self._buffered: list[int] = []

    def _path(self) -> Path:
        path = self.dir / f"part-{self.parts:06d}.parquet"
        self.parts += 1
        return path

    def start_pool(self, warm: bool = False) -> None:
        """Start the worker processes (no-op for one worker or a feature function that cannot be sent).

        With ``warm``, every worker is started now and made to import and compile what it will run
        (measured: the first part began 1.6 s into the phase, after the start-up of its worker).

        The workers share the cores, so each runs polars on its share of them (one thread per
        worker when there are as many workers as cores: measured 13% less CPU per batch than
        polars' default of one thread per core, mostly time the threads spent handing work over).
        Their allocator releases freed pages lazily (:mod:`distillguard.allocators`). A ``POLARS_MAX_THREADS``
        set by the caller is left as it is.
        """
        if not self._pools and self.workers > 1 and _picklable(self.feature_fn):
            # read by a spawned worker when it imports polars; a setting of the caller is left as it is
            worker_env = {POLARS_ENV: lazy_release(os.environ.get(POLARS_ENV))}
            if THREADS_ENV not in os.environ:
                worker_env[THREADS_ENV] = str(max(1, default_workers() // self.workers))
            for name, value in worker_env.items():
                if value is not None:
                    self._set_env[name] = os.environ.get(name)
                    os.environ[name] = value
            ctx = mp.get_context("spawn")
            self._pools = [
                ProcessPoolExecutor(1, mp_context=ctx, initializer=_worker_init) for _ in range(self.workers)
            ]
            self._buffers = [[] for _ in range(self.workers)]
            self._buffered = [0] * self.workers
            self._pending = [deque() for _ in range(self.workers)]
            if warm:
                default = self.feature_fn is None
                self._warming = [
                    pool.submit(_warm_up, self.seed, default, self.dataset_index) for pool in self._pools
                ]

    def submit(self, batch: pa.RecordBatch) -> Iterator[int]:
        """Stage ``batch``; yields the row counts of the parts finished meanwhile."""
        if not self._pools:
            self.rows += stage_part(batch, self._path(), self.seed, self._local_fn)
            yield batch.num_rows
            return
        if self.feature_fn is None:  # the default reads only these: the rest is not sent
            batch = batch.select([c for c in _READ if c in batch.schema.names])
        route = routes(batch, self.workers)
        for w in range(self.workers):
            rows = batch.filter(pa.array(route == w))
            if rows.num_rows:
                self._buffers[w].append(rows)
                self._buffered[w] += rows.num_rows
            if self._buffered[w] >= self._part_rows(w):
                yield from self._send(w)

    def _part_rows(self, w: int) -> int:
        """Rows buffered before worker ``w`` is handed a part: a quarter batch for its first part, so
        that it starts as soon as its first rows are read (measured on the bench: a worker waited up
        to 0.9 s after its warm-up for a full first batch), then whole batches."""
        return self.batch_rows if w in self._sent_to else max(1, self.batch_rows // FIRST_PART_DIVISOR)

    def _send(self, w: int) -> Iterator[int]:
        """Hand worker ``w`` its buffered rows as one part; yields the parts finished meanwhile."""
        batches, self._buffers[w], self._buffered[w] = self._buffers[w], [], 0
        if not batches:
            return
        path = self._path()
        # handed over as an Arrow file in shared memory, mapped by the worker (measured: 8 batches
        # of the bench cost 0.3 CPU-s to write and map, 0.8 s to pickle through the pool's pipe)
        if not self._shared:
            self._shared.append(_shared_dir(self.dir.parent))
        src = self._shared[-1] / path.with_suffix(".arrow").name
        try:
            _write_batches(batches, src)
        except OSError:  # shared memory full (a container's /dev/shm is often 64 MB): the work dir
            src.unlink(missing_ok=True)
            if self._shared[-1].parent == self.dir.parent:
                raise
            self._shared.append(Path(tempfile.mkdtemp(prefix=BATCHES_PREFIX, dir=self.dir.parent)))
            src = self._shared[-1] / src.name
            _write_batches(batches, src)
        # (finished parts of the other workers are collected first: their counts feed the progress)
        yield from self._collect_done()
        while len(self._pending[w]) >= PARTS_IN_FLIGHT:
            # wait for this worker only: the others keep working through their own queues
            yield self._collect(self._pending[w].popleft())
        self._pending[w].append(
            self._pools[w].submit(_stage_shared, src, path, self.seed, self.feature_fn, self.dataset_index)
        )
        self._sent_to.add(w)

    @property
    def started(self) -> bool:
        """Whether the worker processes have been started."""
        return bool(self._pools)

    @property
    def working(self) -> bool:
        """Whether every worker has been handed a part (always, without workers: parts are staged
        in this process as they come)."""
        return len(self._sent_to) == len(self._pools)

    def _collect_done(self) -> Iterator[int]:
        for queue in self._pending:
            while queue and queue[0].done():
                yield self._collect(queue.popleft())

    def _collect(self, future: Future[int]) -> int:
        n = future.result()
        self.rows += n
        return n

    def drain(self) -> Iterator[int]:
        for w in range(len(self._buffers)):
            yield from self._send(w)
        for queue in self._pending:
            while queue:
                yield self._collect(queue.popleft())

    def close(self) -> None:
        for queue in self._pending:
            for f in queue:
                f.cancel()
        for pool in self._pools:
            pool.shutdown(wait=True, cancel_futures=True)
        self._pools = []
        for folder in self._shared:  # (batches of cancelled or failed parts)
            shutil.rmtree(folder, ignore_errors=True)
        self._shared = []
        for name, before in self._set_env.items():  # (workers start on demand: set until they are gone)
            if before is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = before
        self._set_env = {}


@dataclass
class Staged:
    """What the ingest + per-prompt feature phase leaves for the analysis phase."""

    stage_dir: Path
    paths: list[str]
    accounts_paths: list[str]
    stats: IngestStats
    accounts: AccountsRead | None
    rejected: pa.Table
    rows: int
    seconds: float


def stage_inputs(
    paths: Sequence[str | Path],
    accounts_paths: Sequence[str | Path] | None,
    work_dir: Path,
    *,
    seed: int = 0,
    batch_rows: int = 65536,
    workers: int = 1,
    progress: Progress | None = None,
    feature_fn: FeatureFn | None = None,
    on_started: Callable[[], None] | None = None,
    dataset_index: str | None = None,
) -> Staged:
    """Read and validate the inputs, compute per-prompt features batch by batch, stage narrow Parquet.

    ``on_started`` is called once every feature worker has been handed its first part (without
    workers: once the first batch is staged): the scan starts loading the analysis phase's modules
    then. Started earlier, that import (in a thread of this process, holding the interpreter's lock
    most of the time) slowed the reading of the first batches, and so the start of the workers.
    """
    from distillguard.ingest import open_interactions, read_accounts

    def started() -> None:
        nonlocal on_started
        if on_started is not None:
            call, on_started = on_started, None
            call()

    t0 = time.perf_counter()
    say = progress or (lambda stage, frac: None)
    # the default features read only these columns (response texts, for one, are never read)
    source = open_interactions(
        list(paths), batch_rows=batch_rows, columns=_READ if feature_fn is None else None
    )
    stats = source.check()
    parts = _Parts(work_dir / "staged", seed, workers, feature_fn, batch_rows, dataset_index)
    done = 0
    try:
        hint = source.rows_hint()
        if hint is not None and hint > batch_rows:  # (Parquet footers say so) more than one batch:
            parts.start_pool(warm=True)  # the workers start while the accounts and first batches are read
        accounts_read = read_accounts(list(accounts_paths)) if accounts_paths else None
        say("reading interactions", 0.0)
        batches = (b for b in source if b.num_rows)
        head: list[pa.RecordBatch] = []
        if not parts.started:  # (the row count was not known) workers only for a second batch
            first = next(batches, None)
            second = next(batches, None) if first is not None else None
            if second is not None:
                parts.start_pool()  # more than one batch: worth the workers' start-up
            head = [b for b in (first, second) if b is not None]
        for batch in itertools.chain(head, batches):
            for n in parts.submit(batch):
                done += n
                say("reading interactions", done)
            if parts.working:
                started()
        started()
        for n in parts.drain():
            done += n
            say("reading interactions", done)
    finally:
        parts.close()
    rows = parts.rows
    rejected = source.rejected
    if accounts_read is not None:
        rejected = pa.concat_tables([rejected, accounts_read.rejected.cast(rejected.schema)])
    if rows == 0:
        from distillguard.errors import InputError

        raise InputError(", ".join(map(str, paths)), "no valid interaction rows to scan")
    return Staged(
        parts.dir,
        [str(p) for p in paths],
        [str(p) for p in (accounts_paths or [])],
        stats,
        accounts_read,
        rejected,
        rows,
        time.perf_counter() - t0,
    )

"""Public-dataset membership: which prompts are items of known public datasets.

An adaptive operator harvests from public math, coding and instruction datasets without a template,
so the prompts share nothing with each other; what they still share is where they come from. The
index is built by ``distillguard index build DIR... --out INDEX`` from dataset files the user
supplies (nothing is downloaded): each item's text is cut into word shingles (``k`` consecutive
words, lower-cased; CJK characters count as words), each shingle hashed to 64 bits with a stable
hash. A prompt contains an item when at least :data:`MATCH_COVER` of the item's shingles occur in
it, whatever wrapping text surrounds it ("Solve this: ... Show your work."). Shingles that occur in
more than :data:`MAX_ITEMS_PER_SHINGLE` items (boilerplate such as "write a python function that")
identify nothing and are left out.

What evading it costs: the index matches verbatim items; an operator must rewrite every item (a word
changed in every ``k`` defeats a shingle) before sending it, which costs a rewriting pass and
changes the data the operator wanted answered.

Files of an index folder (written under the output-folder rule of :mod:`distillguard.outdir`):
``shingles.parquet`` (``hash`` uint64 sorted, ``item`` uint32), ``items.parquet`` (``item``,
``dataset``, ``part`` (the dataset and the item's split or subset, e.g. ``gsm8k/test``), ``source``,
``row``, ``id``, ``shingles``, ``preview``) and ``index.json`` (parameters, datasets, counts, and
``evaluation``: the datasets or parts the user named as published evaluation sets, e.g. ``gsm8k/test``
or ``humaneval``; a researcher's evaluation runs send their items, a harvest of whole datasets mostly
others).
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import polars_hash as plh
import pyarrow as pa
import pyarrow.parquet as pq

from distillguard import __version__
from distillguard.errors import InputError, UsageError
from distillguard.signals.prompt.context import mix64

#: words per shingle
SHINGLE_WORDS = 8
#: an item shorter than a shingle is indexed as one shingle of all its words, if it has this many
MIN_WORDS = 5
#: share of an item's shingles a prompt must contain to count as that item
MATCH_COVER = 0.5
#: shingles found in more items than this are boilerplate, not evidence of one item
MAX_ITEMS_PER_SHINGLE = 4
#: words of a prompt looked at (the first ones: a pasted item sits at the start or in a short wrapper)
MAX_PROMPT_WORDS = 2000
#: the seed of the word hash (part of the index format: changing it invalidates every index)
WORD_SEED = 0x1D3_5E7
#: field names tried, in order, for the part of a dataset an item belongs to (a benchmark's test split)
PART_FIELDS = ("split", "subset")
#: field names tried, in order, for an item's text
TEXT_FIELDS = ("prompt", "question", "problem", "instruction", "text", "input", "query", "content")
INDEX_FORMAT = 2
#: words: a run of letters/digits, or a single CJK character (those scripts do not separate words)
TOKEN_RX = r"[\p{Han}\p{Hiragana}\p{Katakana}]|[\w&&[^\p{Han}\p{Hiragana}\p{Katakana}]]+"

_P = np.uint64(0x100000001B3)


def shingles(
    texts: pl.Series, *, k: int = SHINGLE_WORDS, max_words: int | None = None, distinct: bool = True
) -> pl.DataFrame:
    """``text`` (row of ``texts``) and ``hash`` of every shingle of every text (each shingle once
    per text unless ``distinct=False``).

    Texts with fewer than ``k`` but at least :data:`MIN_WORDS` words give one shingle of all their
    words; shorter ones give none. Vectorised: one flat word table, ``k`` passes over it."""
    empty = pl.DataFrame({"text": pl.Series([], dtype=pl.UInt32), "hash": pl.Series([], dtype=pl.UInt64)})
    words = texts.cast(pl.String).fill_null("").str.to_lowercase().str.extract_all(TOKEN_RX)
    if max_words is not None:
        words = words.list.head(max_words)
    flat = words.to_frame("w").with_row_index("text").explode("w").drop_nulls("w")
    if flat.height == 0:
        return empty
    row = flat["text"].to_numpy().astype(np.int64)
    wh = flat.select(plh.col("w").nchash.xxhash64(seed=WORD_SEED))["w"].to_numpy().astype(np.uint64)
    n = len(wh)
    starts = np.flatnonzero(np.r_[True, row[1:] != row[:-1]])
    counts = np.diff(np.r_[starts, n])
    pos = np.arange(n) - np.repeat(starts, counts)
    length = np.repeat(counts, counts)
    out_rows, out_hash = [], []
    if n >= k:
        # every window of k consecutive words (slices, no gathers); those inside one text are kept
        m = n - k + 1
        acc = np.zeros(m, dtype=np.uint64)
        with np.errstate(over="ignore"):
            for j in range(k):
                acc = acc * _P + wh[j : j + m]
        inside = pos[:m] + k <= length[:m]
        out_rows.append(row[:m][inside])
        out_hash.append(mix64(acc[inside]))
    short = (pos == 0) & (length < k) & (length >= MIN_WORDS)
    if short.any():
        # a short text: one shingle over all its words (same chaining, its own length)
        first = np.flatnonzero(short)
        acc = np.zeros(len(first), dtype=np.uint64)
        lens = length[first]
        with np.errstate(over="ignore"):
            for j in range(k):
                live = j < lens
                acc = np.where(live, acc * _P + wh[np.minimum(first + j, n - 1)], acc)
        out_rows.append(row[first])
        out_hash.append(mix64(acc ^ lens.astype(np.uint64)))
    if not out_rows:
        return empty
    out = pl.DataFrame({"text": np.concatenate(out_rows).astype(np.uint32), "hash": np.concatenate(out_hash)})
    return out.unique(maintain_order=True) if distinct else out


# --- reading dataset files ------------------------------------------------------------------------

_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".parquet", ".csv", ".csv.gz", ".txt", ".txt.gz")


def _kind(path: Path) -> str | None:
    name = path.name.lower()
    for suf in sorted(_SUFFIXES, key=len, reverse=True):
        if name.endswith(suf):
            return suf
    return None


@dataclass(frozen=True)
class DatasetFile:
    dataset: str
    path: Path


def dataset_files(paths: Sequence[Path], names: Sequence[str] = ()) -> list[DatasetFile]:
    """The dataset files under ``paths``: a folder is one dataset named after it (its files of known
    kinds, recursively); a file is one dataset named after its stem. ``names`` overrides the names."""
    if names and len(names) != len(paths):
        raise UsageError(f"--name was given {len(names)} times for {len(paths)} paths")
    out = []
    for i, p in enumerate(paths):
        p = Path(p)
        if not p.exists():
            raise UsageError(f"{p}: no such file or folder")
        if p.is_dir():  # (plain text files in a folder are its notes, not items)
            found = (f for f in p.rglob("*") if f.is_file())
            files = sorted(f for f in found if _kind(f) not in (None, ".txt", ".txt.gz"))
            if not files:
                raise UsageError(f"{p}: holds no dataset files ({', '.join(_SUFFIXES)})")
            name = names[i] if names else p.resolve().name
        else:
            if not _kind(p):
                raise UsageError(f"{p}: not a dataset file of a known kind ({', '.join(_SUFFIXES)})")
            files = [p]
            suffix = _kind(p) or ""
            name = names[i] if names else p.name[: -len(suffix)]
        out.extend(DatasetFile(name, f) for f in files)
    return out


def read_items(f: DatasetFile, text_field: str | None = None) -> pl.DataFrame:
    """``row`` (1-based), ``id``, ``text`` and ``part`` (the item's split or subset, from a ``split``
    or ``subset`` field; null when the file has none) of every item of one dataset file."""
    kind = _kind(f.path)
    try:
        if kind in (".txt", ".txt.gz"):
            opener = gzip.open if kind.endswith(".gz") else open
            with opener(f.path, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
                lines = [ln.rstrip("\n") for ln in fh]
            df = pl.DataFrame({"text": lines})
            df = df.with_row_index("row", offset=1).filter(pl.col("text").str.strip_chars() != "")
            return df.with_columns(pl.lit(None, pl.String).alias("id"), pl.lit(None, pl.String).alias("part"))
        if kind == ".parquet":
            df = pl.read_parquet(f.path)
        elif kind in (".csv", ".csv.gz"):
            df = pl.read_csv(f.path, infer_schema=False)
        elif kind == ".json":
            df = pl.DataFrame(json.loads(f.path.read_text(encoding="utf-8")))
        else:
            df = pl.read_ndjson(f.path, infer_schema_length=None)
    except (OSError, ValueError, pl.exceptions.PolarsError, UnicodeDecodeError) as exc:
        raise InputError(f.path, f"cannot be read as {kind} ({str(exc).splitlines()[0]})") from None
    column = text_field or next((c for c in TEXT_FIELDS if c in df.columns), None)
    if column is None or column not in df.columns:
        wanted = text_field or " / ".join(TEXT_FIELDS)
        raise InputError(f.path, f"no text column {wanted} (found: {', '.join(df.columns) or 'none'})")
    ids = pl.col("id").cast(pl.String) if "id" in df.columns else pl.lit(None, pl.String)
    part_col = next((c for c in PART_FIELDS if c in df.columns), None)
    part = pl.col(part_col).cast(pl.String) if part_col else pl.lit(None, pl.String)
    out = df.select(pl.col(column).cast(pl.String).alias("text"), ids.alias("id"), part.alias("part"))
    return out.with_row_index("row", offset=1).filter(
        pl.col("text").is_not_null() & (pl.col("text").str.strip_chars() != "")
    )


#: characters of item text shingled at once when building: the flat word table and its hash arrays
#: take ~100 bytes a word, so a dataset of long few-shot prompts is shingled in slices
BUILD_SLICE_CHARS = 4_000_000


def _slices(texts: pl.Series, max_chars: int) -> list[tuple[int, int]]:
    """``[lo, hi)`` row ranges of ``texts`` holding about ``max_chars`` characters each (at least one row)."""
    ends = texts.str.len_chars().fill_null(0).cum_sum().to_numpy()
    out, lo = [], 0
    while lo < len(ends):
        base = ends[lo - 1] if lo else 0
        hi = max(lo + 1, int(np.searchsorted(ends, base + max_chars, side="right")))
        out.append((lo, hi))
        lo = hi
    return out


# --- building ----------------------------------------------------------------------------------


@dataclass
class BuildReport:
    datasets: dict[str, dict] = field(default_factory=dict)
    items: int = 0
    indexed_items: int = 0
    shingles: int = 0

    def to_dict(self) -> dict:
        return {"datasets": self.datasets, "items": self.items, "indexed_items": self.indexed_items,
                "shingles": self.shingles}


def build(files: Iterable[DatasetFile], out_dir: Path, *, text_field: str | None = None,
          k: int = SHINGLE_WORDS, evaluation: Sequence[str] = ()) -> BuildReport:
    """Write the index files of ``files`` into ``out_dir`` (a folder the caller owns). ``evaluation``
    names the datasets or parts (``dataset/split``) that are published evaluation sets; each must name
    a dataset or part of the index."""
    report = BuildReport()
    item_frames, shingle_frames = [], []
    seen_text: set[int] = set()
    next_item = 0
    for f in files:
        items = read_items(f, text_field)
        d = report.datasets.setdefault(f.dataset, {"files": 0, "items": 0, "indexed_items": 0})
        d["files"] += 1
        d["items"] += items.height
        report.items += items.height
        if items.height == 0:
            continue
        # the same text in two datasets (known overlaps) is one item under the first name
        th = items.select(plh.col("text").str.to_lowercase().nchash.xxhash64(seed=WORD_SEED))["text"]
        first = ~th.is_duplicated() | th.is_first_distinct()
        new = np.array([h not in seen_text for h in th.to_list()], dtype=bool) & first.to_numpy()
        seen_text.update(th.filter(pl.Series(new)).to_list())
        items = items.filter(pl.Series(new))
        ids = np.arange(next_item, next_item + items.height, dtype=np.uint32)
        next_item += items.height
        for lo, hi in _slices(items["text"], BUILD_SLICE_CHARS):
            sh = shingles(items["text"].slice(lo, hi - lo), k=k)
            sh = sh.select("hash", item=pl.Series(ids[lo + sh["text"].to_numpy()], dtype=pl.UInt32))
            shingle_frames.append(sh)
        src = os.path.relpath(f.path) if not f.path.is_absolute() else str(f.path)
        part = pl.concat_str([pl.lit(f.dataset), pl.lit("/"), items["part"]]).fill_null(f.dataset)
        item_frames.append(pl.DataFrame({
            "item": ids, "dataset": f.dataset, "part": items.select(part).to_series(), "source": src,
            "row": items["row"].cast(pl.Int64), "id": items["id"], "preview": items["text"].str.slice(0, 160),
        }))
    if not item_frames:
        raise UsageError("no items found in the dataset files given")
    sh = pl.concat(shingle_frames)  # (already distinct: each item once, each of its shingles once)
    per_hash = sh.group_by("hash").agg(pl.len().alias("n"))
    keep = per_hash.filter(pl.col("n") <= MAX_ITEMS_PER_SHINGLE).select("hash")
    sh = sh.join(keep, on="hash").sort("hash", "item")
    counts = sh.group_by("item").agg(pl.len().cast(pl.Int32).alias("shingles"))
    items_t = pl.concat(item_frames).join(counts, on="item", how="left").with_columns(
        pl.col("shingles").fill_null(0)
    ).sort("item")
    for name, d in report.datasets.items():
        mine = items_t.filter((pl.col("dataset") == name) & (pl.col("shingles") > 0))
        d["indexed_items"] = mine.height
    report.indexed_items = int((items_t["shingles"] > 0).sum())
    report.shingles = sh.height
    known = set(items_t["dataset"].unique().to_list()) | set(items_t["part"].unique().to_list())
    unknown = [e for e in evaluation if e not in known]
    if unknown:
        raise UsageError(
            f"--evaluation {unknown[0]}: no dataset or part of that name among the files given (parts are "
            f"named dataset/split, e.g. {sorted(known - set(items_t['dataset'].unique().to_list()))[:3]})"
        )
    pq.write_table(sh.to_arrow(), out_dir / "shingles.parquet", compression="zstd")
    pq.write_table(items_t.to_arrow(), out_dir / "items.parquet", compression="zstd")
    meta = {
        "distillguard_index": INDEX_FORMAT,
        "written_by": f"distillguard {__version__}",
        "shingle_words": k,
        "min_words": MIN_WORDS,
        "match_cover": MATCH_COVER,
        "max_items_per_shingle": MAX_ITEMS_PER_SHINGLE,
        "word_seed": WORD_SEED,
        "evaluation": sorted(set(evaluation)),
        **report.to_dict(),
    }
    (out_dir / "index.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    return report


# --- matching ----------------------------------------------------------------------------------


class DatasetIndex:
    """A loaded index: sorted shingle hashes with their items, and each item's shingle count."""

    def __init__(self, path: Path, hashes: np.ndarray, items: np.ndarray, item_shingles: np.ndarray,
                 item_dataset: np.ndarray, datasets: list[str], meta: dict,
                 item_part: np.ndarray | None = None):
        self.path = path
        self.hashes = hashes
        self.items = items
        self.item_shingles = item_shingles
        self.item_dataset = item_dataset  # dataset number per item
        self.item_part = item_part if item_part is not None else np.full(len(item_dataset), None, object)
        self.datasets = datasets
        self.meta = meta
        self.k = int(meta["shingle_words"])
        self.table = pl.DataFrame({"hash": hashes, "item": items})

    @classmethod
    def load(cls, path: str | Path) -> DatasetIndex:
        path = Path(path)
        meta_path = path / "index.json"
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if meta.get("distillguard_index") != INDEX_FORMAT or meta.get("word_seed") != WORD_SEED:
                raise ValueError("not a distillguard dataset index of this format")
            sh = pq.read_table(path / "shingles.parquet")
            it = pq.read_table(path / "items.parquet", columns=["item", "dataset", "part", "shingles"])
        except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
            raise UsageError(f"--dataset-index {path}: not a readable dataset index ({exc}); build one with "
                             "`distillguard index build`") from None
        names = it.column("dataset").to_pylist()
        datasets = sorted(set(names))
        number = {n: i for i, n in enumerate(datasets)}
        n_items = len(names)
        item_ids = it.column("item").to_numpy()
        shingle_count = np.zeros(n_items, dtype=np.int32)
        shingle_count[item_ids] = it.column("shingles").to_numpy()
        item_dataset = np.zeros(n_items, dtype=np.int16)
        item_dataset[item_ids] = [number[n] for n in names]
        parts = np.empty(n_items, dtype=object)
        parts[item_ids] = it.column("part").to_pylist()
        return cls(path, sh.column("hash").to_numpy(), sh.column("item").to_numpy(), shingle_count,
                   item_dataset, datasets, meta, parts)

    def match(self, texts: pl.Series) -> tuple[np.ndarray, np.ndarray]:
        """For each text: the item it contains (-1 for none) and the share of that item's shingles
        found in it (the best item's, 0 when none)."""
        n = len(texts)
        best_item = np.full(n, -1, dtype=np.int64)
        best_cover = np.zeros(n, dtype=np.float32)
        sh = shingles(texts, k=self.k, max_words=MAX_PROMPT_WORDS, distinct=False)
        if sh.height == 0 or self.table.height == 0:
            return best_item, best_cover
        pairs = sh.join(self.table, on="hash").unique()  # (a shingle twice in a text counts once)
        if pairs.height == 0:
            return best_item, best_cover
        per = pairs.group_by("text", "item").agg(pl.len().alias("found"))
        total = self.item_shingles[per["item"].to_numpy()].astype(np.float64)
        per = per.with_columns(cover=pl.Series(per["found"].to_numpy() / np.maximum(total, 1.0)))
        per = per.sort(["text", "cover", "item"], descending=[False, True, False]).unique(
            "text", keep="first", maintain_order=True
        )
        rows = per["text"].to_numpy()
        best_cover[rows] = np.minimum(per["cover"].to_numpy(), 1.0)
        ok = per["cover"].to_numpy() >= MATCH_COVER
        best_item[rows[ok]] = per["item"].to_numpy()[ok]
        return best_item, best_cover

    @property
    def evaluation_sets(self) -> tuple[str, ...]:
        """The datasets or parts named as published evaluation sets when the index was built."""
        return tuple(self.meta.get("evaluation", ()))

    def is_evaluation(self) -> np.ndarray:
        """Per item number: whether it belongs to a dataset or part named as an evaluation set."""
        ev = list(self.evaluation_sets)
        names = pl.Series(np.array(self.datasets, dtype=object)[self.item_dataset], dtype=pl.String)
        parts = pl.Series(self.item_part, dtype=pl.String)
        return (names.is_in(ev) | parts.is_in(ev)).fill_null(False).to_numpy()

    def dataset_of(self, items: np.ndarray) -> np.ndarray:
        """Dataset names of item numbers (None for -1)."""
        names = np.array(self.datasets, dtype=object)
        out = np.full(len(items), None, dtype=object)
        ok = items >= 0
        out[ok] = names[self.item_dataset[items[ok]]]
        return out


_LOADED: dict[str, DatasetIndex] = {}


def load_cached(path: str | Path) -> DatasetIndex:
    """:meth:`DatasetIndex.load`, once per process and path (feature workers load it on first use)."""
    key = str(Path(path).resolve())
    if key not in _LOADED:
        _LOADED[key] = DatasetIndex.load(path)
    return _LOADED[key]

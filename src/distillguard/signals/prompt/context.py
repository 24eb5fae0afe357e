"""The shared per-batch context: expensive text work done once and handed to every prompt signal.

Everything here is vectorised (polars string expressions, pyarrow, numpy); nothing loops over
rows in Python. Properties are computed lazily and cached, so a signal only pays for what it uses.

Text work is done once per DISTINCT string: a batch of API traffic repeats itself (templated
prompts, a handful of system prompts per application, retries), so the context keeps a hash-based
distinct index (:func:`distinct`) of the prompts, of the system prompts and of the (system, prompt)
pairs; every view below exists per distinct value, and a signal scatters its per-distinct results
back to the rows with the matching ``*_inverse`` index. Measured on the simulator's default
scenario: 42K distinct prompts and 47K distinct (system, prompt) texts in 100K rows.

Text views (all bounded, so cost does not grow with pathological prompt lengths):

- ``window_u``: per distinct prompt, the prompt itself when it has at most
  ``HEAD_CHARS + TAIL_CHARS`` characters, else its first ``HEAD_CHARS`` and last ``TAIL_CHARS``
  characters (instructions and templates live at the ends of a prompt);
- ``lower_u``: ``window_u`` lower-cased;
- ``units``: what the pattern signals read: the distinct ``lower`` windows, then the distinct
  lower-cased system prompts (first ``SYSTEM_CHARS``): what the model was told, where an injected
  instruction may sit in either part; a row's result combines its prompt's and its system's;
- ``text_u``: per distinct (system, prompt) pair, the system window + newline + ``lower`` (a
  row-level convenience view; the signals read ``units``);
- ``masked_u``: the head (``MASK_HEAD_CHARS``) and tail (``MASK_TAIL_CHARS``) of ``lower_u`` with
  filled-in values replaced by placeholders (code blocks, inline code, URLs, e-mails, LaTeX, quoted
  spans, numbers, list runs), cut to ``WORD_HEAD_CHARS + WORD_TAIL_CHARS`` characters; one per
  distinct prompt *shape* (prompts that differ only in their digits share one, ``shape_inverse``);
- ``tokens``: the words of ``masked_u`` (punctuation is not a word) as one flat table over all
  distinct prompt shapes, filler words (:data:`FILLER`) removed, with word hashes, positions and a
  stop-word flag: the input of the skeleton fingerprints and of the near-duplicate MinHash.

Row-level views (``lower``, ``text``, ``prompt_window``, ``masked``) gather the distinct ones back
to the rows, for callers that want them; the signals of this package do not use them.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
import polars as pl
import polars_hash as plh
import pyarrow as pa
import pyarrow.compute as pc

HEAD_CHARS = 1000
TAIL_CHARS = 500
SYSTEM_CHARS = 1000
#: characters masked at each end for the word views (enough for the skeleton and near-dup windows)
MASK_HEAD_CHARS = 700
MASK_TAIL_CHARS = 400
#: characters of masked text kept at each end for the word views (about 50 and 40 words)
WORD_HEAD_CHARS = 320
WORD_TAIL_CHARS = 240


#: politeness / filler words dropped from the word view (they vary freely between fills of a template)
FILLER: tuple[str, ...] = (
    "please",
    "kindly",
    "pls",
    "plz",
    "just",
    "really",
    "very",
    "a",
    "an",
    "the",
    "some",
    "also",
    "now",
    "thanks",
    "thank",
    "hi",
    "hello",
    "hey",
)
#: English function words flagged in ``tokens.stop`` (content words carry a template's identity)
STOPWORDS: tuple[str, ...] = tuple(
    """a an the of to in on at for from by with and or but if then so as is are was were be been being do does
    did this that these those it its i you your we our they them he she his her my me us all any each every no
    not can could would should will shall may might must have has had what which who whom how why when where
    there here into out up down over under again further once only own same than too very just also please
    following below above given some such more most other""".split()
)
#: a word of the masked text: letters, digits, combining marks, or a placeholder
WORD = r"[\p{L}\p{N}\p{M}\u27e6\u27e7]+"

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
GOLD = np.uint64(0x9E3779B97F4A7C15)


def rx(pattern: str) -> str:
    """A pattern for the Rust regex engine with ASCII word boundaries.

    Unicode ``\\b`` keeps the fast DFA engines off any text with a non-ASCII character (measured
    10-50x slower on real prompts); every pattern in ``signals.prompt`` is written with ``\\b`` and
    passed through this function. ASCII boundaries are what the (Latin-script) patterns mean anyway.
    """
    return pattern.replace(r"\b", r"(?-u:\b)")


#: (pattern, replacement) applied in order to the lower-cased window to mask filled-in values.
MASKS: tuple[tuple[str, str], ...] = (
    (r"(?s)```.*?(?:```|$)", " \u27e6code\u27e7 "),
    (r"`[^`\n]+`", " \u27e6code\u27e7 "),
    (r"(?:https?://|ftp://|www\.)\S+", " \u27e6url\u27e7 "),
    (r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", " \u27e6email\u27e7 "),
    (r"\$\$[^$]*\$\$|\\\[[^\]]*\\\]|\$[^$\n]+\$", " \u27e6math\u27e7 "),
    (
        r"\"[^\"\n]+\"|\u201c[^\u201d\n]+\u201d|\u00ab[^\u00bb\n]+\u00bb|\u300c[^\u300d\n]+\u300d",
        " \u27e6q\u27e7 ",
    ),
    (r"(^|\s)'[^'\n]+'", "$1 \u27e6q\u27e7 "),
    (r"\d+(?:[.,:/_-]\d+)*", " \u27e6n\u27e7 "),
    # runs of >= 3 list lines (bullets or enumerations) collapse to one placeholder
    (
        r"(?m)(?:^[ \t]*(?:[-*\u2022+]|\u27e6n\u27e7 ?[.)]|[a-z][.)])[ \t]+[^\n]*(?:\n|$)){3,}",
        " \u27e6list\u27e7 \n",
    ),
    # inline comma lists of >= 4 single-word items: "a, b, c, d"
    (r"(?:[^\s,;]+ *, *){3,}[^\s,;.]+", " \u27e6list\u27e7 "),
)


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (vectorised, wrapping uint64 arithmetic): a bijective 64-bit mix."""
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(30))
        x = x * _M1
        x = x ^ (x >> np.uint64(27))
        x = x * _M2
        return x ^ (x >> np.uint64(31))


def hash_series(s: pl.Series, seed: int) -> pl.Series:
    """Stable 64-bit xxhash of each string of ``s`` (null stays null)."""
    return s.to_frame("_v").select(plh.col("_v").nchash.xxhash64(seed=seed)).to_series().rename(s.name)


def distinct(values: pl.Series, seed: int = 0) -> tuple[pl.Series, np.ndarray]:
    """Distinct strings of ``values`` and, for each row, the index of its string among them.

    Deduplicates on a 64-bit xxhash of the text (sort-based, much faster than a string hash table
    for short texts); two different texts sharing a 64-bit hash would be treated as one, with
    probability about n^2 / 2^65 (1e-9 for 200K distinct texts). A null is treated as "".
    """
    h = hash_series(values.fill_null(""), seed).to_numpy()
    _, first, inverse = np.unique(h, return_index=True, return_inverse=True)
    return values.gather(first), inverse.reshape(-1)


def segment_rank(flag: np.ndarray, starts: np.ndarray, row: np.ndarray) -> np.ndarray:
    """For each flat item, how many flagged items precede it in its own segment (row)."""
    if not len(flag):
        return np.zeros(0, dtype=np.int32)
    c = np.cumsum(flag, dtype=np.int32)
    first = np.minimum(starts, len(flag) - 1)  # (an empty segment's value is never read)
    before = c[first] - flag[first]  # flagged items before each segment
    return c - flag - before[row]


@lru_cache(maxsize=16)
def _word_kinds(seed: int) -> tuple[pl.Series, pl.Series]:
    """(hashes, kind) of the filler (kind 1) and stop (kind 2) words under ``seed``."""
    words = list(dict.fromkeys(FILLER + STOPWORDS))
    kinds = [1 if w in FILLER else 2 for w in words]
    return hash_series(pl.Series(words), seed), pl.Series(kinds, dtype=pl.UInt8)


@dataclass(frozen=True)
class Tokens:
    """The filler-free words of every distinct prompt's masked text, as one flat table.

    ``words`` holds every word including the filler words; kept token ``i`` is ``words[index[i]]``.
    Token ``i`` belongs to distinct prompt ``row[i]`` (tokens of one prompt are contiguous and in
    text order: ``starts[u]:ends[u]``); ``pos`` / ``rpos`` count words from the start / end of
    that prompt; ``hashes`` are xxhash64 of the word (seeded with the batch seed); ``stop`` flags
    :data:`STOPWORDS`; ``count[u]`` is the number of words of distinct prompt ``u``.
    """

    words: pl.Series
    index: np.ndarray
    hashes: np.ndarray
    row: np.ndarray
    pos: np.ndarray
    rpos: np.ndarray
    stop: np.ndarray
    count: np.ndarray
    starts: np.ndarray
    ends: np.ndarray


class PromptContext:
    """Shared, lazily computed views of one batch of interactions.

    ``batch`` has the columns of :data:`distillguard.schema.INTERACTIONS` (optional ones may be
    absent or all-null); ``seed`` seeds every hash and sketch; ``similarity_threshold`` is the
    near-duplicate intent (None for the default); ``outputs`` the feature columns the caller
    wants (None: all), see :meth:`wants`; ``dataset_index`` the folder of a public-dataset index
    (:mod:`distillguard.dataset_index`) to match prompts against.
    """

    def __init__(
        self,
        batch: pa.RecordBatch | pa.Table,
        *,
        seed: int = 0,
        similarity_threshold: float | None = None,
        outputs: Collection[str] | None = None,
        dataset_index: str | None = None,
    ) -> None:
        table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
        self.table: pa.Table = table
        #: the folder of the public-dataset index prompts are matched against (None: no matching)
        self.dataset_index_path = dataset_index
        self.seed = int(seed)
        #: near-duplicate intent (None: the signal's default, ``near_duplicate.SIMILARITY_THRESHOLD``)
        self.similarity_threshold = similarity_threshold
        self.outputs = None if outputs is None else frozenset(outputs)
        self.n = table.num_rows

    @cached_property
    def dataset_index(self):  # -> DatasetIndex | None (loaded once per process)
        """The loaded public-dataset index, or None when the scan was given none."""
        if self.dataset_index_path is None:
            return None
        from distillguard.dataset_index import load_cached

        return load_cached(self.dataset_index_path)

    def wants(self, column: str) -> bool:
        """Whether the caller wants output ``column`` (a signal may skip the work of one it does not)."""
        return self.outputs is None or column in self.outputs

    # --- columns ------------------------------------------------------------------------------
    def has(self, column: str) -> bool:
        """True when ``column`` is present and not all-null (an empty batch has every column)."""
        if column not in self.table.column_names:
            return False
        return self.n == 0 or self.table.column(column).null_count < self.n

    def series(self, column: str) -> pl.Series | None:
        if column not in self.table.column_names:
            return None
        return pl.from_arrow(self.table.column(column).combine_chunks(), schema_overrides=None).rename(column)

    @cached_property
    def prompt_null(self) -> pa.BooleanArray | None:
        """Rows whose prompt is null (None when there are none)."""
        if "prompt" not in self.table.column_names:
            return None
        col = self.table.column("prompt")
        if col.null_count == 0:
            return None
        return pc.is_null(col.combine_chunks())

    @cached_property
    def tools(self) -> np.ndarray | None:
        """Number of tool definitions offered (0 where null), or None when the column is missing."""
        if not self.has("tools"):
            return None
        s = self.series("tools")
        return s.cast(pl.Int64, strict=False).fill_null(0).to_numpy()

    # --- distinct indexes ---------------------------------------------------------------------
    @cached_property
    def _prompts(self) -> tuple[pl.Series, np.ndarray]:
        prompt = self.series("prompt")
        if prompt is None:
            prompt = pl.Series("prompt", [""] * self.n, dtype=pl.String)
        return distinct(prompt.cast(pl.String).fill_null("").rename("prompt"), self.seed)

    @property
    def prompt_u(self) -> pl.Series:
        """Distinct prompts of the batch (a null prompt counts as "")."""
        return self._prompts[0]

    @property
    def prompt_inverse(self) -> np.ndarray:
        """For each row, the index of its prompt in :attr:`prompt_u`."""
        return self._prompts[1]

    @cached_property
    def _systems(self) -> tuple[pl.Series, np.ndarray] | None:
        if not self.has("system"):
            return None
        return distinct(self.series("system").cast(pl.String).fill_null("").rename("system"), self.seed)

    @property
    def system_u(self) -> pl.Series | None:
        """Distinct system prompts ("" for none), or None when the batch has no system prompt."""
        return None if self._systems is None else self._systems[0]

    @property
    def system_inverse(self) -> np.ndarray | None:
        return None if self._systems is None else self._systems[1]

    @cached_property
    def prompt_chars(self) -> pl.Series:
        """Prompt length in characters, per row (0 for a null prompt)."""
        return self.prompt_u.str.len_chars().cast(pl.Int32).gather(self.prompt_inverse).rename("prompt_chars")

    # --- text views (per distinct value) ------------------------------------------------------
    @cached_property
    def _pframe(self) -> pl.DataFrame:
        p = pl.col("prompt")
        window = (  # the prompt's head and tail
            pl.when(p.str.len_chars() > HEAD_CHARS + TAIL_CHARS)
            .then(pl.concat_str([p.str.head(HEAD_CHARS), pl.lit("\n"), p.str.tail(TAIL_CHARS)]))
            .otherwise(p)
        )
        return (
            self.prompt_u.to_frame()
            .select(window.alias("window"))
            .with_columns(pl.col("window").str.to_lowercase().alias("lower"))
        )

    @property
    def window_u(self) -> pl.Series:
        return self._pframe["window"]

    @property
    def lower_u(self) -> pl.Series:
        return self._pframe["lower"]

    @cached_property
    def _texts(self) -> tuple[pl.Series, np.ndarray]:
        if self._systems is None:
            return self.lower_u.rename("text"), self.prompt_inverse
        sys_u, sys_inv = self._systems
        key = self.prompt_inverse.astype(np.int64) * (len(sys_u) + 1) + sys_inv
        _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        sys_lower = sys_u.str.head(SYSTEM_CHARS).str.to_lowercase()
        text = pl.select(
            pl.concat_str(
                [
                    sys_lower.gather(sys_inv[first]),
                    pl.lit("\n"),
                    self.lower_u.gather(self.prompt_inverse[first]),
                ]
            ).alias("text")
        ).to_series()
        return text, inverse.reshape(-1)

    @property
    def text_u(self) -> pl.Series:
        """Distinct (system, prompt) texts: lower-cased system window + newline + ``lower``."""
        return self._texts[0]

    @property
    def text_inverse(self) -> np.ndarray:
        """For each row, the index of its text in :attr:`text_u`."""
        return self._texts[1]

    @cached_property
    def units(self) -> pl.Series:
        """The distinct texts the pattern signals read: every distinct prompt's ``lower`` window,
        then every distinct system prompt's lower-cased first ``SYSTEM_CHARS`` (when there are any).

        A request's text is its system prompt and its prompt: a per-row result is the combination
        (:meth:`combine`) of the results of its two units, so a system prompt that an application
        sends with thousands of different prompts is read once, not once per prompt. (A pattern
        match spanning the end of the system prompt and the start of the prompt is not seen.)
        """
        parts = [self.lower_u]
        if self.system_u is not None:
            parts.append(self.system_u.str.head(SYSTEM_CHARS).str.to_lowercase())
        return pl.concat([p.rename("text") for p in parts])

    def combine(self, values: np.ndarray, how: str = "or") -> np.ndarray:
        """Per-row result from per-unit ``values`` (aligned with :attr:`units`): ``"or"`` (bitwise /
        logical) or ``"add"`` the prompt's and the system prompt's values."""
        n_p = len(self.prompt_u)
        out = values[:n_p][self.prompt_inverse]
        if self.system_u is not None:
            sys_vals = values[n_p:][self.system_inverse]
            out = out + sys_vals if how == "add" else out | sys_vals
        return out

    def split(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-row (prompt value, system prompt value) from per-unit ``values``; zeros (False) where a
        row has no system prompt."""
        n_p = len(self.prompt_u)
        prompt = values[:n_p][self.prompt_inverse]
        if self.system_u is None:
            return prompt, np.zeros_like(prompt)
        return prompt, values[n_p:][self.system_inverse]

    def evaluate_apart(self, exprs: list[pl.Expr]) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Like :meth:`evaluate`, but the prompt's and the system prompt's values kept apart."""
        out = self.units.to_frame("text").select(exprs)
        prompt, system = {}, {}
        for name in out.columns:
            col = out[name]
            col = col.fill_null(False) if col.dtype == pl.Boolean else col.fill_null(0)
            prompt[name], system[name] = self.split(col.to_numpy())
        return pl.DataFrame(prompt), pl.DataFrame(system)

    def evaluate(self, exprs: list[pl.Expr]) -> pl.DataFrame:
        """Evaluate expressions over column ``text`` of :attr:`units`; one output row per row, a
        count is the sum of the prompt's and the system prompt's counts, a boolean their OR."""
        out = self.units.to_frame("text").select(exprs)
        cols = {}
        for name in out.columns:
            col = out[name]
            if col.dtype == pl.Boolean:
                cols[name] = self.combine(col.fill_null(False).to_numpy(), "or")
            else:
                cols[name] = self.combine(col.fill_null(0).to_numpy(), "add")
        return pl.DataFrame(cols) if cols else pl.DataFrame()

    @cached_property
    def _shapes(self) -> tuple[np.ndarray, np.ndarray]:
        # masking replaces every digit run by a placeholder and no mask depends on a run's digits or
        # length, so prompts that differ only in their numbers have the same masked text: they are
        # masked and tokenised once. (Not for prompts longer than the mask windows, where a run's
        # length moves the cut.)
        long = pl.col("l").str.len_chars() > MASK_HEAD_CHARS + MASK_TAIL_CHARS
        key = self.lower_u.to_frame("l").select(
            pl.when(long).then(pl.col("l")).otherwise(pl.col("l").str.replace_all(r"\d+", "0")).alias("k")
        )["k"]
        _, first, inverse = np.unique(
            hash_series(key, self.seed).to_numpy(), return_index=True, return_inverse=True
        )
        return first, inverse.reshape(-1)

    @property
    def shape_inverse(self) -> np.ndarray:
        """For each row, the index of its prompt's shape in :attr:`masked_u` and :attr:`tokens`."""
        return self._shapes[1][self.prompt_inverse]

    @cached_property
    def masked_u(self) -> pl.Series:
        """Masked head and tail windows of each distinct prompt SHAPE (distinct prompts up to their
        numbers; see :attr:`shape_inverse`); the middle of a long prompt is not read."""
        low = pl.col("lower")
        long = low.str.len_chars() > MASK_HEAD_CHARS + MASK_TAIL_CHARS
        head = pl.when(long).then(low.str.head(MASK_HEAD_CHARS)).otherwise(low)
        tail = pl.when(long).then(low.str.tail(MASK_TAIL_CHARS)).otherwise(pl.lit(""))

        def mask(e: pl.Expr) -> pl.Expr:
            for pattern, repl in MASKS:
                e = e.str.replace_all(pattern, repl)
            return e

        # head and tail are masked apart (a code block cut open at the window edge stays in its half)
        frame = self._pframe[self._shapes[0]]
        masked = frame.select(pl.concat_str([mask(head), pl.lit("\n"), mask(tail)]).alias("m"))
        # the word views read at most WORD_HEAD_CHARS + WORD_TAIL_CHARS characters of masked text
        m = pl.col("m")
        cut = (
            pl.when(m.str.len_chars() > WORD_HEAD_CHARS + WORD_TAIL_CHARS)
            .then(pl.concat_str([m.str.head(WORD_HEAD_CHARS), pl.lit("\n"), m.str.tail(WORD_TAIL_CHARS)]))
            .otherwise(m)
        )
        return masked.select(cut.alias("masked"))["masked"]

    @cached_property
    def tokens(self) -> Tokens:
        """Filler-free words of every distinct prompt shape's masked text (see :class:`Tokens`)."""
        lists = self.masked_u.str.extract_all(WORD).fill_null([]).rechunk().to_arrow()
        if isinstance(lists, pa.ChunkedArray):
            lists = lists.combine_chunks()
        offsets = lists.offsets.to_numpy().astype(np.int64)
        words = pl.Series("w", lists.flatten(), dtype=pl.String)
        hashes = hash_series(words, self.seed).to_numpy().astype(np.uint64)
        kind_h, kind = _word_kinds(self.seed)
        kinds = pl.Series(hashes).replace_strict(kind_h, kind, default=0, return_dtype=pl.UInt8).to_numpy()
        row = np.repeat(np.arange(len(offsets) - 1, dtype=np.int32), np.diff(offsets))
        keep = kinds != 1
        index = np.arange(len(hashes), dtype=np.int64)
        if not keep.all():
            index = np.flatnonzero(keep)
            hashes, kinds, row = hashes[index], kinds[index], row[index]
        count = np.bincount(row, minlength=len(offsets) - 1).astype(np.int32)
        ends = np.cumsum(count, dtype=np.int64)
        starts = ends - count
        pos = (np.arange(len(row), dtype=np.int64) - starts[row]).astype(np.int32)
        return Tokens(
            words=words,
            index=index,
            hashes=hashes,
            row=row,
            pos=pos,
            rpos=count[row] - 1 - pos,
            stop=kinds == 2,
            count=count,
            starts=starts,
            ends=ends,
        )

    # --- row-level views (gathered from the distinct ones) -------------------------------------
    @property
    def prompt_window(self) -> pl.Series:
        return self.window_u.gather(self.prompt_inverse).rename("prompt_window")

    @property
    def lower(self) -> pl.Series:
        return self.lower_u.gather(self.prompt_inverse)

    @property
    def text(self) -> pl.Series:
        return self.text_u.gather(self.text_inverse)

    @property
    def masked(self) -> pl.Series:
        return self.masked_u.gather(self.shape_inverse)

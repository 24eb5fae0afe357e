"""The shared per-batch context: expensive text work done once and handed to every prompt signal.

Everything here is vectorised (polars string expressions, pyarrow, numpy); nothing loops over
rows in Python. Properties are computed lazily and cached, so a signal only pays for what it uses.

Text views (all bounded, so cost does not grow with pathological prompt lengths):

- ``prompt_window``: the prompt itself when it has at most ``HEAD_CHARS + TAIL_CHARS``
  characters, else its first ``HEAD_CHARS`` and last ``TAIL_CHARS`` characters (instructions and
  templates live at the ends of a prompt);
- ``lower``: ``prompt_window`` lower-cased;
- ``text``: lower-cased system prompt window (first ``SYSTEM_CHARS``) + newline + ``lower``: what
  the model was told, where an injected instruction may sit in either part;
- ``masked``: the head (``MASK_HEAD_CHARS``) and tail (``MASK_TAIL_CHARS``) of ``lower`` with
  filled-in values replaced by placeholders (code blocks, inline code, URLs, e-mails, LaTeX, quoted
  spans, numbers, list runs) and filler words (:data:`FILLER`) removed;
- ``words``: the words of ``masked`` (list column; punctuation is not a word).
"""

from __future__ import annotations

from functools import cached_property

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
#: a word of the masked text: letters, digits, combining marks, or a placeholder
WORD = r"[\p{L}\p{N}\p{M}\u27e6\u27e7]+"


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


def hash_series(s: pl.Series, seed: int) -> pl.Series:
    """Stable 64-bit xxhash of each string of ``s`` (null stays null)."""
    return s.to_frame("_v").select(plh.col("_v").nchash.xxhash64(seed=seed)).to_series().rename(s.name)


class PromptContext:
    """Shared, lazily computed views of one batch of interactions.

    ``batch`` has the columns of :data:`distillguard.schema.INTERACTIONS` (optional ones may be
    absent or all-null); ``seed`` seeds every hash and sketch; ``similarity_threshold`` is the
    near-duplicate intent (None for the default).
    """

    def __init__(
        self, batch: pa.RecordBatch | pa.Table, *, seed: int = 0, similarity_threshold: float | None = None
    ) -> None:
        table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
        self.table: pa.Table = table
        self.seed = int(seed)
        #: near-duplicate intent (None: the signal's default, ``near_duplicate.SIMILARITY_THRESHOLD``)
        self.similarity_threshold = similarity_threshold
        self.n = table.num_rows

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

    # --- text views ---------------------------------------------------------------------------
    @cached_property
    def _frame(self) -> pl.DataFrame:
        prompt = self.series("prompt")
        if prompt is None:
            prompt = pl.Series("prompt", [""] * self.n, dtype=pl.String)
        system = self.series("system") if self.has("system") else None
        cols = [prompt.cast(pl.String).fill_null("").rename("prompt")]
        if system is not None:
            cols.append(system.cast(pl.String).rename("system"))
        df = pl.DataFrame(cols)
        p = pl.col("prompt")
        window = (  # the prompt's head and tail
            pl.when(p.str.len_chars() > HEAD_CHARS + TAIL_CHARS)
            .then(pl.concat_str([p.str.head(HEAD_CHARS), pl.lit("\n"), p.str.tail(TAIL_CHARS)]))
            .otherwise(p)
        )
        exprs = [window.alias("prompt_window"), p.str.len_chars().cast(pl.Int32).alias("prompt_chars")]
        if system is not None:
            exprs.append(pl.col("system").str.head(SYSTEM_CHARS).str.to_lowercase().alias("system_lower"))
        df = df.with_columns(exprs).with_columns(pl.col("prompt_window").str.to_lowercase().alias("lower"))
        if system is not None:
            df = df.with_columns(
                pl.concat_str([pl.col("system_lower").fill_null(""), pl.lit("\n"), pl.col("lower")]).alias(
                    "text"
                )
            )
        else:
            df = df.with_columns(pl.col("lower").alias("text"))
        return df

    @property
    def prompt_window(self) -> pl.Series:
        return self._frame["prompt_window"]

    @property
    def prompt_chars(self) -> pl.Series:
        return self._frame["prompt_chars"]

    @property
    def lower(self) -> pl.Series:
        return self._frame["lower"]

    @property
    def text(self) -> pl.Series:
        return self._frame["text"]

    @property
    def system_raw(self) -> pl.Series | None:
        return self._frame["system"] if "system" in self._frame.columns else None

    @cached_property
    def masked(self) -> pl.Series:
        """Masked head and tail windows, filler words removed (the middle of a long prompt is not read)."""
        low = pl.col("lower")
        long = low.str.len_chars() > MASK_HEAD_CHARS + MASK_TAIL_CHARS
        head = pl.when(long).then(low.str.head(MASK_HEAD_CHARS)).otherwise(low)
        tail = pl.when(long).then(low.str.tail(MASK_TAIL_CHARS)).otherwise(pl.lit(""))

        def mask(e: pl.Expr) -> pl.Expr:
            for pattern, repl in MASKS:
                e = e.str.replace_all(pattern, repl)
            return e

        # head and tail are masked apart (a code block cut open at the window edge stays in its half)
        masked = self._frame.select(pl.concat_str([mask(head), pl.lit("\n"), mask(tail)]).alias("m"))
        # the word views read at most WORD_HEAD_CHARS + WORD_TAIL_CHARS characters of masked text
        m = pl.col("m")
        cut = (
            pl.when(m.str.len_chars() > WORD_HEAD_CHARS + WORD_TAIL_CHARS)
            .then(pl.concat_str([m.str.head(WORD_HEAD_CHARS), pl.lit("\n"), m.str.tail(WORD_TAIL_CHARS)]))
            .otherwise(m)
        )
        cut = cut.str.replace_all(rx(r"\b(?:" + "|".join(FILLER) + r")\b"), " ")
        return masked.select(cut.alias("masked"))["masked"]

    @cached_property
    def words(self) -> pl.Series:
        """Masked, filler-free words per prompt (list column; a prompt without words gives [])."""
        return self.masked.str.extract_all(WORD).fill_null([]).rename("words")

    def evaluate(self, exprs: list[pl.Expr]) -> pl.DataFrame:
        """Evaluate expressions over the text views (columns ``lower``, ``text``) in one pass."""
        return self._frame.select(exprs)


def distinct(values: pl.Series, seed: int = 0) -> tuple[pl.Series, np.ndarray]:
    """Distinct strings of ``values`` and, for each row, the index of its string among them.

    Deduplicates on a 64-bit xxhash of the text (sort-based, much faster than a string hash table
    for short texts); two different texts sharing a 64-bit hash would be treated as one, with
    probability about n^2 / 2^65 (1e-9 for 200K distinct texts).
    """
    h = hash_series(values.fill_null(""), seed).to_numpy()
    _, first, inverse = np.unique(h, return_index=True, return_inverse=True)
    return values.gather(first), inverse.reshape(-1)

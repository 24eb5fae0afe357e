"""Registered link signals: each names a kind of key two accounts can share.

A link signal turns the staged interactions (or the accounts table) into ``(account_id, kind, key, n,
share)`` rows: the account used ``key`` on ``n`` of its requests, ``share`` of its traffic (1.0 for
account-level keys such as a payment fingerprint). How rare a key is and how consistently an account
uses it decide how much it weighs (see :mod:`distillguard.linking.edges`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, TypeVar

import ibis
import ibis.expr.types as ir

from distillguard.accounts.counts import AccountCounts, account_totals
from distillguard.signals.base import Signal, register
from distillguard.stage import ND_BAND_COLUMNS

__all__ = [
    "KEY_SCHEMA",
    "LINK_SIGNALS",
    "PROFILE_SIGNALS",
    "LinkSignal",
    "account_totals",
    "all_keys",
    "fp_hex",
    "signal_keys",
]


@ibis.udf.scalar.builtin(name="hex")
def _hex(x: int) -> str:  # type: ignore[empty-body]
    """Upper-case hex of an integer (DuckDB and Spark both have ``hex``)."""


def fp_hex(v: ir.IntegerValue) -> ir.StringValue:
    """A 64-bit fingerprint as 16 lower-case hex digits."""
    return _hex(v).lower().lpad(16, "0")


class LinkSignal(Signal):
    """Base class for link signals."""

    level = "link"
    kind: ClassVar[str]
    #: weight of one unit of this kind of evidence in a pair's link weight
    kind_weight: ClassVar[float] = 1.0
    #: an account uses a key "consistently" when at least this share of its traffic carries it
    min_share: ClassVar[float] = 0.05
    #: staged column holding the key (row-level kinds), or None for account-level kinds
    column: ClassVar[str | None] = None
    #: show integer keys (fingerprints) as hex
    hex_key: ClassVar[bool] = True
    #: how the reasons name a key of this kind
    noun: ClassVar[str] = "key"
    #: the columns :meth:`key_rows` returns beside ``by``: together they are the key
    key_columns: ClassVar[tuple[str, ...]] = ("raw",)
    #: many keys per request: counted per account index (an integer: it groups much faster than the
    #: account id), and materialised on their own (see :func:`distillguard.pipeline._detect`)
    per_index: ClassVar[bool] = False

    @classmethod
    def key_rows(cls, staged: ir.Table, by: str = "account_id") -> ir.Table:
        """``(by, *key_columns)`` per interaction carrying a key (several rows when it carries several).

        The key is in its own type (a fingerprint stays an integer: counting on integers is much
        cheaper than on their text); :meth:`key_text` writes it once the rows are counted. ``by`` is
        the staged column that says whose key it is (an account id, an account index, a group)."""
        assert cls.column is not None
        t = staged.filter(staged[cls.column].notnull())
        return t.select(by, raw=t[cls.column])

    @classmethod
    def key_row_parts(cls, staged: ir.Table, by: str = "account_id") -> list[ir.Table]:
        """:meth:`key_rows` as disjoint parts whose union it is, no key in two parts (one part unless a
        kind's keys fall into families that never share a key), so that a caller can group one part
        at a time: each grouping then holds a fraction of the rows in memory."""
        return [cls.key_rows(staged, by)]

    @classmethod
    def key_text(cls, t: ir.Table) -> ir.StringValue:
        """The key as text (hex for fingerprints) from the :attr:`key_columns` of ``t``."""
        v = t.raw
        return fp_hex(v) if v.type().is_integer() and cls.hex_key else v.cast("string")

    @classmethod
    def key_fp(cls, t: ir.Table) -> ir.Value:
        """The fingerprint behind a hex key (its 64 bits, signed), or null when the key is not one."""
        v = t.raw
        return v.cast("int64") if v.type().is_integer() and cls.hex_key else ibis.null("int64")

    @classmethod
    def counted(cls, staged: ir.Table, counts: AccountCounts) -> tuple[str, ir.Table]:
        """``(by, table)``: the table has ``by`` (``account_id`` or ``aidx``), the key columns and ``n``,
        the requests of the account carrying the key."""
        by = "account_id"
        if cls.per_index:
            staged = staged.join(counts.totals.select("account_id", "aidx"), "account_id")
            by = "aidx"
        t = cls.key_rows(staged, by=by)
        return by, t.group_by([by, *cls.key_columns]).aggregate(n=lambda s: s.count())

    @classmethod
    def keys(cls, staged: ir.Table, accounts: ir.Table | None, counts: AccountCounts) -> ir.Table | None:
        """``(account_id, kind, key, n, share, fp)`` rows, or None when the columns are missing.

        Rows are counted per account and key in the key's own type (:meth:`counted`); only the rows
        that pass are joined to the account ids and written as text."""
        by, c = cls.counted(staged, counts)
        return cls._passing(by, c, counts)

    @classmethod
    def key_parts(
        cls, staged: ir.Table, accounts: ir.Table | None, counts: AccountCounts
    ) -> list[ir.Table] | None:
        """:meth:`keys` as disjoint parts whose union it is, one per part of :meth:`key_row_parts`."""
        k = cls.keys(staged, accounts, counts)
        return None if k is None else [k]

    @classmethod
    def _passing(cls, by: str, c: ir.Table, counts: AccountCounts) -> ir.Table:
        """The counted ``(by, key columns, n)`` rows that pass, joined to the account ids, as keys."""
        # most (account, key) counts are 1 (near-duplicate bands: 25M of 27M on the benchmark): drop
        # them before the join to the totals
        c = c.filter(c.n >= 2)
        c = c.join(counts.totals, by)
        c = c.mutate(share=c.n.cast("float64") / c.total)
        c = c.filter((c.share >= cls.min_share) & (c.n >= 2))
        return c.select(
            "account_id",
            kind=ibis.literal(cls.kind),
            key=cls.key_text(c),
            n="n",
            share="share",
            fp=cls.key_fp(c),
        )


@register
class SharedTemplate(LinkSignal):
    """Accounts that build a consistent share of their prompts on the same template (values masked)."""

    id = "link.template"
    requires = ("prompt",)
    kind = "template"
    column = "skeleton"
    noun = "template"

    @classmethod
    def counted(cls, staged: ir.Table, counts: AccountCounts) -> tuple[str, ir.Table]:
        return "aidx", counts.of_column("skeleton").rename(raw="fp")


#: rows a query groups where a kind's keys come in parts (the near-duplicate bands: a row a request each)
PART_ROWS = 8_000_000
T = TypeVar("T")


def part_groups(parts: Sequence[T], part_size: int, part_rows: int) -> list[Sequence[T]]:
    """``parts`` (each about ``part_size`` rows) in consecutive groups of at most ``part_rows`` rows
    (at least one part a group): what one query groups at a time."""
    per = max(1, part_rows // max(1, part_size))
    return [parts[i : i + per] for i in range(0, len(parts), per)]


@register
class SharedNearDuplicate(LinkSignal):
    """Accounts whose prompts are paraphrases of each other (shared MinHash LSH band)."""

    id = "link.near_duplicate"
    requires = ("prompt",)
    kind = "near_duplicate"
    column = "nd_band"
    noun = "near-duplicate prompt family"
    min_share = 0.08
    per_index = True  # 32 LSH bands per request

    @classmethod
    def key_rows(cls, staged: ir.Table, by: str = "account_id") -> ir.Table:
        return ibis.union(*cls.key_row_parts(staged, by))

    @classmethod
    def key_row_parts(cls, staged: ir.Table, by: str = "account_id") -> list[ir.Table]:
        # band by band: a key of one band never equals a key of another (each band's keys are
        # mixed with its index)
        return [cls._band(staged, c, by) for c in ND_BAND_COLUMNS]

    @classmethod
    def key_parts(
        cls, staged: ir.Table, accounts: ir.Table | None, counts: AccountCounts
    ) -> list[ir.Table] | None:
        # bands grouped together up to PART_ROWS rows a query (at full size one band a query: as one
        # query, :meth:`keys`, the quarter-size seed case ran out of memory at 4GB), the rows joined to
        # the account index once per query, not once per band (0.8 s of the 1.1M-row benchmark)
        ids = counts.totals.select("account_id", "aidx")
        rows_n = int(counts.totals.total.sum().to_pyarrow().as_py() or 0)  # (a band is a row a request)
        parts = []
        for cols in part_groups(ND_BAND_COLUMNS, rows_n, PART_ROWS):
            j = staged.select("account_id", *cols).join(ids, "account_id")
            rows = ibis.union(*[cls._band(j, c, "aidx") for c in cols])
            n = rows.group_by(["aidx", "raw"]).aggregate(n=lambda s: s.count())
            parts.append(cls._passing("aidx", n, counts))
        return parts

    @staticmethod
    def _band(staged: ir.Table, column: str, by: str) -> ir.Table:
        t = staged.filter(staged[column].notnull())
        return t.select(by, raw=t[column])


@register
class SharedInstruction(LinkSignal):
    """Accounts whose prompts open or close with the same fixed text (an injected instruction)."""

    id = "link.instruction"
    requires = ("prompt",)
    kind = "instruction"
    kind_weight = 0.7
    column = "instr_fp"
    noun = "fixed instruction"
    min_share = 0.2

    key_columns = ("side", "raw")

    @classmethod
    def key_rows(cls, staged: ir.Table, by: str = "account_id") -> ir.Table:
        h = staged.filter(staged.head_fp.notnull())
        h = h.select(by, side=ibis.literal(0, "int8"), raw=h.head_fp)
        t = staged.filter(staged.tail_fp.notnull())
        t = t.select(by, side=ibis.literal(1, "int8"), raw=t.tail_fp)
        return h.union(t)

    @classmethod
    def key_text(cls, t: ir.Table) -> ir.StringValue:
        return ibis.ifelse(t.side == 0, "h", "t").concat(fp_hex(t.raw))

    @classmethod
    def counted(cls, staged: ir.Table, counts: AccountCounts) -> tuple[str, ir.Table]:
        parts = [
            counts.of_column(col).select("aidx", side=ibis.literal(side, "int8"), raw="fp", n="n")
            for side, col in enumerate(("head_fp", "tail_fp"))
        ]
        return "aidx", ibis.union(*parts)


@register
class SharedSystemPrompt(LinkSignal):
    """Accounts sending the same system prompt (weak on its own: popular agents share one)."""

    id = "link.system_prompt"
    requires = ("system",)
    kind = "system_prompt"
    kind_weight = 0.5
    column = "system_fp"
    noun = "system prompt"
    min_share = 0.2


@register
class SharedIpPrefix(LinkSignal):
    """Accounts whose requests come from the same /24 (IPv4) or /48 (IPv6) prefix."""

    id = "link.ip_prefix"
    requires = ("ip",)
    kind = "ip_prefix"
    kind_weight = 0.6
    column = "ip24"
    noun = "IP prefix"
    min_share = 0.1


@register
class SharedAsn(LinkSignal):
    """Accounts whose requests come from the same autonomous system (weak: carriers and clouds are shared)."""

    id = "link.asn"
    requires = ("asn",)
    kind = "asn"
    kind_weight = 0.2
    column = "asn"
    noun = "ASN"
    hex_key = False
    min_share = 0.3


@register
class SharedUserAgent(LinkSignal):
    """Accounts using the same client string (weak: SDK versions are common)."""

    id = "link.user_agent"
    requires = ("user_agent",)
    kind = "user_agent"
    kind_weight = 0.15
    column = "user_agent"
    noun = "user agent"
    min_share = 0.5


@register
class SharedClientConfig(LinkSignal):
    """Accounts sending the same request parameters (max_tokens, tool count, temperature): a harness's
    fixed configuration. Weak on its own (SDK defaults are common): used to tell campaigns apart at
    attribution, not to link accounts in the detection graph."""

    id = "link.client_config"
    requires = ("max_tokens", "tools", "temperature")
    kind = "client_config"
    kind_weight = 0.3
    column = "client_config"
    noun = "request configuration"
    min_share = 0.2

    @classmethod
    def key_rows(cls, staged: ir.Table, by: str = "account_id") -> ir.Table:
        t = staged.filter(staged.max_tokens.notnull() | staged.tools.notnull() | staged.temperature.notnull())
        key = (
            ibis.literal("max_tokens=")
            .concat(t.max_tokens.cast("string").fill_null("-"))
            .concat(" tools=", t.tools.cast("string").fill_null("-"))
            .concat(" temperature=", t.temperature.round(3).cast("string").fill_null("-"))
        )
        return t.select(by, raw=key)


class _AccountKey(LinkSignal):
    """Base for keys read from the accounts table (share is 1.0)."""

    expr_name: ClassVar[str]

    @classmethod
    def key_expr(cls, a: ir.Table) -> ir.Value:
        return a[cls.expr_name].cast("string")

    @classmethod
    def keys(cls, staged: ir.Table, accounts: ir.Table | None, counts: AccountCounts) -> ir.Table | None:
        if accounts is None:
            return None
        a = accounts.join(counts.totals, "account_id")  # only accounts that have traffic
        k = cls.key_expr(a)
        out = a.select(
            "account_id",
            kind=ibis.literal(cls.kind),
            key=k,
            n=a.total,
            share=ibis.literal(1.0),
            fp=ibis.null("int64"),
        )
        return out.filter(out.key.notnull())


@register
class SharedPayment(_AccountKey):
    """Accounts paying with the same payment instrument (fingerprint)."""

    id = "link.payment"
    requires = ("accounts.payment_fingerprint",)
    kind = "payment"
    expr_name = "payment_fingerprint"
    noun = "payment instrument"


@register
class SignupBurst(_AccountKey):
    """Accounts created in the same hour on the same tier (a burst of sign-ups)."""

    id = "link.signup_burst"
    requires = ("accounts.created_at", "accounts.tier")
    kind = "signup_burst"
    kind_weight = 0.3
    noun = "sign-up hour"

    @classmethod
    def key_expr(cls, a: ir.Table) -> ir.Value:
        return a.created_at.truncate("h").cast("string").concat(" ", a.tier.fill_null("?"))


LINK_SIGNALS: tuple[type[LinkSignal], ...] = (
    SharedTemplate,
    SharedNearDuplicate,
    SharedInstruction,
    SharedSystemPrompt,
    SharedIpPrefix,
    SharedAsn,
    SharedUserAgent,
    SharedPayment,
    SignupBurst,
)

#: keys compared between groups at attribution but not linked in the detection graph (the scorer was
#: fitted on graphs without them)
PROFILE_SIGNALS: tuple[type[LinkSignal], ...] = (*LINK_SIGNALS, SharedClientConfig)

KIND_WEIGHT = {s.kind: s.kind_weight for s in LINK_SIGNALS}
KIND_NOUN = {s.kind: s.noun for s in PROFILE_SIGNALS}


#: the columns (and types) of every link signal's key rows
KEY_SCHEMA = {
    "account_id": "string",
    "kind": "string",
    "key": "string",
    "n": "int64",
    "share": "float64",
    "fp": "int64",
}


def signal_keys(
    signal: type[LinkSignal], staged: ir.Table, accounts: ir.Table | None, counts: AccountCounts
) -> ir.Table | None:
    """One signal's key rows in :data:`KEY_SCHEMA`, or None when its columns are missing."""
    k = signal.keys(staged, accounts, counts)
    return None if k is None else k.cast(KEY_SCHEMA)


def all_keys(
    staged: ir.Table,
    accounts: ir.Table | None,
    skip: set[str] = frozenset(),
    counts: AccountCounts | None = None,
) -> ir.Table | None:
    """Union of every available link signal's keys (skipping signal ids in ``skip``), or None when
    no signal has keys.

    ``counts``: :class:`AccountCounts` of ``staged`` when the caller has them (materialised); by
    default they are computed here."""
    if counts is None:
        counts = AccountCounts.of(staged)
    parts = [
        k
        for s in LINK_SIGNALS
        if s.id not in skip
        if (k := signal_keys(s, staged, accounts, counts)) is not None
    ]
    if not parts:
        return None
    return ibis.union(*parts) if len(parts) > 1 else parts[0]

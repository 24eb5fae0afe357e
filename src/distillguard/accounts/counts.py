"""Per-account counts that several stages read, computed once.

The account features (template and instruction concentration) and the link keys (shared templates,
shared instructions) both need, for every account, how many of its requests carry each template or
instruction fingerprint: about 2.6M (account, fingerprint) groups on 1.1M requests, the costliest
grouping after the near-duplicate bands. :class:`AccountCounts` holds those counts and each
account's request total; the pipeline materialises it once and hands it to both stages.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from distillguard.engine import materialise

#: staged fingerprint columns counted per account; ``column`` in the counts is the index here
FINGERPRINTS = ("skeleton", "head_fp", "tail_fp")


def account_totals(staged: ir.Table) -> ir.Table:
    """``(account_id, aidx, total)``: each account's requests and a dense integer index (by id)."""
    totals = staged.group_by("account_id").aggregate(total=lambda s: s.count())
    return totals.mutate(aidx=(ibis.row_number().over(order_by="account_id")).cast("int32"))


def fingerprint_counts(staged: ir.Table, totals: ir.Table) -> tuple[ir.Table, ...]:
    """``(aidx, fp, n)`` per :data:`FINGERPRINTS` column: requests of account ``aidx`` whose column
    is ``fp`` (non-null values only). Grouped on the account index: integers group much faster than
    account ids. One table per column, each over only the columns it reads: as one query (a union over
    a join of the whole staged table) DuckDB materialised that join for the three branches and ran out
    of memory at 2GB on 44M requests; apart, each grouping spills as it needs to."""
    ids = totals.select("account_id", "aidx")
    parts = []
    for col in FINGERPRINTS:
        p = staged.filter(staged[col].notnull())
        p = p.select("account_id", fp=p[col].cast("int64")).join(ids, "account_id")
        parts.append(p.group_by(["aidx", "fp"]).aggregate(n=lambda s: s.count()))
    return tuple(parts)


@dataclass(frozen=True)
class AccountCounts:
    """Per-account counts (expressions, or tables once :meth:`materialise` d)."""

    #: ``(account_id, aidx, total)`` (:func:`account_totals`)
    totals: ir.Table
    #: ``(aidx, fp, n)`` per :data:`FINGERPRINTS` column, in that order (:func:`fingerprint_counts`)
    fingerprints: tuple[ir.Table, ...]

    @classmethod
    def of(cls, staged: ir.Table) -> AccountCounts:
        """The counts as expressions over ``staged`` (computed wherever they are used)."""
        totals = account_totals(staged)
        return cls(totals, fingerprint_counts(staged, totals))

    @classmethod
    def materialised(cls, con: ibis.BaseBackend, staged: ir.Table, tag: str = "") -> AccountCounts:
        """The counts computed once, as tables ``account_totals<tag>`` and ``fingerprint_counts<tag>_<i>``
        (one query at a time)."""
        totals = materialise(con, f"account_totals{tag}", account_totals(staged))
        parts = fingerprint_counts(staged, totals)
        tables = tuple(
            materialise(con, f"fingerprint_counts{tag}_{i}", p) for i, p in enumerate(parts)
        )
        return cls(totals, tables)

    def of_column(self, name: str) -> ir.Table:
        """``(aidx, fp, n)`` for one of :data:`FINGERPRINTS`."""
        return self.fingerprints[FINGERPRINTS.index(name)]

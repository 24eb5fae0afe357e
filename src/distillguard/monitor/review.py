"""Analysts' decisions on campaigns, kept in the state and applied by every later run.

- **confirm**: the campaign is real. Its accounts keep their actions; accounts that join it after
  the confirmation are proposed for the campaign's action (``export --actions``).
- **dismiss** (with a reason): a legitimate group. Its accounts stay unflagged in later runs while
  its evidence has not grown materially, which means: the accounts the scan now puts in the group
  that were not in it at the dismissal number at least :data:`MATERIAL_MIN_NEW` and at least
  :data:`MATERIAL_SHARE` of the group's size at the dismissal. A class or a product a person
  dismissed changes slowly; a campaign hiding behind a dismissal has to recruit accounts to grow
  its harvest, and then it is flagged again and the change says why.

The latest decision on a campaign wins; a decision on an alias applies to the campaign it merged into.
"""

from __future__ import annotations

import csv
import datetime as dt
import getpass
from pathlib import Path
from typing import Any

import polars as pl

from distillguard.errors import InputError, UsageError
from distillguard.jsonl import json_objects
from distillguard.monitor.registry import resolve

DECISIONS = ("confirm", "dismiss")
MATERIAL_MIN_NEW = 5
MATERIAL_SHARE = 0.5


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def record(
    decisions: list[dict[str, Any]],
    registry: dict[str, Any],
    campaign: str,
    decision: str,
    reason: str | None,
    where: str = "",
) -> dict[str, Any]:
    """Append one decision (validated) to ``decisions``; returns it."""
    if decision not in DECISIONS:
        raise UsageError(f"{where}decision {decision!r}: expected one of {', '.join(DECISIONS)}")
    sid = resolve(registry, campaign)
    if sid is None:
        known = sorted(registry["campaigns"])
        raise UsageError(
            f"{where}no campaign {campaign!r} in this state"
            + (
                f" (known: {', '.join(known[:6])}{' ...' if len(known) > 6 else ''})"
                if known
                else " (no campaign has been flagged yet)"
            )
        )
    if decision == "dismiss" and not (reason or "").strip():
        raise UsageError(f"{where}dismissing {campaign} needs a reason (--reason TEXT)")
    rc = registry["campaigns"][sid]
    d = {
        "campaign_id": sid,
        "named_as": campaign if campaign != sid else None,
        "decision": decision,
        "reason": (reason or "").strip(),
        "by": _who(),
        "at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "members": sorted(rc["members"]),
    }
    decisions.append(d)
    return d


def read_decisions_file(path: Path) -> list[tuple[str, str, str | None, str]]:
    """Rows ``(campaign_id, decision, reason, where)`` of a CSV (header: campaign_id,decision,reason)
    or JSON Lines file of decisions."""
    rows: list[tuple[str, str, str | None, str]] = []
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        for i, rec in json_objects(path):
            if "campaign_id" not in rec or "decision" not in rec:
                raise InputError(path, f"line {i}: expected an object with campaign_id and decision")
            rows.append(
                (str(rec["campaign_id"]), str(rec["decision"]), rec.get("reason"), f"{path} line {i}: ")
            )
        return rows
    if not path.is_file():
        raise UsageError(f"{path}: decisions file not found")
    try:
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or not {"campaign_id", "decision"} <= set(reader.fieldnames):
                raise InputError(
                    path, "expected a CSV header with campaign_id, decision and (for dismiss) reason"
                )
            for i, rec in enumerate(reader, start=1):
                rows.append(
                    (rec["campaign_id"] or "", rec["decision"] or "", rec.get("reason"), f"{path} row {i}: ")
                )
    except UnicodeDecodeError:
        raise InputError(path, "not UTF-8 text") from None
    return rows


def latest(decisions: list[dict[str, Any]], registry: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The decision in force per stable campaign id (aliases resolved)."""
    out: dict[str, dict[str, Any]] = {}
    for d in decisions:
        sid = resolve(registry, d["campaign_id"])
        if sid is not None:
            out[sid] = d
    return out


def apply(
    accounts: pl.DataFrame,
    campaigns: list[dict[str, Any]],
    in_force: dict[str, dict[str, Any]],
) -> tuple[pl.DataFrame, list[dict[str, Any]]]:
    """Apply the decisions in force to a run's accounts table and campaigns (stable ids already).

    Returns the accounts table and change events. Each decided campaign gets a ``review`` entry."""
    events: list[dict[str, Any]] = []
    unflag: dict[str, str] = {}
    for c in campaigns:
        d = in_force.get(c["campaign_id"])
        if d is None:
            continue
        members = set(c.get("account_ids") or [])
        at = set(d["members"])
        new = sorted(members - at)
        review = {
            "decision": d["decision"],
            "reason": d["reason"],
            "by": d["by"],
            "at": d["at"],
            "accounts_at_decision": len(at),
            "joined_since": new,
        }
        if d["decision"] == "dismiss":
            material = len(new) >= MATERIAL_MIN_NEW and len(new) >= MATERIAL_SHARE * max(len(at), 1)
            review["material_growth"] = material
            if material:
                review["note"] = (
                    f"dismissed on {d['at'][:10]}, flagged again: {len(new)} accounts joined "
                    f"since (the group had {len(at)})"
                )
                events.append(
                    {
                        "type": "dismissal_reopened",
                        "campaign_id": c["campaign_id"],
                        "joined_since": len(new),
                        "accounts_at_decision": len(at),
                    }
                )
            else:
                text = f"campaign {c['campaign_id']} dismissed by {d['by']} on {d['at'][:10]}: {d['reason']}"
                review["note"] = text
                for a in members:
                    unflag[a] = text
        else:
            review["note"] = f"confirmed by {d['by']} on {d['at'][:10]}" + (
                f"; {len(new)} accounts joined since, proposed for the same action" if new else ""
            )
            if new:
                events.append(
                    {"type": "confirmed_campaign_grew", "campaign_id": c["campaign_id"], "proposed": new}
                )
        c["review"] = review
    if unflag:
        m = pl.DataFrame(
            {"account_id": list(unflag), "_dismissed": list(unflag.values())},
            schema={"account_id": accounts.schema["account_id"], "_dismissed": pl.String},
        )
        accounts = (
            accounts.join(m, on="account_id", how="left")
            .with_columns(
                flagged=pl.when(pl.col("_dismissed").is_not_null()).then(False).otherwise(pl.col("flagged")),
                reasons=pl.when(pl.col("_dismissed").is_not_null())
                .then(pl.col("_dismissed") + pl.lit("; ") + pl.col("reasons").fill_null(""))
                .otherwise(pl.col("reasons")),
            )
            .drop("_dismissed")
        )
    return accounts, events

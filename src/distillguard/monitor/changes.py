"""What changed since the previous run (``OUT/changes.jsonl``) and its delivery to a webhook.

Delivery is at least once: a batch the webhook did not accept (no 2xx answer, a timeout, a refused
connection) stays in the state's outbox and is sent again, before the newer ones, by the next run.
Each batch carries a ``batch_id`` (state id + run number) a receiver can use to drop repeats.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from distillguard import __version__


def diff_runs(
    last: dict[str, Any], flagged: set[str], members_active: dict[str, bool]
) -> list[dict[str, Any]]:
    """Account-level changes and campaigns that stopped appearing, against the previous run.

    ``members_active``: for each campaign the previous run flagged that this one does not (under its
    id or the id it merged into), whether any of its members sent a request since the previous run's
    data ended."""
    events: list[dict[str, Any]] = []
    before = set(last.get("flagged", []))
    new = sorted(flagged - before)
    gone = sorted(before - flagged)
    if new:
        events.append({"type": "newly_flagged", "accounts": new})
    if gone:
        events.append({"type": "no_longer_flagged", "accounts": gone})
    for cid in sorted(members_active):
        if members_active[cid]:
            events.append(
                {
                    "type": "campaign_unflagged",
                    "campaign_id": cid,
                    "detail": "its accounts are still active but none is flagged now",
                }
            )
        else:
            events.append(
                {
                    "type": "campaign_quiet",
                    "campaign_id": cid,
                    "detail": "none of its accounts sent a request since the previous run",
                }
            )
    return events


@dataclass
class Delivery:
    delivered: int = 0
    pending: int = 0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"delivered": self.delivered, "pending": self.pending, "error": self.error}


def post(url: str, batch: dict[str, Any], timeout: float = 10.0) -> str | None:
    """POST one batch as JSON; None when the receiver answered 2xx, else what went wrong."""
    body = json.dumps(batch, ensure_ascii=False).encode("utf-8")
    req = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": f"distillguard/{__version__}",
            "Idempotency-Key": str(batch.get("batch_id", "")),
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            if 200 <= resp.status < 300:
                return None
            return f"HTTP {resp.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code} {exc.reason}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return str(reason)


def deliver(
    url: str | None, outbox: list[dict[str, Any]], timeout: float = 10.0
) -> tuple[list[dict], Delivery]:
    """Send the outbox in order, stopping at the first failure; returns what is still pending."""
    d = Delivery()
    if url is None:
        return outbox, d
    pending = list(outbox)
    while pending:
        problem = post(url, pending[0], timeout)
        if problem is not None:
            d.error = f"{url}: {problem}"
            break
        pending.pop(0)
        d.delivered += 1
    d.pending = len(pending)
    return pending, d

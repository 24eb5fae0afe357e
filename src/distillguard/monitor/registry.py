"""Stable campaign ids across runs.

A run's campaigns come out of the scan with ids derived from their members (``DG-`` + a hash), which
change as soon as one account joins. The registry keeps the id a campaign got from the run that
first flagged it:

- each registry campaign goes *home* to the run's campaign holding most of its known members;
- a run's campaign that is home to one registry campaign takes its id; home to several (a merge):
  the one flagged first survives, the others become its aliases;
- a registry campaign whose members are spread over several of the run's campaigns (a split) keeps
  its id on the part holding most of them; the other parts get new ids recorded as split from it;
- accounts in a run's campaign that were not known members (a standby pool, new sign-ups) are
  attached to it as *joined*, with the evidence the scan gave for them.

Membership is cumulative: an account stays a member after it goes quiet (a banned account's
successors link to it through the window's traffic), and it belongs to one campaign at a time.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Assignment:
    """What :func:`assign` decided for one run."""

    #: the run's campaign id -> the stable id
    ids: dict[str, str]
    #: change events (dicts with "type"), in a deterministic order
    events: list[dict[str, Any]] = field(default_factory=list)
    #: stable id -> accounts that joined it in this run
    joined: dict[str, list[str]] = field(default_factory=dict)


def empty_registry() -> dict[str, Any]:
    return {"campaigns": {}, "aliases": {}}


def resolve(registry: dict[str, Any], cid: str) -> str | None:
    """The stable id ``cid`` names (itself, or the survivor of a merge it was part of), else None."""
    seen = set()
    while cid in registry["aliases"] and cid not in seen:
        seen.add(cid)
        cid = registry["aliases"][cid]
    return cid if cid in registry["campaigns"] else None


def _fresh_id(registry: dict[str, Any], proposed: str) -> str:
    taken = set(registry["campaigns"]) | set(registry["aliases"])
    if proposed not in taken:
        return proposed
    k = 2
    while f"{proposed}-{k}" in taken:
        k += 1
    return f"{proposed}-{k}"


def assign(
    registry: dict[str, Any],
    campaigns: dict[str, set[str]],
    run: int,
    day: str,
    evidence: dict[str, str] | None = None,
) -> Assignment:
    """Map this run's campaigns (id -> member accounts) onto the registry, updating it in place."""
    evidence = evidence or {}
    reg = registry["campaigns"]
    owner: dict[str, str] = {}
    for rid, rc in reg.items():
        for a in rc["members"]:
            owner[a] = rid
    # overlap[rid][cid] = members of rid in the run's campaign cid
    overlap: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for cid, members in campaigns.items():
        for a in members:
            rid = owner.get(a)
            if rid is not None:
                overlap[rid][cid] += 1
    order = sorted(campaigns, key=lambda c: (-len(campaigns[c]), c))
    rank = {c: i for i, c in enumerate(order)}
    home: dict[str, str] = {}
    for rid, by in overlap.items():
        home[rid] = min(by, key=lambda c: (-by[c], rank[c]))
    homes: dict[str, list[str]] = defaultdict(list)
    for rid, cid in home.items():
        homes[cid].append(rid)

    out = Assignment(ids={})
    for cid in order:
        members = campaigns[cid]
        rids = sorted(homes.get(cid, []), key=lambda r: (reg[r]["first_flagged_run"], -overlap[r][cid], r))
        if not rids:
            parents = [r for r in overlap if cid in overlap[r]]
            split_from = min(parents, key=lambda r: (-overlap[r][cid], r)) if parents else None
            sid = _fresh_id(registry, cid)
            reg[sid] = {
                "first_flagged_run": run,
                "first_flagged_day": day,
                "first_size": len(members),
                "members": [],
                "aliases": [],
                "split_from": split_from,
            }
            if split_from is not None:
                out.events.append(
                    {
                        "type": "campaign_split",
                        "campaign_id": sid,
                        "split_from": split_from,
                        "accounts": len(members),
                    }
                )
            else:
                out.events.append({"type": "new_campaign", "campaign_id": sid, "accounts": len(members)})
            known: set[str] = set()
        else:
            sid = rids[0]
            known = set(reg[sid]["members"])
            for other in rids[1:]:
                oc = reg.pop(other)
                known |= set(oc["members"])
                reg[sid]["members"] = sorted(set(reg[sid]["members"]) | set(oc["members"]))
                reg[sid]["aliases"] = sorted({*reg[sid]["aliases"], other, *oc["aliases"]})
                registry["aliases"][other] = sid
                for a in oc["aliases"]:
                    registry["aliases"][a] = sid
                out.events.append({"type": "campaigns_merged", "campaign_id": sid, "alias": other})
        out.ids[cid] = sid
        # accounts that were members of another registry campaign move here
        for a in members:
            prev = owner.get(a)
            if prev is not None and prev in reg and prev != sid:
                reg[prev]["members"] = [m for m in reg[prev]["members"] if m != a]
        joined = sorted(members - known) if rids else []
        reg[sid]["members"] = sorted(set(reg[sid]["members"]) | members)
        reg[sid]["last_flagged_run"] = run
        reg[sid]["last_flagged_day"] = day
        reg[sid]["status"] = "active"
        if joined:
            out.joined[sid] = joined
            out.events.append(
                {
                    "type": "campaign_grew",
                    "campaign_id": sid,
                    "accounts": len(members),
                    "joined": [{"account_id": a, "evidence": evidence.get(a, "")} for a in joined],
                }
            )
    return out


def not_flagged_now(registry: dict[str, Any], assignment: Assignment) -> list[str]:
    """Registry campaigns this run did not flag (ids, sorted)."""
    now = set(assignment.ids.values())
    return sorted(r for r in registry["campaigns"] if r not in now)

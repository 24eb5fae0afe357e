"""Each campaign member's clause in its reasons, and what the campaign's summary names as shared.

A campaign's summary names its strongest shared evidence (:func:`tie_items`); a member's clause
quotes it with the part the member holds itself (:func:`held`), and a member that holds none is not
shown the campaign's keys as its own: its clause gives the request-profile similarity that put it
(or its linked group) in the campaign instead (:func:`account_campaign_text`).
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import polars as pl

from distillguard.campaigns.attribute import Attribution
from distillguard.engine import to_polars

#: a template or prompt family is named among a campaign's shared evidence when at least this share
#: of its accounts use it (a template three of forty accounts sent once each is not what ties them)
TIE_ACCOUNT_SHARE = 0.1


def tie_items(ind: dict, n_accounts: int) -> list[tuple[str, str, str]]:
    """The campaign's shared evidence that its summary names: ``(kind, value, clause)``. Content first:
    the two templates or near-duplicate prompt families used by the most accounts, each by at least
    :data:`TIE_ACCOUNT_SHARE` of them, at most one family (a paraphrasing campaign shares families,
    not templates; one family shows in several bands); then infrastructure."""
    floor = max(2, TIE_ACCOUNT_SHARE * n_accounts)
    content = [
        (t["accounts"], t["interactions"], "template", t["fingerprint"],
         f"template {t['fingerprint'][:10]}… used by {t['accounts']} accounts "
         f"({t['interactions']:,} requests)")
        for t in ind["templates"]
    ] + [
        (f["accounts"], f["interactions"], "prompt_family", f["family"],
         f"near-duplicate prompt family {f['family'][:10]}… used consistently by {f['accounts']} accounts "
         f"({f['interactions']:,} requests)")
        for f in ind.get("prompt_families", [])[:1]
    ]
    content.sort(key=lambda r: (-r[0], -r[1], r[2], r[3]))
    items = [(kind, value, clause) for n, _, kind, value, clause in content if n >= floor][:2]
    for p in ind["payment_fingerprints"][:1]:
        items.append(("payment", p["value"], f"a payment instrument shared by {p['accounts']} accounts"))
    for p in ind["ip_prefixes"][:1]:
        items.append(("ip_prefix", p["value"], f"IP prefix {p['value']} shared by {p['accounts']} accounts"))
    for b in ind["signup_bursts"][:1]:
        items.append(("signup_burst", b["start"], f"{b['accounts']} sign-ups in the hour from {b['start']}"))
    return items


def tie_text(ind: dict, n_accounts: int) -> str:
    """The campaign's shared evidence in one clause, strongest first."""
    items = tie_items(ind, n_accounts)
    return "shared " + ", ".join(c for *_, c in items) if items else ""


_HELD_SCHEMA = {"account_id": pl.Utf8, "kind": pl.Utf8, "value": pl.Utf8, "n": pl.Int64}


def held(
    rows: ir.Table, accounts: ir.Table | None, families: ir.Table, ids: pl.DataFrame, ties: pl.DataFrame
) -> pl.DataFrame:
    """``account_id, kind, value, n``: which of its campaign's named shared keys each member holds
    itself, and on how many of its requests (1 for account facts).

    ``ties``: ``campaign_id, kind, value, raw`` (``raw``: a template's fingerprint as the staged
    integer); ``rows``: the members' staged rows (``member, campaign_id, skeleton, ip24``);
    ``accounts``: the members' account rows with their ``campaign_id`` (None: no accounts table);
    ``families``: the members' near-duplicate keys (``account_id, campaign_id, key, n``); ``ids``:
    ``member, account_id``."""
    out = [pl.DataFrame(schema=_HELD_SCHEMA)]
    for kind, col, key in (("template", "skeleton", "raw"), ("ip_prefix", "ip24", "value")):
        t = ties.filter(pl.col("kind") == kind)
        if not t.height:
            continue
        m = ibis.memtable(t.select("campaign_id", "value", pl.col(key).alias(col)).to_arrow())
        j = rows.join(m, ["campaign_id", col])
        n = to_polars(j.group_by(["member", "value"]).aggregate(n=j.count()))
        out.append(n.join(ids, on="member").select("account_id", kind=pl.lit(kind), value="value", n="n"))
    fam = ties.filter(pl.col("kind") == "prompt_family")
    if fam.height:
        named = ibis.memtable(fam.select("campaign_id", key="value").to_arrow())
        k = families.join(named, ["campaign_id", "key"])
        out.append(to_polars(
            k.select("account_id", kind=ibis.literal("prompt_family"), value=k.key, n=k.n.cast("int64"))
        ))
    facts = ties.filter(pl.col("kind").is_in(["payment", "signup_burst"]))
    if accounts is not None and facts.height:
        a = to_polars(accounts.select(
            "account_id", "campaign_id", "payment_fingerprint", hour=accounts.created_at.truncate("h")
        )).with_columns(hour=pl.col("hour").dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
        for kind, col in (("payment", "payment_fingerprint"), ("signup_burst", "hour")):
            t = facts.filter(pl.col("kind") == kind).select("campaign_id", pl.col("value").alias(col))
            hit = a.join(t, on=["campaign_id", col])
            out.append(hit.select("account_id", kind=pl.lit(kind), value=col, n=pl.lit(1, pl.Int64)))
    return pl.concat(out)


def _held_text(kind: str, value: str, n: int) -> str:
    if kind == "template":
        return f"template {value[:10]}… on {n:,} of its requests"
    if kind == "prompt_family":
        return f"near-duplicate prompt family {value[:10]}… on {n:,} of its requests"
    if kind == "ip_prefix":
        return f"IP prefix {value} on {n:,} of its requests"
    return "the shared payment instrument" if kind == "payment" else "a sign-up in that hour"


def account_campaign_text(
    account_campaign: pl.DataFrame,
    campaigns: list[dict],
    holdings: pl.DataFrame,
    attr: Attribution | None,
) -> pl.DataFrame:
    """``account_id, text``: each member's campaign clause, for its reasons.

    The campaign's shared keys are quoted with the ones this account holds itself; an account that
    holds none is not shown the campaign's keys as if they were its own: the clause says so and,
    when attribution put it (or its linked group) in the campaign by request-profile similarity,
    gives that similarity and the keys behind it."""
    info = {c["campaign_id"]: (c["accounts"], tie_text(c["indicators"], c["accounts"])) for c in campaigns}
    own: dict[str, list[tuple[int, str]]] = {}
    order = {"template": 0, "prompt_family": 1, "payment": 2, "ip_prefix": 3, "signup_burst": 4}
    for aid, kind, value, n in holdings.sort("account_id", "kind", "value").iter_rows():
        own.setdefault(aid, []).append((order[kind], _held_text(kind, value, n)))
    how: dict[str, str] = {}
    if attr is not None and attr.merges.height:
        g = attr.groups
        size = g.group_by("unit").agg(k=pl.len())
        # a unit's own merge (as the merged one), else the first merge into it (the unit others joined)
        m = attr.merges.with_row_index("i")
        first = pl.concat([
            m.select(unit="merged", i="i", sim="similarity", ev="evidence", as_merged=pl.lit(0)),
            m.select(unit="into", i="i", sim="similarity", ev="evidence", as_merged=pl.lit(1)),
        ]).sort("unit", "as_merged", "i").unique("unit", keep="first", maintain_order=True)
        rows = g.join(size, on="unit").join(first, on="unit")
        for aid, k, sim, ev in rows.select("account_id", "k", "sim", "ev").iter_rows():
            who = "it" if k == 1 else f"its linked group of {k} flagged accounts"
            how[aid] = f"{who} joined by request-profile similarity {sim:.2f} ({ev.replace('; ', ', ')})"
    texts = []
    for aid, cid in account_campaign.select("account_id", "campaign_id").iter_rows():
        n_acc, tie = info[cid]
        base = f"campaign {cid} ({n_acc} accounts)"
        mine = [t for _, t in sorted(own.get(aid, []))]
        if mine:
            text = f"{base}: {tie}; this account: {', '.join(mine)}"
        else:
            text = base + ("; this account holds none of its shared keys" if tie else "")
            if aid in how:
                text += f"; {how[aid]}"
        texts.append((aid, text))
    return pl.DataFrame(texts, schema={"account_id": pl.Utf8, "text": pl.Utf8}, orient="row")

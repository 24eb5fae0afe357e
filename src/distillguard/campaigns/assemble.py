"""From flagged accounts and clusters to campaigns: ids, merged pools, indicators, look-alikes, edges.

A campaign is the set of flagged accounts of one cluster (at least two). Clusters whose flagged
accounts are tied by strong content links (a standby pool that reuses the primary pool's templates
after the primary went quiet) are merged first. Every per-campaign statistic is an ibis expression
over the staged interactions of the campaign members; Python only walks campaigns, never rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import ibis
import ibis.expr.types as ir
import igraph as ig
import numpy as np
import polars as pl
import pyarrow as pa
import xxhash

from distillguard.campaigns.attribute import Attribution, AttributionParams, attribute
from distillguard.campaigns.cluster import campaign_id
from distillguard.campaigns.features import CONTENT_KINDS
from distillguard.engine import materialise
from distillguard.linking.keys import KIND_NOUN, fp_hex

MAX_EDGES_OUT = 50_000
#: merge two campaign clusters when their content links per flagged account of the smaller reach this
MERGE_LINK_PER_ACCOUNT = 0.5


@dataclass
class Assembled:
    campaigns: list[dict]
    account_campaign: pl.DataFrame  # account_id, campaign_id
    campaign_evidence: pl.DataFrame  # account_id, text
    lookalikes: list[dict]
    edges: pa.Table
    #: attribution details: fragments merged into campaigns and the keys behind each merge
    attribution: Attribution | None = field(default=None)


def _merge_groups(fl: pl.DataFrame, edges: pl.DataFrame) -> pl.DataFrame:
    """``account_id, group``: flagged clustered accounts, clusters merged along strong content links."""
    cl = fl.select("account_id", "cluster")
    counts = cl.group_by("cluster").agg(nf=pl.len()).filter(pl.col("nf") >= 2)
    cl = cl.join(counts.select("cluster"), on="cluster")
    if cl.height == 0:
        return pl.DataFrame(schema={"account_id": pl.Utf8, "group": pl.Int64})
    content = pl.col("kinds").list.eval(pl.element().is_in(list(CONTENT_KINDS))).list.any()
    x = (
        edges.filter(content)
        .join(cl.rename({"account_id": "src", "cluster": "c1"}), on="src")
        .join(cl.rename({"account_id": "dst", "cluster": "c2"}), on="dst")
    )
    x = x.filter(pl.col("c1") != pl.col("c2")).with_columns(
        a=pl.min_horizontal("c1", "c2"), b=pl.max_horizontal("c1", "c2")
    )
    between = x.sort(["a", "b", "src", "dst"]).group_by(["a", "b"]).agg(w=pl.col("weight").sum())
    nf = dict(zip(counts["cluster"].to_list(), counts["nf"].to_list(), strict=True))
    ids = sorted(nf)
    pos = {c: i for i, c in enumerate(ids)}
    pairs = [
        (pos[a], pos[b])
        for a, b, w in between.iter_rows()  # cluster pairs, not rows of traffic
        if w >= MERGE_LINK_PER_ACCOUNT * min(nf[a], nf[b])
    ]
    g = ig.Graph(n=len(ids), edges=pairs)
    memb = g.connected_components().membership
    cmap = pl.DataFrame({"cluster": ids, "group": np.asarray(memb, dtype=np.int64)})
    return cl.join(cmap, on="cluster").select("account_id", "group")


def _top_rows(frame: pl.DataFrame, by: str, n: int) -> pl.DataFrame:
    """The top-n rows of each campaign in ``frame`` by ``by`` descending; ties are broken by the other
    plain columns (in the frame's order), so the choice does not depend on the order rows arrived in."""
    ties = [
        c
        for c, t in frame.schema.items()
        if c not in ("campaign_id", by) and not isinstance(t, pl.List | pl.Struct | pl.Array)
    ]
    return (
        frame.sort(["campaign_id", by, *ties], descending=[False, True] + [False] * len(ties))
        .group_by("campaign_id", maintain_order=True)
        .head(n)
    )


def _top(frame: pl.DataFrame, by: str, n: int) -> dict[str, list[dict]]:
    """campaign_id -> top-n rows (as dicts) of ``frame``, chosen by :func:`_top_rows`."""
    if frame.height == 0:
        return {}
    f = _top_rows(frame, by, n)
    out: dict[str, list[dict]] = {}
    for cid, part in f.group_by("campaign_id", maintain_order=True):
        out[str(cid[0])] = part.drop("campaign_id").to_dicts()
    return out


def _pl(t: ir.Table) -> pl.DataFrame:
    df = pl.from_arrow(t.to_pyarrow())
    assert isinstance(df, pl.DataFrame)
    return df


def _iso(v: object) -> str | None:
    return None if v is None else v.strftime("%Y-%m-%dT%H:%M:%SZ")  # type: ignore[attr-defined]


def assemble_campaigns(
    *,
    con: ibis.BaseBackend,
    staged: ir.Table,
    accounts: ir.Table | None,
    feats: pl.DataFrame,
    scored: pl.DataFrame,
    clusters: pl.DataFrame,
    edges: pl.DataFrame,
    keys: ir.Table,
    cluster_feats: pl.DataFrame,
    threshold: float,
    params: AttributionParams = AttributionParams(),
) -> Assembled:
    attr = attribute(
        con=con,
        staged=staged,
        keys=keys,
        edges=edges,
        flagged=scored.filter(pl.col("flagged"))["account_id"],
        params=params,
    )
    sizes = attr.groups.group_by("group").agg(n=pl.len()).filter(pl.col("n") >= 2)
    groups = attr.groups.join(sizes.select("group"), on="group").select("account_id", "group")
    # deterministic campaign ids from the sorted member ids
    gid = groups.group_by("group").agg(members=pl.col("account_id").sort())
    gid = gid.with_columns(
        campaign_id=pl.col("members").map_elements(lambda m: campaign_id(m.to_list()), return_dtype=pl.Utf8)
    )
    account_campaign = groups.join(gid.select("group", "campaign_id"), on="group").select(
        "account_id", "campaign_id"
    )

    campaigns: list[dict] = []
    evidence = pl.DataFrame(schema={"account_id": pl.Utf8, "text": pl.Utf8})
    if account_campaign.height:
        campaigns, held = _describe(con, staged, accounts, account_campaign, scored, feats, keys)
        _attach_attribution(campaigns, attr, account_campaign, params.merge_similarity)
        evidence = account_campaign_text(account_campaign, campaigns, held, attr)

    lookalikes = _lookalikes(clusters, scored, feats, edges, cluster_feats, account_campaign, threshold)
    edges_out = _edges_out(edges, scored, account_campaign, lookalikes)
    return Assembled(campaigns, account_campaign, evidence, lookalikes, edges_out, attr)


#: the staged columns that :func:`_describe` reads
_DESCRIBED = (
    "account_id",
    "request_id",
    "ts",
    "input_tokens",
    "output_tokens",
    "cot",
    "capability",
    "model",
    "country",
    "skeleton",
    "ip24",
    "asn",
    "user_agent",
    "system_fp",
)


def _examples(
    staged: ir.Table, members: ir.Table, key: str, text: str, picked: pl.DataFrame, ids: tuple[str, ...]
) -> pl.DataFrame:
    """``campaign_id, <key>, request_id, text``: the ``text`` column of the requests named in the
    ``ids`` columns of ``picked`` (rows ``campaign_id, <key>, ...``), read from the staged rows only
    for those few requests (the lowest text when a request id repeats)."""
    want = pl.concat([picked.select(pl.col(c).alias("request_id")) for c in ids]).drop_nulls().unique()
    if want.height == 0:
        return pl.DataFrame(
            schema={"campaign_id": pl.Utf8, key: picked.schema[key], "request_id": pl.Utf8, "text": pl.Utf8}
        )
    t = staged.filter(staged.request_id.isin(want["request_id"].to_list()) & staged[text].notnull())
    t = t.join(members, "account_id")
    return _pl(t.group_by(["campaign_id", key, "request_id"]).aggregate(text=t[text].min()))


def _describe(
    con: ibis.BaseBackend,
    staged: ir.Table,
    accounts: ir.Table | None,
    account_campaign: pl.DataFrame,
    scored: pl.DataFrame,
    feats: pl.DataFrame,
    keys: ir.Table,
) -> tuple[list[dict], pl.DataFrame]:
    """The campaigns' descriptions (sorted by confidence), and which of its campaign's named shared
    keys each member holds itself (:func:`_held`)."""
    # each member also as an integer: distinct members are counted on it (on the seed case's 28.7M
    # campaign requests, counting distinct account ids as text took most of this stage)
    members_pl = account_campaign.sort("account_id").with_row_index("member").cast({"member": pl.Int32})
    members = materialise(con, "campaign_members", members_pl.to_arrow())
    # only the columns described below (not the near-duplicate bands: 32 integers per request)
    # example texts are read later, for the few requests reported
    s = staged.select(
        *_DESCRIBED,
        has_prompt=staged.prompt_head.notnull(),
        has_system=staged.system_head.notnull(),
    )
    s = s.join(members, "account_id")
    s = materialise(con, "campaign_staged", s.drop("account_id"))
    day = s.ts.date().cast("string")

    base = _pl(
        s.group_by("campaign_id").aggregate(
            interactions=s.count(),
            first_seen=s.ts.min(),
            last_seen=s.ts.max(),
            tok_in=s.input_tokens.sum(),
            tok_out=s.output_tokens.sum(),
            cot_share=ibis.ifelse(s.cot >= 0.5, 1, 0).cast("float64").mean(),
            accounts=s.member.nunique(),
        )
    )
    caps = _pl(s.group_by(["campaign_id", "capability"]).aggregate(n=s.count()))
    models = _pl(
        s.filter(s.model.notnull()).group_by(["campaign_id", "model"]).aggregate(n=lambda t: t.count())
    )
    countries = _pl(
        s.filter(s.country.notnull()).group_by(["campaign_id", "country"]).aggregate(n=lambda t: t.count())
    )
    timeline = _pl(
        s.group_by(["campaign_id", day.name("day"), s.model.fill_null("?").name("model")])
        .aggregate(requests=s.count())
        .order_by(["campaign_id", "day", "model"])
    )

    # shared templates: counts first, then the example texts of the five reported per campaign only
    # (ex1/ex2: the text of the lowest/highest request id that has one, as arg_min/arg_max would give)
    tf = s.filter(s.skeleton.notnull())
    stats = _pl(
        tf.group_by(["campaign_id", "skeleton"])
        .aggregate(
            interactions=tf.count(),
            accounts=tf.member.nunique(),
            ex1_id=tf.request_id.min(),
            ex2_id=tf.request_id.max(),
            t1=tf.request_id.min(where=tf.has_prompt),
            t2=tf.request_id.max(where=tf.has_prompt),
        )
        .filter(lambda t: t.accounts >= 2)
        .mutate(fingerprint=lambda t: fp_hex(t.skeleton))
    )
    templates = pl.DataFrame()
    if stats.height:
        # fingerprint (unique in a campaign) first among the tie-breakers, as in the reported rows
        picked = _top_rows(
            stats.select("campaign_id", "fingerprint", "interactions", "accounts", "skeleton", "t1", "t2"),
            "interactions",
            5,
        ).join(stats.select("campaign_id", "skeleton", "ex1_id", "ex2_id"), on=["campaign_id", "skeleton"])
        texts = _examples(staged, members, "skeleton", "prompt_head", picked, ("t1", "t2"))
        for i in (1, 2):
            picked = picked.join(
                texts.rename({"request_id": f"t{i}", "text": f"ex{i}"}),
                on=["campaign_id", "skeleton", f"t{i}"],
                how="left",
            )
        templates = picked.select(
            "campaign_id", "fingerprint", "interactions", "accounts", "ex1_id", "ex1", "ex2_id", "ex2"
        )
    ipf = s.filter(s.ip24.notnull())
    ips = _pl(
        ipf.group_by(["campaign_id", ipf.ip24.name("value")])
        .aggregate(accounts=ipf.member.nunique(), interactions=ipf.count())
        .filter(lambda t: t.accounts >= 2)
    )
    # near-duplicate prompt families (a paraphrased template, a harvest's shared questions): the
    # members that use one consistently, from the weighted keys (what linked them)
    fk = keys.filter(keys.kind == "near_duplicate").join(members, "account_id")
    families = _pl(
        fk.group_by(["campaign_id", fk.key.name("family")])
        .aggregate(accounts=fk.count(), interactions=fk.n.sum())
        .filter(lambda t: t.accounts >= 2)
    )
    af = s.filter(s.asn.notnull())
    asns = _pl(
        af.group_by(["campaign_id", af.asn.name("value")])
        .aggregate(accounts=af.member.nunique(), interactions=af.count())
        .filter(lambda t: t.accounts >= 2)
    )
    uf = s.filter(s.user_agent.notnull())
    uas = _pl(
        uf.group_by(["campaign_id", uf.user_agent.name("value")])
        .aggregate(accounts=uf.member.nunique())
        .filter(lambda t: t.accounts >= 2)
    )
    sf = s.filter(s.system_fp.notnull())
    sstats = _pl(
        sf.group_by(["campaign_id", "system_fp"])
        .aggregate(accounts=sf.member.nunique(), t1=sf.request_id.min(where=sf.has_system))
        .filter(lambda t: t.accounts >= 2)
        .mutate(fingerprint=lambda t: fp_hex(t.system_fp))
    )
    sysp = pl.DataFrame()
    if sstats.height:
        picked = _top_rows(
            sstats.select("campaign_id", "fingerprint", "accounts", "system_fp", "t1"), "accounts", 3
        )
        texts = _examples(staged, members, "system_fp", "system_head", picked, ("t1",))
        picked = picked.join(
            texts.rename({"request_id": "t1", "text": "example"}),
            on=["campaign_id", "system_fp", "t1"],
            how="left",
        )
        sysp = picked.select("campaign_id", "fingerprint", "accounts", "example")

    pay = signups = bursts = pl.DataFrame()
    if accounts is not None:
        a = accounts.join(members, "account_id")
        pf = a.filter(a.payment_fingerprint.notnull())
        pay = _pl(
            pf.group_by(["campaign_id", pf.payment_fingerprint.name("value")])
            .aggregate(accounts=pf.account_id.nunique())
            .filter(lambda t: t.accounts >= 2)
        )
        cf = a.filter(a.created_at.notnull())
        signups = _pl(
            cf.group_by(["campaign_id", cf.created_at.date().cast("string").name("day")])
            .aggregate(accounts=cf.count())
            .order_by(["campaign_id", "day"])
        )
        hour = cf.created_at.truncate("h")
        bursts = _pl(
            cf.group_by(
                ["campaign_id", hour.name("start"), cf.tier.fill_null("unknown").name("tier")]
            ).aggregate(accounts=cf.count())
        )

    conf = (
        scored.join(account_campaign, on="account_id")
        .sort("campaign_id", "account_id")  # a fixed order for the float mean
        .group_by("campaign_id")
        .agg(confidence=pl.col("score").mean(), ids=pl.col("account_id").sort())
    )

    top_caps = _top(caps, "n", 20)
    top_models = _top(models, "n", 20)
    top_countries = _top(countries, "n", 20)
    top_templates = _top(templates, "interactions", 5) if templates.height else {}
    top_ips = _top(ips, "accounts", 5)
    top_families = _top(families, "accounts", 5)
    top_asns = _top(asns, "accounts", 5)
    top_uas = _top(uas, "accounts", 3)
    top_sys = _top(sysp, "accounts", 3) if sysp.height else {}
    top_pay = _top(pay, "accounts", 5) if pay.height else {}
    tl = _top(timeline.with_columns(o=pl.int_range(pl.len()).reverse()), "o", 10_000)
    su = _top(signups.with_columns(o=pl.int_range(pl.len()).reverse()), "o", 10_000) if signups.height else {}
    bu: dict[str, list[dict]] = {}
    if bursts.height:
        b = (
            bursts.sort("campaign_id", "start", "tier")
            .group_by(["campaign_id", "start"])
            .agg(accounts=pl.col("accounts").sum(), tiers=pl.struct("tier", "accounts"))
        )
        b = b.filter(pl.col("accounts") >= 3)
        bu = _top(b, "accounts", 5)
    confd = {r["campaign_id"]: r for r in conf.to_dicts()}

    campaigns = []
    ties: list[tuple[str, str, str]] = []  # (campaign_id, kind, value) of each campaign's named keys
    for r in base.to_dicts():  # one iteration per campaign
        cid = r["campaign_id"]
        n_int = int(r["interactions"])
        capd = {c["capability"] or "unknown": round(c["n"] / n_int, 4) for c in top_caps.get(cid, [])}
        ind = {
            "templates": [
                {
                    "fingerprint": t["fingerprint"],
                    "interactions": int(t["interactions"]),
                    "accounts": int(t["accounts"]),
                    "examples": [{"request_id": t["ex1_id"], "text": (t["ex1"] or "")[:300]}]
                    + (
                        [{"request_id": t["ex2_id"], "text": (t["ex2"] or "")[:300]}]
                        if t["ex2_id"] != t["ex1_id"]
                        else []
                    ),
                }
                for t in top_templates.get(cid, [])
            ],
            "payment_fingerprints": [
                {"value": p["value"], "accounts": int(p["accounts"])} for p in top_pay.get(cid, [])
            ],
            "ip_prefixes": [
                {"value": p["value"], "accounts": int(p["accounts"]), "interactions": int(p["interactions"])}
                for p in top_ips.get(cid, [])
            ],
            "prompt_families": [
                {"family": f["family"], "accounts": int(f["accounts"]),
                 "interactions": int(f["interactions"])}
                for f in top_families.get(cid, [])
            ],
            "asns": [
                {
                    "value": int(p["value"]),
                    "accounts": int(p["accounts"]),
                    "interactions": int(p["interactions"]),
                }
                for p in top_asns.get(cid, [])
            ],
            "signup_bursts": [
                {
                    "start": _iso(b["start"]),
                    "end": _iso(b["start"] + _HOUR),
                    "accounts": int(b["accounts"]),
                    "tiers": {t["tier"]: int(t["accounts"]) for t in b["tiers"]},
                }
                for b in bu.get(cid, [])
            ],
            "user_agents": [
                {"value": u["value"], "accounts": int(u["accounts"])} for u in top_uas.get(cid, [])
            ],
            "system_prompts": [
                {
                    "fingerprint": p["fingerprint"],
                    "accounts": int(p["accounts"]),
                    "example": (p["example"] or "")[:300],
                }
                for p in top_sys.get(cid, [])
            ],
        }
        top_cap = max(capd.items(), key=lambda kv: kv[1]) if capd else ("unknown", 0.0)
        tie = _tie(ind, int(r["accounts"]))
        n_acc = int(r["accounts"])
        cot = float(r["cot_share"] or 0.0)
        cot_txt = f", {100 * cot:.0f}% asking for chain-of-thought" if cot >= 0.01 else ""
        summary = (
            f"{n_acc} accounts sent {n_int:,} requests between {r['first_seen']:%d %b} and "
            f"{r['last_seen']:%d %b %Y}, {100 * top_cap[1]:.0f}% of them {top_cap[0].replace('_', ' ')}"
            f"{cot_txt}{'; ' + tie if tie else ''}."
        )
        campaigns.append(
            {
                "campaign_id": cid,
                "accounts": n_acc,
                "interactions": n_int,
                "first_seen": _iso(r["first_seen"]),
                "last_seen": _iso(r["last_seen"]),
                "capabilities": dict(sorted(capd.items(), key=lambda kv: -kv[1])),
                "confidence": round(float(confd[cid]["confidence"]), 4),
                "summary": summary,
                "account_ids": list(confd[cid]["ids"]),
                "tokens": {"input": int(r["tok_in"] or 0), "output": int(r["tok_out"] or 0)},
                "models": {m["model"]: int(m["n"]) for m in top_models.get(cid, [])},
                "countries": {c["country"]: int(c["n"]) for c in top_countries.get(cid, [])},
                "cot_share": round(float(r["cot_share"] or 0.0), 4),
                "timeline": [
                    {"day": t["day"], "model": t["model"], "requests": int(t["requests"])}
                    for t in tl.get(cid, [])
                ],
                "signups": [{"day": t["day"], "accounts": int(t["accounts"])} for t in su.get(cid, [])],
                "indicators": ind,
            }
        )
        ties += [(cid, kind, value) for kind, value, _ in _tie_items(ind, int(r["accounts"]))]
    campaigns.sort(key=lambda c: (-c["confidence"], c["campaign_id"]))
    ties_df = pl.DataFrame(
        ties, schema={"campaign_id": pl.Utf8, "kind": pl.Utf8, "value": pl.Utf8}, orient="row"
    )
    return campaigns, _held(s, accounts, members_pl, ties_df, keys)


_HOUR = __import__("datetime").timedelta(hours=1)


def _attach_attribution(
    campaigns: list[dict], attr: Attribution, account_campaign: pl.DataFrame, similarity: float
) -> None:
    """Add ``attribution`` to each campaign: how many fragments it was built from and, for each merge
    of two fragments, the profile similarity and the shared keys that made it (strongest first)."""
    unit_c = attr.groups.join(account_campaign, on="account_id").select("unit", "campaign_id").unique("unit")
    frags = unit_c.group_by("campaign_id").agg(units=pl.len())
    m = attr.merges.join(unit_c.rename({"unit": "into"}), on="into")
    m = m.sort(["campaign_id", "similarity", "into", "merged"], descending=[False, True, False, False])
    by_c: dict[str, list[dict]] = {}
    for cid, part in m.group_by("campaign_id", maintain_order=True):  # one group per campaign
        by_c[str(cid[0])] = part.select("similarity", "evidence").head(20).to_dicts()
    nf = dict(zip(frags["campaign_id"].to_list(), frags["units"].to_list(), strict=True))
    for c in campaigns:
        c["attribution"] = {
            "units": int(nf.get(c["campaign_id"], 1)),
            "how": "Leiden fragments of flagged accounts merged while their key-usage profiles have cosine "
            f">= {similarity:g} (ASN mix and request parameters may veto a merge)",
            "merges": by_c.get(c["campaign_id"], []),
        }


#: a template or prompt family is named among a campaign's shared evidence when at least this share
#: of its accounts use it (a template three of forty accounts sent once each is not what ties them)
TIE_ACCOUNT_SHARE = 0.1


def _tie_items(ind: dict, n_accounts: int) -> list[tuple[str, str, str]]:
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


def _tie(ind: dict, n_accounts: int) -> str:
    """The campaign's shared evidence in one clause, strongest first."""
    items = _tie_items(ind, n_accounts)
    return "shared " + ", ".join(c for *_, c in items) if items else ""


def _signed64(hex_fp: str) -> int:
    """The signed 64-bit integer behind a fingerprint's hex (:func:`~distillguard.linking.keys.fp_hex`)."""
    v = int(hex_fp, 16)
    return v - (1 << 64) if v >= 1 << 63 else v


_HELD_SCHEMA = {"account_id": pl.Utf8, "kind": pl.Utf8, "value": pl.Utf8, "n": pl.Int64}


def _held(
    s: ir.Table, accounts: ir.Table | None, members: pl.DataFrame, ties: pl.DataFrame, keys: ir.Table
) -> pl.DataFrame:
    """``account_id, kind, value, n``: which of its campaign's named shared keys (``ties``: ``campaign_id,
    kind, value``) each member holds itself, and on how many of its requests (1 for account facts)."""
    out = [pl.DataFrame(schema=_HELD_SCHEMA)]
    ids = members.select("member", "account_id")
    for kind, col in (("template", "skeleton"), ("ip_prefix", "ip24")):
        t = ties.filter(pl.col("kind") == kind)
        if not t.height:
            continue
        key = t["value"].map_elements(_signed64, return_dtype=pl.Int64) if kind == "template" else t["value"]
        m = ibis.memtable(t.select("campaign_id", "value").with_columns(key.alias(col)))
        j = s.join(m, ["campaign_id", col])
        n = _pl(j.group_by(["member", "value"]).aggregate(n=j.count()))
        out.append(n.join(ids, on="member").select("account_id", kind=pl.lit(kind), value="value", n="n"))
    fam = ties.filter(pl.col("kind") == "prompt_family")
    if fam.height:
        m = ibis.memtable(fam.select("campaign_id", key="value").to_arrow())
        k = keys.filter(keys.kind == "near_duplicate").join(
            ibis.memtable(members.select("account_id", "campaign_id").to_arrow()), "account_id"
        )
        k = k.join(m, ["campaign_id", "key"])
        out.append(
            _pl(k.select("account_id", kind=ibis.literal("prompt_family"), value=k.key, n=k.n.cast("int64")))
        )
    facts = ties.filter(pl.col("kind").is_in(["payment", "signup_burst"]))
    if accounts is not None and facts.height:
        a = accounts.join(ibis.memtable(members.select("account_id", "campaign_id").to_arrow()), "account_id")
        a = _pl(a.select("account_id", "campaign_id", "payment_fingerprint", hour=a.created_at.truncate("h")))
        a = a.with_columns(hour=pl.col("hour").dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
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
    held: pl.DataFrame,
    attr: Attribution | None,
) -> pl.DataFrame:
    """``account_id, text``: each member's campaign clause, for its reasons.

    The campaign's shared keys are quoted with the ones this account holds itself; an account that
    holds none is not shown the campaign's keys as if they were its own: the clause says so and,
    when attribution put it (or its linked group) in the campaign by request-profile similarity,
    gives that similarity and the keys behind it."""
    info = {c["campaign_id"]: (c["accounts"], _tie(c["indicators"], c["accounts"])) for c in campaigns}
    own: dict[str, list[tuple[int, str]]] = {}
    order = {"template": 0, "prompt_family": 1, "payment": 2, "ip_prefix": 3, "signup_burst": 4}
    for aid, kind, value, n in held.sort("account_id", "kind", "value").iter_rows():
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


def _lookalikes(
    clusters: pl.DataFrame,
    scored: pl.DataFrame,
    feats: pl.DataFrame,
    edges: pl.DataFrame,
    cluster_feats: pl.DataFrame,
    account_campaign: pl.DataFrame,
    threshold: float,
    min_size: int = 3,
    limit: int = 50,
) -> list[dict]:
    """Clusters that look linked but were not made campaigns (no flagged majority), with why not."""
    m = clusters.join(scored.select("account_id", "score", "flagged"), on="account_id").join(
        feats.select("account_id", "interactions"), on="account_id"
    )
    g = (
        m.group_by("cluster")
        .agg(
            accounts=pl.len(),
            interactions=pl.col("interactions").sum(),
            top_score=pl.col("score").max(),
            flagged=pl.col("flagged").sum(),
            examples=pl.col("account_id").sort().head(5),
            ids=pl.col("account_id").sort(),
        )
        .filter((pl.col("accounts") >= min_size) & (pl.col("flagged") * 2 < pl.col("accounts")))
    )
    if g.height == 0:
        return []
    cmap = clusters
    ie = (
        edges.join(cmap.rename({"account_id": "src", "cluster": "c1"}), on="src")
        .join(cmap.rename({"account_id": "dst", "cluster": "c2"}), on="dst")
        .filter(pl.col("c1") == pl.col("c2"))
    )
    kinds = (
        ie.group_by(["c1", "kind"]).agg(n=pl.len()).sort(["c1", "n", "kind"], descending=[False, True, False])
    )
    kinds = kinds.group_by("c1", maintain_order=True).first().rename({"c1": "cluster"})
    g = g.join(kinds.select("cluster", "kind"), on="cluster", how="left").join(
        cluster_feats.drop("size", "interactions"), on="cluster", how="left"
    )
    g = g.sort(["accounts", "cluster"], descending=[True, False]).head(limit)
    out = []
    for r in g.iter_rows(named=True):  # one per look-alike group (bounded)
        noun = KIND_NOUN.get(r["kind"] or "", "links")
        out.append(
            {
                "group_id": "LA-" + xxhash.xxh64("\n".join(r["ids"]).encode()).hexdigest()[:8],
                "kind": r["kind"] or "mixed",
                "accounts": int(r["accounts"]),
                "interactions": int(r["interactions"]),
                "top_score": round(float(r["top_score"]), 4),
                "why_not": (
                    f"{r['accounts']} accounts linked mainly by shared {noun}, "
                    f"but their traffic looks ordinary: "
                    f"{100 * r['cluster.cot_share']:.0f}% chain-of-thought requests, "
                    f"{100 * r['cluster.capability_focus']:.0f}% on harvested capabilities, "
                    f"{100 * r['cluster.content_sharing']:.0f}% of links from shared templates; "
                    f"the highest account "
                    f"score {r['top_score']:.2f} is below the threshold {threshold:.2f}"
                    + (f" ({r['flagged']} flagged on their own evidence)." if r["flagged"] else ".")
                ),
                "example_accounts": list(r["examples"]),
            }
        )
    return out


def _edges_out(
    edges: pl.DataFrame, scored: pl.DataFrame, account_campaign: pl.DataFrame, lookalikes: list[dict]
) -> pa.Table:
    """Edges touching flagged accounts or examined look-alike groups, strongest first, bounded."""
    keep = scored.filter(pl.col("flagged")).select("account_id")
    la_ids = [a for g in lookalikes for a in g["example_accounts"]]
    keep = pl.concat([keep, pl.DataFrame({"account_id": la_ids}, schema={"account_id": pl.Utf8})]).unique()
    ks = keep["account_id"].implode()
    e = edges.filter(pl.col("src").is_in(ks) | pl.col("dst").is_in(ks))
    e = e.join(
        account_campaign.rename({"account_id": "src", "campaign_id": "c1"}), on="src", how="left"
    ).join(account_campaign.rename({"account_id": "dst", "campaign_id": "c2"}), on="dst", how="left")
    e = e.with_columns(
        campaign_id=pl.when(pl.col("c1") == pl.col("c2"))
        .then(pl.col("c1"))
        .otherwise(pl.coalesce("c1", "c2"))
    )
    e = e.sort(["weight", "src", "dst"], descending=[True, False, False]).head(MAX_EDGES_OUT)
    return e.select("src", "dst", "kind", pl.col("weight").cast(pl.Float64), "campaign_id").to_arrow()

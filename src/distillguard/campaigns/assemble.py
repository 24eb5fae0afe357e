"""From flagged accounts to campaigns: ids, indicators, look-alikes, edges.

Attribution (:mod:`distillguard.campaigns.attribute`) groups the flagged accounts; a group of at
least two is a campaign, with an id from its sorted member ids. Every per-campaign statistic is an
ibis expression over the staged interactions of the campaign members; Python only walks campaigns,
never rows. Each member's campaign clause for its reasons is :mod:`distillguard.campaigns.clauses`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import ibis
import ibis.expr.types as ir
import polars as pl
import pyarrow as pa
import xxhash

from distillguard.campaigns.attribute import Attribution, AttributionParams, attribute
from distillguard.campaigns.clauses import account_campaign_text, held, tie_items, tie_text
from distillguard.campaigns.cluster import campaign_id
from distillguard.engine import materialise, to_polars
from distillguard.linking.keys import KIND_NOUN, fp_hex

MAX_EDGES_OUT = 50_000


@dataclass
class Assembled:
    campaigns: list[dict]
    account_campaign: pl.DataFrame  # account_id, campaign_id
    campaign_evidence: pl.DataFrame  # account_id, text
    lookalikes: list[dict]
    edges: pa.Table
    #: attribution details: fragments merged into campaigns and the keys behind each merge
    attribution: Attribution | None = field(default=None)


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
        campaigns, holdings = _describe(con, staged, accounts, account_campaign, scored, feats, keys)
        _attach_attribution(campaigns, attr, account_campaign, params.merge_similarity)
        evidence = account_campaign_text(account_campaign, campaigns, holdings, attr)

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
    return to_polars(t.group_by(["campaign_id", key, "request_id"]).aggregate(text=t[text].min()))


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
    keys each member holds itself (:func:`~distillguard.campaigns.clauses.held`)."""
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

    base = to_polars(
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
    caps = to_polars(s.group_by(["campaign_id", "capability"]).aggregate(n=s.count()))
    models = to_polars(
        s.filter(s.model.notnull()).group_by(["campaign_id", "model"]).aggregate(n=lambda t: t.count())
    )
    countries = to_polars(
        s.filter(s.country.notnull()).group_by(["campaign_id", "country"]).aggregate(n=lambda t: t.count())
    )
    timeline = to_polars(
        s.group_by(["campaign_id", day.name("day"), s.model.fill_null("?").name("model")])
        .aggregate(requests=s.count())
        .order_by(["campaign_id", "day", "model"])
    )

    # shared templates: counts first, then the example texts of the five reported per campaign only
    # (ex1/ex2: the text of the lowest/highest request id that has one, as arg_min/arg_max would give)
    tf = s.filter(s.skeleton.notnull())
    stats = to_polars(
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
    ips = to_polars(
        ipf.group_by(["campaign_id", ipf.ip24.name("value")])
        .aggregate(accounts=ipf.member.nunique(), interactions=ipf.count())
        .filter(lambda t: t.accounts >= 2)
    )
    # near-duplicate prompt families (a paraphrased template, a harvest's shared questions): the
    # members that use one consistently, from the weighted keys (what linked them)
    fk = keys.filter(keys.kind == "near_duplicate").join(members, "account_id")
    families = to_polars(
        fk.group_by(["campaign_id", fk.key.name("family")])
        .aggregate(accounts=fk.count(), interactions=fk.n.sum())
        .filter(lambda t: t.accounts >= 2)
    )
    af = s.filter(s.asn.notnull())
    asns = to_polars(
        af.group_by(["campaign_id", af.asn.name("value")])
        .aggregate(accounts=af.member.nunique(), interactions=af.count())
        .filter(lambda t: t.accounts >= 2)
    )
    uf = s.filter(s.user_agent.notnull())
    uas = to_polars(
        uf.group_by(["campaign_id", uf.user_agent.name("value")])
        .aggregate(accounts=uf.member.nunique())
        .filter(lambda t: t.accounts >= 2)
    )
    sf = s.filter(s.system_fp.notnull())
    sstats = to_polars(
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
    a = accounts.join(members, "account_id") if accounts is not None else None
    if a is not None:
        pf = a.filter(a.payment_fingerprint.notnull())
        pay = to_polars(
            pf.group_by(["campaign_id", pf.payment_fingerprint.name("value")])
            .aggregate(accounts=pf.account_id.nunique())
            .filter(lambda t: t.accounts >= 2)
        )
        cf = a.filter(a.created_at.notnull())
        signups = to_polars(
            cf.group_by(["campaign_id", cf.created_at.date().cast("string").name("day")])
            .aggregate(accounts=cf.count())
            .order_by(["campaign_id", "day"])
        )
        hour = cf.created_at.truncate("h")
        bursts = to_polars(
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
        tie = tie_text(ind, int(r["accounts"]))
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
        ties += [(cid, kind, value) for kind, value, _ in tie_items(ind, int(r["accounts"]))]
    campaigns.sort(key=lambda c: (-c["confidence"], c["campaign_id"]))
    ties_df = pl.DataFrame(
        ties, schema={"campaign_id": pl.Utf8, "kind": pl.Utf8, "value": pl.Utf8}, orient="row"
    )
    # a named template's fingerprint as the integer the staged rows carry (from its counts above)
    fp_raw = (stats.select("campaign_id", value="fingerprint", raw="skeleton") if stats.height
              else pl.DataFrame(schema={"campaign_id": pl.Utf8, "value": pl.Utf8, "raw": pl.Int64}))
    ties_df = ties_df.join(fp_raw, on=["campaign_id", "value"], how="left").with_columns(
        raw=pl.when(pl.col("kind") == "template").then(pl.col("raw"))
    )
    return campaigns, held(s, a, fk, members_pl.select("member", "account_id"), ties_df)


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
        top = f"the highest account score {r['top_score']:.2f}"
        reached = r["top_score"] >= threshold
        if r["flagged"]:
            verdict = f" ({r['flagged']} flagged on their own evidence)."
        elif reached:  # (but stopped by too few requests or the peer gate)
            verdict = (", but too few requests or no other accounts with evidence like it (peer gate) left "
                       "it unflagged.")
        else:
            verdict = "."
        reach = "reaches" if reached else "is below"
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
                    f"{top} {reach} the threshold {threshold:.2f}{verdict}"
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

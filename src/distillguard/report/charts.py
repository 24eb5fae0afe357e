"""Chart builders: each returns a Vega-Lite spec (a dict) made with Altair, or ``None`` without data.

The report embeds the specs as JSON and renders them with the one inlined vega-embed bundle, so the
HTML needs no network. Data is aggregated before it reaches a chart (days, bins), so a campaign of
25,000 accounts gives the same small spec as one of 20.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import polars as pl

from distillguard.report.graph import GraphView

#: A fixed colour per evidence kind, so every graph in a report uses the same legend.
EDGE_COLOURS = {
    "template": "#d62728",
    "near_duplicate": "#ff7f0e",
    "payment": "#9467bd",
    "ip_prefix": "#1f77b4",
    "asn": "#17becf",
    "signup_burst": "#2ca02c",
    "system_prompt": "#8c564b",
    "sync": "#e377c2",
    "user_agent": "#bcbd22",
    "instruction": "#7f3b08",
}
WIDTH = 640


def _spec(chart: alt.TopLevelMixin, datasets: dict[str, list[dict]] | None = None) -> dict[str, Any]:
    """The chart's Vega-Lite dict; ``datasets`` (records of the charts' ``alt.Data(name=...)``) go into
    the spec's top-level ``datasets`` after Altair is done: Altair copies and converts inline records
    value by value, which took most of a report's time for graphs of 2,000 edges."""
    # not validated here: checking every inline data record against the Vega-Lite schema took ~4 s of
    # each scan's report (graphs of 2,000 edges); tests validate the specs of a whole report instead
    spec = chart.to_dict(validate=False)
    spec.pop("$schema", None)  # a URL; nothing fetches it, but the report keeps no external references
    if datasets:
        spec["datasets"] = {**spec.get("datasets", {}), **datasets}
    return spec


def timeline_chart(timeline: list[dict] | None, title: str = "Requests per day, by model") -> dict | None:
    """Stacked daily requests split by model; a dashed rule marks the first day of each later model."""
    if not timeline:
        return None
    df = pl.DataFrame(timeline).select(pl.col("day").cast(pl.String), pl.col("model").cast(pl.String)
                                       .fill_null("(unknown)"), pl.col("requests").cast(pl.Int64))
    df = df.group_by("day", "model").agg(pl.col("requests").sum()).sort("day", "model")
    firsts = df.group_by("model").agg(pl.col("day").min()).sort("day")
    base = alt.Chart(alt.Data(values=df.to_dicts()))
    bars = base.mark_bar().encode(
        x=alt.X("day:T", title="day (UTC)", timeUnit="utcyearmonthdate"),
        y=alt.Y("sum(requests):Q", title="requests"),
        color=alt.Color("model:N", title="model"),
        tooltip=[alt.Tooltip("day:N"), alt.Tooltip("model:N"), alt.Tooltip("requests:Q", format=",")],
    )
    layers = [bars]
    if firsts.height > 1:
        later = firsts.slice(1).with_columns(label=pl.lit("first ") + pl.col("model"))
        rule_base = alt.Chart(alt.Data(values=later.to_dicts()))
        layers.append(rule_base.mark_rule(strokeDash=[4, 3], color="#333").encode(
            x=alt.X("day:T", timeUnit="utcyearmonthdate")))
        layers.append(rule_base.mark_text(align="left", dx=3, dy=-4, fontSize=10, color="#333").encode(
            x=alt.X("day:T", timeUnit="utcyearmonthdate"), y=alt.value(8), text="label:N"))
    return _spec(alt.layer(*layers).properties(width=WIDTH, height=200, title=title))


def overview_chart(campaigns: list[dict]) -> dict | None:
    """Daily requests of every campaign on one axis, to compare their size and timing."""
    rows = [{"day": r.get("day"), "campaign": c["campaign_id"], "requests": r.get("requests", 0)}
            for c in campaigns for r in (c.get("timeline") or [])]
    if not rows:
        return None
    df = (pl.DataFrame(rows).with_columns(pl.col("requests").cast(pl.Int64))
          .group_by("day", "campaign").agg(pl.col("requests").sum()).sort("campaign", "day"))
    chart = alt.Chart(alt.Data(values=df.to_dicts())).mark_line(point=True).encode(
        x=alt.X("day:T", title="day (UTC)", timeUnit="utcyearmonthdate"),
        y=alt.Y("requests:Q", title="requests per day"),
        color=alt.Color("campaign:N", title="campaign"),
        tooltip=[alt.Tooltip("campaign:N"), alt.Tooltip("day:N"), alt.Tooltip("requests:Q", format=",")],
    )
    return _spec(chart.properties(width=WIDTH, height=220, title="Campaign traffic over time"))


def signup_chart(signups: list[dict] | None) -> dict | None:
    """Accounts created per day (the sign-up timeline)."""
    if not signups:
        return None
    df = (pl.DataFrame(signups).select(pl.col("day").cast(pl.String), pl.col("accounts").cast(pl.Int64))
          .group_by("day").agg(pl.col("accounts").sum()).sort("day"))
    chart = alt.Chart(alt.Data(values=df.to_dicts())).mark_bar(color="#2ca02c").encode(
        x=alt.X("day:T", title="sign-up day (UTC)", timeUnit="utcyearmonthdate"),
        y=alt.Y("accounts:Q", title="accounts created"),
        tooltip=[alt.Tooltip("day:N"), alt.Tooltip("accounts:Q")],
    )
    return _spec(chart.properties(width=WIDTH, height=140, title="Sign-ups of the campaign's accounts"))


def capability_chart(capabilities: dict[str, float] | None) -> dict | None:
    """Share of the campaign's interactions per targeted capability."""
    if not capabilities:
        return None
    values = [{"capability": str(k), "share": float(v)} for k, v in capabilities.items()]
    chart = alt.Chart(alt.Data(values=values)).mark_bar(color="#4c78a8").encode(
        y=alt.Y("capability:N", sort="-x", title=None),
        x=alt.X("share:Q", axis=alt.Axis(format="%"), title="share of interactions"),
        tooltip=[alt.Tooltip("capability:N"), alt.Tooltip("share:Q", format=".1%")],
    )
    return _spec(chart.properties(width=WIDTH // 2, height=max(40, 22 * len(values)),
                                  title="Capabilities targeted"))


def score_chart(accounts: pl.DataFrame, threshold: float | None, bins: int = 40) -> dict | None:
    """Histogram of account scores, flagged vs not, with the operating threshold (pre-binned)."""
    if accounts.height == 0:
        return None
    df = (accounts.select(
        bin=(pl.col("score").clip(0, 1) * bins).floor().clip(0, bins - 1) / bins,
        status=pl.when(pl.col("flagged")).then(pl.lit("flagged")).otherwise(pl.lit("not flagged")))
        .group_by("bin", "status").len().rename({"len": "accounts"}).sort("bin", "status")
        .with_columns(bin_end=pl.col("bin") + 1 / bins, zero=pl.lit(0)))
    bars = alt.Chart(alt.Data(values=df.to_dicts())).mark_rect(opacity=0.85).encode(
        x=alt.X("bin:Q", title="score", scale=alt.Scale(domain=[0, 1])), x2="bin_end:Q",
        y=alt.Y("accounts:Q", title="accounts (log scale)", scale=alt.Scale(type="symlog"), stack=None,
                axis=alt.Axis(tickCount=4)),
        y2="zero:Q",
        color=alt.Color("status:N", title=None,
                        scale=alt.Scale(domain=["flagged", "not flagged"], range=["#d62728", "#9ecae1"])),
        tooltip=[alt.Tooltip("bin:Q", title="score from"), alt.Tooltip("status:N"),
                 alt.Tooltip("accounts:Q")],
    )
    layers = [bars]
    if threshold is not None:
        layers.append(alt.Chart(alt.Data(values=[{"t": float(threshold)}])).mark_rule(
            strokeDash=[4, 3], color="#333").encode(x="t:Q"))
    return _spec(alt.layer(*layers).properties(width=WIDTH, height=160,
                                               title="Account scores and the operating threshold"))


def graph_chart(view: GraphView | None) -> dict | None:
    """Accounts as points (colour: cluster), links as lines (colour: strongest shared evidence)."""
    if view is None or not view.nodes:
        return None
    present = {e["kind"] for e in view.edges}
    used = [k for k in EDGE_COLOURS if k in present] + sorted(present - set(EDGE_COLOURS))
    colours = [EDGE_COLOURS.get(k, "#7f7f7f") for k in used]
    axis = alt.Axis(title=None, labels=False, ticks=False, grid=False, domain=False)
    edges = alt.Chart(alt.Data(name="edges")).mark_rule(opacity=0.45, strokeWidth=1.2).encode(
        x=alt.X("x:Q", axis=axis), y=alt.Y("y:Q", axis=axis), x2="x2:Q", y2="y2:Q",
        color=alt.Color("kind:N", title="shared evidence", scale=alt.Scale(domain=used, range=colours)),
        tooltip=[alt.Tooltip("src:N", title="account"), alt.Tooltip("dst:N", title="account"),
                 alt.Tooltip("kinds:N", title="evidence"), alt.Tooltip("weight:Q")],
    )
    nodes = alt.Chart(alt.Data(name="nodes")).mark_point(filled=True, stroke="#222", strokeWidth=0.6,
                                                              opacity=0.95)
    nodes = nodes.encode(
        shape=alt.Shape("member:N", title="account", scale=alt.Scale(
            domain=["in this campaign", "linked, outside it"], range=["circle", "square"])),
        x=alt.X("x:Q", axis=axis), y=alt.Y("y:Q", axis=axis),
        color=alt.Color("cluster:N", title="cluster", scale=alt.Scale(scheme="tableau10")),
        size=alt.Size("score:Q", title="score", scale=alt.Scale(domain=[0, 1], range=[20, 140])),
        tooltip=[alt.Tooltip("account_id:N", title="account"), alt.Tooltip("score:Q", format=".3f"),
                 alt.Tooltip("flagged:N"), alt.Tooltip("member:N", title="account"), alt.Tooltip("cluster:N"),
                 alt.Tooltip("degree:Q", title="links")],
    )
    chart = alt.layer(edges, nodes).resolve_scale(color="independent").properties(
        width=WIDTH, height=380, title="Account graph")
    return _spec(chart.configure_view(strokeWidth=0), {"edges": view.edges, "nodes": view.nodes})

"""Proposed enforcement actions per account, for an enforcement system to consume.

A :class:`Policy` states thresholds; :func:`propose_actions` turns a scan output into one row per
flagged or borderline account with the action, the rule that produced it and the evidence behind it.
The rules, strongest first (the first that matches wins):

``suspend``
    flagged, attributed to a campaign, ``score >= suspend_score`` and the campaign's
    ``confidence >= suspend_confidence``.
``rate_limit``
    flagged and ``score >= rate_limit_score``.
``require_verification``
    flagged (at the scan's operating point).
``monitor``
    not flagged but attributed to a campaign, or ``score >= monitor_score`` (borderline).

Protected accounts (``verified`` true, or a ``tier`` in ``protected_tiers``) are never acted on
automatically beyond ``protected_max_action``: the action is capped, ``escalate_to_review`` is set
and ``uncapped_action`` says what the rules would have done. A wrongly suspended customer is real
harm, so a person decides those.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from distillguard.errors import InputError, UsageError
from distillguard.report.load import ScanOutput

#: Action levels, weakest first.
ACTIONS = ("monitor", "require_verification", "rate_limit", "suspend")
_RANK = {a: i for i, a in enumerate(ACTIONS)}


@dataclass(frozen=True)
class Policy:
    """Thresholds of the action rules (see the module docstring). Scores and confidences are in [0, 1]."""

    name: str = "default"
    suspend_score: float = 0.9
    suspend_confidence: float = 0.9
    rate_limit_score: float = 0.8
    monitor_score: float = 0.5
    protected_tiers: tuple[str, ...] = ("enterprise",)
    protect_verified: bool = True
    protected_max_action: str = "monitor"

    def __post_init__(self) -> None:
        for f in ("suspend_score", "suspend_confidence", "rate_limit_score", "monitor_score"):
            v = getattr(self, f)
            if not isinstance(v, int | float) or isinstance(v, bool) or not 0 <= v <= 1:
                raise UsageError(f"policy {self.name!r}: {f} must be a number in [0, 1], got {v!r}")
        if self.protected_max_action not in ACTIONS:
            raise UsageError(f"policy {self.name!r}: protected_max_action must be one of "
                             f"{', '.join(ACTIONS)}, got {self.protected_max_action!r}")
        if self.rate_limit_score > self.suspend_score:
            raise UsageError(f"policy {self.name!r}: rate_limit_score ({self.rate_limit_score}) is above "
                             f"suspend_score ({self.suspend_score})")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["protected_tiers"] = list(self.protected_tiers)
        return d

    @classmethod
    def from_file(cls, path: str | Path) -> Policy:
        """Read a policy from YAML or JSON: a mapping of the field names above (all optional)."""
        p = Path(path)
        if not p.is_file():
            raise UsageError(f"{p}: policy file not found")
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise InputError(p, f"not valid YAML/JSON: {exc}") from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise InputError(p, "a policy must be a mapping of thresholds")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(p, f"unknown policy key(s): {', '.join(unknown)} "
                             f"(known: {', '.join(sorted(known))})")
        if "protected_tiers" in data:
            tiers = data["protected_tiers"]
            if not isinstance(tiers, list) or not all(isinstance(t, str) for t in tiers):
                raise InputError(p, "protected_tiers must be a list of tier names")
            data["protected_tiers"] = tuple(tiers)
        data.setdefault("name", p.stem)
        try:
            return cls(**data)
        except UsageError as exc:
            raise InputError(p, str(exc)) from None


def _campaign_evidence(scan: ScanOutput, top: int = 3) -> pl.DataFrame:
    """One row per campaign: its confidence and a compact summary of its indicators."""
    rows = []
    for c in scan.campaigns:
        ind = c["indicators"]

        def values(key: str, field: str = "value", ind: dict = ind) -> list[str]:
            return [str(x.get(field)) for x in (ind.get(key) or [])[:top] if x.get(field) is not None]

        review = c.get("review") or {}
        held = review.get("decision") == "dismiss" and not review.get("material_growth")
        rows.append({
            "campaign_id": c["campaign_id"],
            "confidence": float(c["confidence"]),
            "review": ("dismissed" if held else "confirmed" if review.get("decision") == "confirm" else None),
            "review_note": review.get("note"),
            "joined_since": list(review.get("joined_since") or [])
            if review.get("decision") == "confirm" else [],
            "campaign": {
                "campaign_id": c["campaign_id"],
                "confidence": float(c["confidence"]),
                "accounts": int(c["accounts"]),
                "interactions": int(c["interactions"]),
                "first_seen": c["first_seen"],
                "last_seen": c["last_seen"],
                "capabilities": [{"capability": str(k), "share": float(v)}
                                 for k, v in sorted(c["capabilities"].items(), key=lambda kv: -float(kv[1]))],
                "templates": values("templates", "fingerprint"),
                "ip_prefixes": values("ip_prefixes"),
                "asns": [int(x) for x in values("asns")],
                "payment_fingerprints_shared": len(ind.get("payment_fingerprints") or []),
                "user_agents": values("user_agents"),
            },
        })
    schema = {"campaign_id": pl.String, "confidence": pl.Float64, "review": pl.String,
              "review_note": pl.String, "joined_since": pl.List(pl.String)}
    if not rows:
        return pl.DataFrame(schema=schema | {"campaign": pl.Struct({"campaign_id": pl.String})})
    return pl.DataFrame(rows, schema_overrides=schema)


def propose_actions(scan: ScanOutput, policy: Policy | None = None) -> pl.DataFrame:
    """One row per flagged, campaign-attributed or borderline account, strongest action first.

    Columns: account_id, campaign_id, action, uncapped_action, escalate_to_review, protected, score,
    flagged, interactions, tier, verified, rule, evidence (struct: reasons, campaign), policy (struct).
    """
    p = policy or Policy()
    acc = scan.accounts
    for name, dtype in (("interactions", pl.Int64), ("tier", pl.String), ("verified", pl.Boolean)):
        if name not in acc.columns:
            acc = acc.with_columns(pl.lit(None, dtype).alias(name))
    camp = _campaign_evidence(scan)
    df = acc.select("account_id", "campaign_id", "score", "flagged", "interactions", "tier", "verified",
                    "reasons").join(camp, on="campaign_id", how="left")
    in_campaign = pl.col("campaign_id").is_not_null()
    flagged = pl.col("flagged")
    dismissed = pl.col("review") == "dismissed"
    rules = [
        ("monitor", dismissed.fill_null(False), "campaign dismissed by an analyst; not acted on"),
        ("suspend", flagged & in_campaign & (pl.col("score") >= p.suspend_score)
         & (pl.col("confidence").fill_null(0) >= p.suspend_confidence),
         f"flagged, in a campaign with confidence >= {p.suspend_confidence}, score >= {p.suspend_score}"),
        ("rate_limit", flagged & (pl.col("score") >= p.rate_limit_score),
         f"flagged, score >= {p.rate_limit_score}"),
        ("require_verification", flagged, "flagged at the scan's operating point"),
        ("monitor", in_campaign, "attributed to a campaign but not flagged"),
        ("monitor", pl.col("score") >= p.monitor_score,
         f"borderline: not flagged, score >= {p.monitor_score}"),
    ]
    action = pl.when(rules[0][1]).then(pl.lit(rules[0][0]))
    rule = pl.when(rules[0][1]).then(pl.lit(rules[0][2]))
    for a, cond, text in rules[1:]:
        action = action.when(cond).then(pl.lit(a))
        rule = rule.when(cond).then(pl.lit(text))
    protected = pl.lit(False)
    if p.protect_verified:
        protected = protected | pl.col("verified").fill_null(False)
    if p.protected_tiers:
        protected = protected | pl.col("tier").is_in(list(p.protected_tiers)).fill_null(False)
    rank = pl.col("uncapped_action").replace_strict(_RANK, return_dtype=pl.Int8)
    cap = _RANK[p.protected_max_action]
    df = (
        df.with_columns(uncapped_action=action.otherwise(None), rule=rule.otherwise(None),
                        protected=protected)
        .filter(pl.col("uncapped_action").is_not_null())
        .with_columns(escalate_to_review=pl.col("protected") & (rank > cap))
        .with_columns(
            action=pl.when(pl.col("escalate_to_review")).then(pl.lit(p.protected_max_action))
            .otherwise(pl.col("uncapped_action")),
            rule=pl.when(pl.col("escalate_to_review"))
            .then(pl.col("rule") + pl.lit(f"; protected account (verified or tier in "
                                          f"{list(p.protected_tiers)}): capped at {p.protected_max_action}, "
                                          "escalated to manual review"))
            .otherwise(pl.col("rule")),
        )
    )
    reasons = pl.col("reasons").fill_null("").str.split("; ").list.eval(
        pl.element().filter(pl.element().str.len_chars() > 0))
    policy_struct = pl.struct([pl.lit(v if not isinstance(v, tuple) else list(v)).alias(k)
                               for k, v in p.to_dict().items()])
    df = _confirmed_campaigns(df, cap)
    out = df.select(
        "account_id", "campaign_id", "action", "uncapped_action", "escalate_to_review", "protected", "score",
        "flagged", "interactions", "tier", "verified", "rule", "review",
        pl.struct(reasons.alias("reasons"), pl.col("campaign")).alias("evidence"),
        policy_struct.alias("policy"),
    )
    return out.sort(pl.col("action").replace_strict(_RANK, return_dtype=pl.Int8), "score", "account_id",
                    descending=[True, True, False])


def _confirmed_campaigns(df: pl.DataFrame, cap: int) -> pl.DataFrame:
    """Accounts that joined a campaign after an analyst confirmed it: proposed for the campaign's action
    (the strongest among the members it had then), never above the protected cap."""
    confirmed = pl.col("review") == "confirmed"
    joined = pl.col("account_id").is_in(pl.col("joined_since").fill_null([])) & confirmed
    df = df.with_columns(_joined=joined.fill_null(False), _rank=pl.col("action").replace_strict(_RANK,
                         return_dtype=pl.Int8))
    camp = df.filter(~pl.col("_joined") & pl.col("campaign_id").is_not_null()).group_by("campaign_id").agg(
        _camp_rank=pl.col("_rank").max())
    df = df.join(camp, on="campaign_id", how="left")
    raise_to = pl.col("_joined") & (pl.col("_camp_rank").fill_null(-1) > pl.col("_rank"))
    capped = pl.when(pl.col("protected")).then(pl.min_horizontal(pl.col("_camp_rank"), pl.lit(cap)))
    new_rank = pl.when(raise_to).then(capped.otherwise(pl.col("_camp_rank"))).otherwise(pl.col("_rank"))
    names = pl.Series(list(ACTIONS))
    df = df.with_columns(
        action=new_rank.map_elements(lambda r: names[int(r)], return_dtype=pl.String),
        rule=pl.when(pl.col("_joined"))
        .then(pl.col("rule") + pl.lit("; joined campaign ") + pl.col("campaign_id")
              + pl.lit(" after an analyst confirmed it: proposed for the campaign's action"))
        .when(confirmed).then(pl.col("rule") + pl.lit("; ") + pl.col("review_note"))
        .when(pl.col("review") == "dismissed").then(pl.col("review_note") + pl.lit("; not acted on"))
        .otherwise(pl.col("rule")),
    )
    return df.drop("_joined", "_rank", "_camp_rank")


def write_actions(actions: pl.DataFrame, path: str | Path) -> Path:
    """Write the proposed actions as JSON Lines (one object per account)."""
    p = Path(path)
    if p.parent and not p.parent.exists():
        raise UsageError(f"{p.parent}: directory does not exist")
    actions.write_ndjson(p)
    return p


def dry_run(scan: ScanOutput, actions: pl.DataFrame) -> pl.DataFrame:
    """Per action level: accounts, interactions, share of traffic, verified/enterprise touched, escalated."""
    total = scan.total_interactions
    levels = pl.DataFrame({"action": list(ACTIONS)[::-1]})
    agg = actions.group_by("action").agg(
        accounts=pl.len(),
        interactions=pl.col("interactions").sum(),
        verified=pl.col("verified").fill_null(False).sum(),
        enterprise=(pl.col("tier") == "enterprise").fill_null(False).sum(),
        escalated=pl.col("escalate_to_review").sum(),
    )
    out = levels.join(agg, on="action", how="left").with_columns(
        pl.col("accounts", "interactions", "verified", "enterprise", "escalated").fill_null(0).cast(pl.Int64))
    share = (pl.col("interactions") / total) if total else pl.lit(None, pl.Float64)
    return out.with_columns(traffic_share=share)

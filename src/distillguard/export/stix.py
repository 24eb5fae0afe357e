"""Share a scan's campaign indicators with other providers as a STIX 2.1 bundle (OASIS ``stix2``).

What goes out (see ``docs/sharing.md``):

* one ``identity`` (the sharing provider, named by the caller) and a TLP marking;
* one ``campaign`` per detected campaign: counts, activity window, capability mix, confidence,
  sign-up bursts (times, sizes, tiers) — a description built from those numbers, never the scan's
  free-text summary;
* ``indicator`` objects, each linked to its campaigns by an ``indicates`` relationship, valid from the
  campaign's first activity to ``valid_days`` after its last:
  IP prefixes (``ipv4-addr``/``ipv6-addr`` ``ISSUBSET``; never narrower than /24 for IPv4 or /48 for
  IPv6, so no single address leaves), ASNs (``autonomous-system:number``), user agents
  (``network-traffic`` HTTP ``User-Agent`` header; dropped when one contains an account or org id),
  prompt-template and system-prompt fingerprints (custom ``x-distillguard-prompt-template`` /
  ``x-distillguard-system-prompt`` objects: hashes, no text), payment fingerprints as HMAC-SHA256
  under a key the partners share (``x-distillguard-payment-instrument:hmac_sha256``; omitted when no
  key is given, so raw fingerprints never leave).

Never shared: prompt or system-prompt text, example request ids, account ids (unless
``share_account_ids``), org ids, raw payment fingerprints, single IP addresses.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import stix2

from distillguard import __version__
from distillguard.errors import InputError, UsageError
from distillguard.report.load import ScanOutput, parse_time

#: Namespace of the deterministic STIX ids (same scan + same provider -> same ids).
NAMESPACE = uuid.UUID("6f1d3c1e-5a0b-4c43-9a55-2d5f0e1b7a10")
MAX_V4_PREFIX = 24
MAX_V6_PREFIX = 48
MIN_KEY_BYTES = 16
TLP = {
    "white": stix2.TLP_WHITE,
    "clear": stix2.TLP_WHITE,
    "green": stix2.TLP_GREEN,
    "amber": stix2.TLP_AMBER,
    "red": stix2.TLP_RED,
}
_HEX = re.compile(r"^[0-9a-fA-F]{6,128}$")
_TOKEN = re.compile(r"[A-Za-z0-9_.:@-]+")


@dataclass
class StixExport:
    """The bundle and what was left out of it, and why (printed by the CLI)."""

    bundle: stix2.Bundle
    notes: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # indicator kind -> indicators

    def serialize(self) -> str:
        return self.bundle.serialize(pretty=True, sort_keys=True)


def _sid(kind: str, *parts: Any) -> str:
    return f"{kind}--{uuid.uuid5(NAMESPACE, kind + chr(0) + chr(0).join(map(str, parts)))}"


def _quote(s: str) -> str:
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _stix_time(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def read_key(path: str | Path | None) -> bytes | None:
    """The sharing key from a file (stripped); ``None`` when no path is given."""
    if path is None:
        return None
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{p}: sharing key file not found")
    key = p.read_bytes().strip()
    if len(key) < MIN_KEY_BYTES:
        raise UsageError(f"{p}: the sharing key must be at least {MIN_KEY_BYTES} bytes")
    return key


def hmac_fingerprint(key: bytes, value: str) -> str:
    """HMAC-SHA256 of a payment fingerprint: partners with the same key can match, nobody can invert."""
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def _prefix(value: Any, where: str) -> tuple[str, str]:
    """('ipv4-addr'|'ipv6-addr', prefix widened to at most /24 or /48)."""
    try:
        net = ipaddress.ip_network(str(value), strict=False)
    except ValueError:
        raise InputError(where, f"not an IP prefix: {value!r}") from None
    limit = MAX_V4_PREFIX if net.version == 4 else MAX_V6_PREFIX
    if net.prefixlen > limit:
        net = net.supernet(new_prefix=limit)
    return ("ipv4-addr" if net.version == 4 else "ipv6-addr"), str(net)


def _identifier_tokens(scan: ScanOutput) -> pl.Series:
    cols = [c for c in ("account_id", "org_id") if c in scan.accounts.columns]
    return pl.concat([scan.accounts[c].drop_nulls().cast(pl.String) for c in cols]).unique()


def _ua_leaks(uas: list[str], ids: pl.Series) -> set[str]:
    """User agents containing a token that is an account or org id."""
    if not uas:
        return set()
    toks = (
        pl.DataFrame({"ua": uas})
        .with_columns(tok=pl.col("ua").str.extract_all(_TOKEN.pattern))
        .explode("tok")
    )
    return set(toks.filter(pl.col("tok").is_in(ids.implode()))["ua"].to_list())


def build_bundle(
    scan: ScanOutput,
    *,
    provider: str,
    key: bytes | None = None,
    share_account_ids: bool = False,
    tlp: str = "amber",
    valid_days: int = 90,
    created: datetime | None = None,
) -> StixExport:
    """Build and validate the STIX 2.1 bundle for ``scan`` (see the module docstring for what is shared)."""
    if not provider or not provider.strip():
        raise UsageError("--provider must name the organisation that shares the bundle")
    if tlp.lower() not in TLP:
        raise UsageError(f"--tlp must be one of {', '.join(TLP)}, got {tlp!r}")
    if valid_days < 1:
        raise UsageError(f"--valid-days must be at least 1, got {valid_days}")
    marking = TLP[tlp.lower()]
    now = _stix_time(created or datetime.now(UTC))
    cpath = scan.dir / "campaigns.json"
    identity = stix2.Identity(
        id=_sid("identity", provider),
        name=provider,
        identity_class="organization",
        created=now,
        modified=now,
        object_marking_refs=[marking],
    )
    common = {
        "created": now,
        "modified": now,
        "created_by_ref": identity.id,
        "object_marking_refs": [marking],
    }
    notes: list[str] = []
    if key is None:
        notes.append(
            "payment fingerprints were not shared: no sharing key was given (--sharing-key-file)"
        )
    ids = _identifier_tokens(scan)
    # (kind, value) -> {pattern, name, campaigns: [(id, first, last, conf)], accounts, interactions}
    found: dict[tuple[str, str], dict[str, Any]] = {}
    campaigns = []

    def add(kind: str, value: str, pattern: str, name: str, cref: tuple, item: dict) -> None:
        e = found.setdefault(
            (kind, value),
            {"pattern": pattern, "name": name, "campaigns": [], "accounts": 0, "interactions": 0},
        )
        if all(x[0] != cref[0] for x in e["campaigns"]):  # the same value twice in one campaign: once
            e["campaigns"].append(cref)
        e["accounts"] += int(item.get("accounts") or 0)
        e["interactions"] += int(item.get("interactions") or 0)

    for c in scan.campaigns:
        cid = c["campaign_id"]
        where = f"{cpath}: campaign {cid}"
        first = parse_time(c["first_seen"], f"{where}: first_seen")
        last = parse_time(c["last_seen"], f"{where}: last_seen")
        conf = round(float(c["confidence"]) * 100)
        ind = c["indicators"]
        caps = {str(k): round(float(v), 4) for k, v in c["capabilities"].items()}
        top_caps = ", ".join(k for k, _ in sorted(caps.items(), key=lambda kv: -kv[1])[:3]) or "unknown"
        bursts = [
            {
                "start": _stix_time(parse_time(b.get("start"), f"{where}: signup_bursts start")),
                "end": _stix_time(parse_time(b.get("end"), f"{where}: signup_bursts end")),
                "accounts": int(b.get("accounts") or 0),
                "tiers": {str(t): int(n) for t, n in (b.get("tiers") or {}).items()},
            }
            for b in ind.get("signup_bursts") or []
        ]
        extra: dict[str, Any] = {
            "x_distillguard_accounts": int(c["accounts"]),
            "x_distillguard_interactions": int(c["interactions"]),
            "x_distillguard_capabilities": caps,
            "x_distillguard_signup_bursts": bursts,
        }
        if isinstance(c.get("cot_share"), int | float):
            extra["x_distillguard_cot_share"] = round(float(c["cot_share"]), 4)
        if share_account_ids:
            extra["x_distillguard_account_ids"] = sorted(
                map(
                    str,
                    c.get("account_ids")
                    or scan.accounts.filter(pl.col("campaign_id") == cid)["account_id"].to_list(),
                )
            )
        campaign = stix2.Campaign(
            id=_sid("campaign", provider, cid),
            name=f"Adversarial distillation campaign {cid}",
            description=(
                f"{c['accounts']:,} accounts sent {c['interactions']:,} requests to harvest model outputs "
                f"between {first:%Y-%m-%d} and {last:%Y-%m-%d}, targeting {top_caps}. "
                f"Detected by distillguard {__version__}."
            ),
            aliases=[cid],
            first_seen=_stix_time(first),
            last_seen=_stix_time(last),
            objective=f"harvest model outputs to train another model ({top_caps})",
            confidence=conf,
            allow_custom=True,
            **common,
            **extra,
        )
        campaigns.append(campaign)
        cref = (campaign.id, first, last, conf)
        for i, item in enumerate(ind.get("ip_prefixes") or []):
            obj, prefix = _prefix(item.get("value"), f"{where}: ip_prefixes item {i}")
            add(
                "ip_prefix",
                prefix,
                f"[{obj}:value ISSUBSET {_quote(prefix)}]",
                f"IP prefix {prefix}",
                cref,
                item,
            )
        for i, item in enumerate(ind.get("asns") or []):
            v = item.get("value")
            try:
                asn = int(str(v).upper().removeprefix("AS"))
            except ValueError:
                raise InputError(f"{where}: asns item {i}", f"not an AS number: {v!r}") from None
            add("asn", str(asn), f"[autonomous-system:number = {asn}]", f"AS{asn}", cref, item)
        uas = [str(x.get("value")) for x in ind.get("user_agents") or [] if x.get("value")]
        leaky = _ua_leaks(uas, ids)
        if leaky:
            notes.append(
                f"{cid}: {len(leaky)} user agent(s) not shared because they contain an account or org id"
            )
        for item in ind.get("user_agents") or []:
            ua = str(item.get("value") or "")
            if ua and ua not in leaky:
                add(
                    "user_agent",
                    ua,
                    "[network-traffic:extensions.'http-request-ext'.request_header.'User-Agent'"
                    f" = {_quote(ua)}]",
                    f"User-Agent {ua[:60]}",
                    cref,
                    item,
                )
        for key_name, kind, obj in (
            ("templates", "template", "x-distillguard-prompt-template"),
            ("system_prompts", "system_prompt", "x-distillguard-system-prompt"),
        ):
            for item in ind.get(key_name) or []:
                fp = str(item.get("fingerprint") or "")
                if not _HEX.match(fp):
                    notes.append(f"{cid}: a {kind} fingerprint that is not a hex hash was not shared")
                    continue
                add(
                    kind,
                    fp.lower(),
                    f"[{obj}:fingerprint = {_quote(fp.lower())}]",
                    f"{kind} {fp.lower()}",
                    cref,
                    item,
                )
        if key is not None:
            for item in ind.get("payment_fingerprints") or []:
                if item.get("value") is None:
                    continue
                h = hmac_fingerprint(key, str(item["value"]))
                add(
                    "payment_fingerprint",
                    h,
                    f"[x-distillguard-payment-instrument:hmac_sha256 = {_quote(h)}]",
                    f"payment instrument {h[:16]}",
                    cref,
                    item,
                )

    indicators, relationships = [], []
    for (kind, value), e in sorted(found.items()):
        first = min(x[1] for x in e["campaigns"])
        last = max(x[2] for x in e["campaigns"])
        ind_id = _sid("indicator", provider, kind, value)
        indicators.append(
            stix2.Indicator(
                id=ind_id,
                name=e["name"],
                pattern=e["pattern"],
                pattern_type="stix",
                pattern_version="2.1",
                indicator_types=["malicious-activity"],
                valid_from=_stix_time(first),
                valid_until=_stix_time(last + timedelta(days=valid_days)),
                confidence=max(x[3] for x in e["campaigns"]),
                description=f"Shared by {e['accounts']:,} accounts of {len(e['campaigns'])} "
                "distillation campaign(s).",
                x_distillguard_kind=kind,
                x_distillguard_accounts=e["accounts"],
                x_distillguard_interactions=e["interactions"],
                allow_custom=True,
                **common,
            )
        )
        for camp_id, *_ in e["campaigns"]:
            relationships.append(
                stix2.Relationship(
                    id=_sid("relationship", ind_id, camp_id),
                    relationship_type="indicates",
                    source_ref=ind_id,
                    target_ref=camp_id,
                    **common,
                )
            )
    objects = [marking, identity, *campaigns, *indicators, *relationships]
    bundle = stix2.Bundle(
        objects=objects, id=_sid("bundle", provider, *[c.id for c in campaigns], now), allow_custom=True
    )
    counts: dict[str, int] = {}
    for kind, _ in found:
        counts[kind] = counts.get(kind, 0) + 1
    export = StixExport(bundle, notes, counts)
    validate_roundtrip(export.serialize())
    return export


def validate_roundtrip(text: str) -> stix2.Bundle:
    """Parse a serialized bundle back with ``stix2`` and check it is unchanged; returns the parsed bundle."""
    parsed = stix2.parse(text, allow_custom=True)
    if json.loads(parsed.serialize(sort_keys=True)) != json.loads(text):
        raise AssertionError(
            "STIX bundle changed when parsed back"
        )  # a bug in this module, not a user error
    return parsed


def write_bundle(export: StixExport, path: str | Path) -> Path:
    p = Path(path)
    if not p.parent.exists():
        raise UsageError(f"{p.parent}: directory does not exist")
    p.write_text(export.serialize() + "\n", encoding="utf-8")
    return p


def made_by_distillguard(path: str | Path) -> bool:
    """Whether ``path`` holds a bundle this module wrote: a STIX bundle whose identity's id is the one
    :func:`build_bundle` derives from its name (so a bundle from another tool is never taken for ours)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    if not isinstance(doc, dict) or doc.get("type") != "bundle" or not isinstance(doc.get("objects"), list):
        return False
    return any(
        isinstance(o, dict) and o.get("type") == "identity" and o.get("id") == _sid("identity", o.get("name"))
        for o in doc["objects"]
    )

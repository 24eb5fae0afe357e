"""Export: the STIX 2.1 bundle (valid, round-trips, leaks nothing private), the proposed actions (policy
table), the dry run, and the CLI's errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
import stix2

from distillguard.errors import InputError, UsageError
from distillguard.export.actions import ACTIONS, Policy, dry_run, propose_actions, write_actions
from distillguard.export.stix import build_bundle, hmac_fingerprint, validate_roundtrip
from distillguard.report.load import ScanOutput, load_scan_output

FIXTURE = Path(__file__).parent / "fixtures" / "scan_out"
KEY = b"partner-shared-secret-2026"
CREATED = datetime(2026, 6, 10, tzinfo=UTC)


@pytest.fixture(scope="module")
def scan() -> ScanOutput:
    return load_scan_output(FIXTURE)


def _copy(tmp_path: Path) -> Path:
    out = tmp_path / "scan_out"
    shutil.copytree(FIXTURE, out, ignore=shutil.ignore_patterns("*.py", "__pycache__", "report.html"))
    return out


# ---- STIX ----------------------------------------------------------------------------------------

def test_bundle_is_valid_stix_and_round_trips(scan):
    export = build_bundle(scan, provider="Example AI", key=KEY, created=CREATED)
    text = export.serialize()
    parsed = stix2.parse(text, allow_custom=True)
    assert json.loads(parsed.serialize(sort_keys=True)) == json.loads(text)
    validate_roundtrip(text)
    objs = json.loads(text)["objects"]
    by_type: dict[str, list] = {}
    for o in objs:
        by_type.setdefault(o["type"], []).append(o)
        if o["type"] != "marking-definition":
            assert o["spec_version"] == "2.1"
    assert len(by_type["identity"]) == 1 and by_type["identity"][0]["name"] == "Example AI"
    assert {c["aliases"][0] for c in by_type["campaign"]} == {c["campaign_id"] for c in scan.campaigns}
    ids = {o["id"] for o in objs}
    for r in by_type["relationship"]:
        assert r["relationship_type"] == "indicates" and r["source_ref"] in ids and r["target_ref"] in ids
    # every indicator indicates at least one campaign, and its window covers the campaign's activity
    targets = {r["source_ref"] for r in by_type["relationship"]}
    for i in by_type["indicator"]:
        assert i["id"] in targets
        assert i["valid_from"] < i["valid_until"]


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("ip_prefix", "[ipv4-addr:value ISSUBSET '203.0.113.0/24']"),
        ("ip_prefix", "[ipv6-addr:value ISSUBSET '2001:db8:12::/48']"),
        ("asn", "[autonomous-system:number = 64512]"),
        ("user_agent", "[network-traffic:extensions.'http-request-ext'.request_header.'User-Agent' = "
                       "'python-httpx/0.27.0']"),
        ("template", "[x-distillguard-prompt-template:fingerprint = '9f1c2e4a7b3d5f60']"),
        ("system_prompt", "[x-distillguard-system-prompt:fingerprint = '77ab01c2d3e4f5a6']"),
        ("payment_fingerprint", "[x-distillguard-payment-instrument:hmac_sha256 = '"
                                + hmac_fingerprint(KEY, "pf_4b1e9c0d22aa71f3") + "']"),
    ],
)
def test_indicator_patterns(scan, kind, expected):
    objs = json.loads(build_bundle(scan, provider="P", key=KEY, created=CREATED).serialize())["objects"]
    patterns = {o["pattern"] for o in objs if o["type"] == "indicator" and o["x_distillguard_kind"] == kind}
    assert expected in patterns


def _leaks(text: str, scan: ScanOutput) -> list[str]:
    found = []
    for c in scan.campaigns:
        ind = c["indicators"]
        for t in ind.get("templates", []):
            for e in t["examples"]:
                found += [f"prompt:{e['text'][:40]}" for s in (e["text"], e["text"][:40]) if s in text][:1]
                found += [f"request:{e['request_id']}"] if e["request_id"] in text else []
        for s in ind.get("system_prompts", []):
            found += [f"system:{s['example'][:40]}"] if s["example"][:40] in text else []
        for p in ind.get("payment_fingerprints", []):
            found += [f"payment:{p['value']}"] if p["value"] in text else []
        if c.get("summary") and c["summary"] in text:
            found.append("summary text")
    ids = scan.accounts["account_id"].to_list() + scan.accounts["org_id"].drop_nulls().to_list()
    found += [f"id:{a}" for a in ids if a in text]
    for raw_ip in ("203.0.113.7", "198.51.100.23", "192.0.2.55"):
        found += [f"ip:{raw_ip}"] if raw_ip in text else []
    return found


@pytest.mark.parametrize("share_ids", [False, True])
def test_bundle_leaks_no_prompt_text_ids_or_raw_fingerprints(scan, share_ids):
    text = build_bundle(scan, provider="P", key=KEY, share_account_ids=share_ids, created=CREATED).serialize()
    leaks = _leaks(text, scan)
    if share_ids:  # the option allows campaign members' ids, and nothing else
        members = {a for c in scan.campaigns for a in c["account_ids"]}
        assert leaks and all(x.startswith("id:") and x[3:] in members for x in leaks)
    else:
        assert leaks == []


def test_single_addresses_are_widened_and_leaky_user_agents_dropped(tmp_path):
    out = _copy(tmp_path)
    camps = json.loads((out / "campaigns.json").read_text())
    member = camps[0]["account_ids"][3]
    camps[0]["indicators"]["ip_prefixes"] = [{"value": "203.0.113.7/32", "accounts": 2},
                                             {"value": "2001:db8:12:34::1", "accounts": 1}]
    camps[0]["indicators"]["user_agents"].append({"value": f"harvester/2.0 ({member})", "accounts": 1})
    camps[0]["indicators"]["templates"].append({"fingerprint": "Solve this step by step", "accounts": 3})
    (out / "campaigns.json").write_text(json.dumps(camps))
    scan = load_scan_output(out)
    export = build_bundle(scan, provider="P", created=CREATED)
    text = export.serialize()
    assert "203.0.113.0/24" in text and "203.0.113.7" not in text
    assert "2001:db8:12::/48" in text and "2001:db8:12:34::1" not in text
    assert member not in text and "harvester/2.0" not in text
    assert "Solve this step by step" not in text
    assert "payment-instrument" not in text  # no key: payment fingerprints are not shared at all
    assert any("user agent" in n for n in export.notes) and any("sharing key" in n for n in export.notes)
    assert any("not a hex hash" in n for n in export.notes)


def test_ids_are_deterministic_and_tlp_is_applied(scan):
    a = json.loads(build_bundle(scan, provider="P", key=KEY, tlp="red", created=CREATED).serialize())
    b = json.loads(build_bundle(scan, provider="P", key=KEY, tlp="red", created=CREATED).serialize())
    assert a == b
    red = stix2.TLP_RED.id
    assert all(red in o["object_marking_refs"] for o in a["objects"] if o["type"] != "marking-definition")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"provider": " "}, "--provider"), ({"provider": "P", "tlp": "purple"}, "--tlp"),
     ({"provider": "P", "valid_days": 0}, "--valid-days")],
)
def test_bundle_option_errors(scan, kwargs, message):
    with pytest.raises(UsageError, match=message):
        build_bundle(scan, **kwargs)


def test_bad_ip_prefix_names_the_campaign(tmp_path):
    out = _copy(tmp_path)
    camps = json.loads((out / "campaigns.json").read_text())
    camps[1]["indicators"]["ip_prefixes"] = [{"value": "not-an-ip", "accounts": 1}]
    (out / "campaigns.json").write_text(json.dumps(camps))
    with pytest.raises(InputError, match=rf"campaign {camps[1]['campaign_id']}: ip_prefixes item 0"):
        build_bundle(load_scan_output(out), provider="P")


# ---- actions --------------------------------------------------------------------------------------

def _scan_of(rows: list[dict], confidence: float = 0.95) -> ScanOutput:
    acc = pl.DataFrame(rows, schema_overrides={"campaign_id": pl.String, "tier": pl.String,
                                               "verified": pl.Boolean, "interactions": pl.Int64})
    camp = {"campaign_id": "DG-00000001", "accounts": 3, "interactions": 300,
            "first_seen": "2026-04-22T00:00:00Z",
            "last_seen": "2026-06-05T00:00:00Z", "capabilities": {"reasoning": 1.0}, "confidence": confidence,
            "indicators": {"ip_prefixes": [{"value": "203.0.113.0/24", "accounts": 3}]}}
    return ScanOutput(Path("."), [camp], acc, summary={"interactions": 10_000})


def _row(score, flagged, cid="DG-00000001", tier="free", verified=False):
    return {"account_id": "a1", "score": score, "flagged": flagged, "campaign_id": cid, "reasons": "r1; r2",
            "interactions": 100, "tier": tier, "verified": verified}


@pytest.mark.parametrize(
    ("row", "confidence", "policy", "action", "escalated"),
    [
        (_row(0.95, True), 0.95, Policy(), "suspend", False),
        (_row(0.95, True), 0.85, Policy(), "rate_limit", False),  # campaign not confident enough to suspend
        (_row(0.95, True, cid=None), 0.95, Policy(), "rate_limit", False),  # not attributed: no suspend
        (_row(0.85, True), 0.95, Policy(), "rate_limit", False),
        (_row(0.75, True), 0.95, Policy(), "require_verification", False),
        (_row(0.4, False), 0.95, Policy(), "monitor", False),  # in a campaign but not flagged
        (_row(0.55, False, cid=None), 0.95, Policy(), "monitor", False),  # borderline
        (_row(0.3, False, cid=None), 0.95, Policy(), None, False),  # ordinary: no action, not listed
        (_row(0.97, True, verified=True), 0.95, Policy(), "monitor", True),  # verified: never suspended
        (_row(0.97, True, tier="enterprise"), 0.95, Policy(), "monitor", True),
        (_row(0.97, True, tier="enterprise"), 0.95, Policy(protected_max_action="rate_limit"), "rate_limit",
         True),
        (_row(0.97, True, verified=True), 0.95, Policy(protect_verified=False), "suspend", False),
        # already at the cap: nothing to escalate
        (_row(0.55, False, cid=None, verified=True), 0.95, Policy(), "monitor", False),
        (_row(0.85, True), 0.95, Policy(suspend_score=0.8, suspend_confidence=0.9, rate_limit_score=0.7),
         "suspend", False),
        (_row(0.6, False, cid=None), 0.95, Policy(monitor_score=0.7), None, False),
    ],
)
def test_action_policy_table(row, confidence, policy, action, escalated):
    acts = propose_actions(_scan_of([row], confidence), policy)
    if action is None:
        assert acts.height == 0
        return
    r = acts.row(0, named=True)
    assert r["action"] == action
    assert r["escalate_to_review"] is escalated
    assert r["evidence"]["reasons"] == ["r1", "r2"]
    assert r["policy"]["name"] == policy.name and r["rule"]
    if row["campaign_id"]:
        assert r["evidence"]["campaign"]["ip_prefixes"] == ["203.0.113.0/24"]
    if escalated:
        assert r["uncapped_action"] == "suspend" and "manual review" in r["rule"]


def test_actions_on_fixture_never_suspend_protected_and_cover_flagged(scan, tmp_path):
    acts = propose_actions(scan)
    flagged = set(scan.accounts.filter(pl.col("flagged"))["account_id"].to_list())
    assert flagged <= set(acts["account_id"].to_list())
    protected = acts.filter(pl.col("verified") | (pl.col("tier") == "enterprise"))
    assert protected.height and "suspend" not in protected["action"].to_list()
    path = write_actions(acts, tmp_path / "actions.jsonl")
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert len(lines) == acts.height
    assert {"account_id", "campaign_id", "action", "score", "evidence", "policy"} <= set(lines[0])


def test_dry_run_counts_and_shares(scan):
    acts = propose_actions(scan)
    table = dry_run(scan, acts)
    assert table["action"].to_list() == list(ACTIONS)[::-1]
    assert int(table["accounts"].sum()) == acts.height
    total = scan.summary["interactions"]
    for r in table.iter_rows(named=True):
        sub = acts.filter(pl.col("action") == r["action"])
        assert r["interactions"] == int(sub["interactions"].sum())
        assert r["traffic_share"] == pytest.approx(r["interactions"] / total)
        assert r["verified"] == int(sub["verified"].sum())


@pytest.mark.parametrize(
    ("text", "message"),
    [("suspend_score: 1.5\n", "suspend_score must be a number in [0, 1]"),
     ("rate_limit_score: 0.95\nsuspend_score: 0.9\n", "rate_limit_score (0.95) is above"),
     ("suspend_scor: 0.9\n", "unknown policy key(s): suspend_scor"),
     ("protected_max_action: ban\n", "protected_max_action must be one of"),
     ("- 1\n- 2\n", "a policy must be a mapping")],
)
def test_policy_file_errors(tmp_path, text, message):
    p = tmp_path / "policy.yaml"
    p.write_text(text)
    with pytest.raises(InputError) as exc:
        Policy.from_file(p)
    assert message in str(exc.value) and "policy.yaml" in str(exc.value)


def test_policy_file_is_read(tmp_path):
    p = tmp_path / "strict.yaml"
    p.write_text("suspend_score: 0.97\nprotected_tiers: [enterprise, research]\n")
    pol = Policy.from_file(p)
    assert pol.name == "strict" and pol.suspend_score == 0.97
    assert pol.protected_tiers == ("enterprise", "research")


# ---- CLI ------------------------------------------------------------------------------------------

def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from distillguard.cli import main; main()", *args],
                          capture_output=True, text=True, cwd=cwd, timeout=120, check=False)


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        ("none", ["export", "{missing}", "--dry-run"], "no such directory"),
        ("empty", ["export", "{dir}", "--dry-run"], "campaigns.json: missing"),
        ("fixture", ["export", "{dir}"], "nothing to do"),
        ("fixture", ["export", "{dir}", "--stix", "{dir}/nope/b.json"], "nope does not exist"),
        ("none", ["report", "{missing}"], "no such directory"),
        ("empty", ["report", "{dir}"], "campaigns.json: missing"),
    ],
)
def test_cli_errors_are_one_message_exit_2(tmp_path, setup, args, message):
    d = tmp_path / "d"
    if setup == "empty":
        d.mkdir()
    elif setup == "fixture":
        d = _copy(tmp_path)
    proc = _cli(*[a.format(dir=d, missing=tmp_path / "missing") for a in args])
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) <= 2


def test_cli_export_writes_stix_and_actions_and_dry_run_writes_nothing(tmp_path):
    out = _copy(tmp_path)
    key = tmp_path / "key"
    key.write_text(KEY.decode())
    stix_path, actions_path = tmp_path / "b.json", tmp_path / "a.jsonl"
    proc = _cli("export", str(out), "--dry-run", "--stix", str(stix_path), "--actions", str(actions_path),
                "--json")
    assert proc.returncode == 0, proc.stderr
    assert not stix_path.exists() and not actions_path.exists()
    doc = json.loads(proc.stdout)
    assert [r["action"] for r in doc["actions"]["levels"]] == list(ACTIONS)[::-1]
    proc = _cli("export", str(out), "--stix", str(stix_path), "--actions", str(actions_path),
                "--provider", "Example AI", "--sharing-key-file", str(key))
    assert proc.returncode == 0, proc.stderr
    validate_roundtrip(stix_path.read_text())
    assert "payment-instrument" in stix_path.read_text()
    assert len(actions_path.read_text().splitlines()) == propose_actions(load_scan_output(out)).height
    proc = _cli("report", str(out), "--out", str(tmp_path / "r.html"))
    assert proc.returncode == 0 and (tmp_path / "r.html").stat().st_size > 100_000

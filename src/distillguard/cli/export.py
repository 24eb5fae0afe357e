"""``distillguard export``: share indicators (STIX 2.1) and propose enforcement actions (JSON Lines)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from distillguard.cli import app, console, err_console


@app.command()
def export(
    scan_dir: Annotated[Path, typer.Argument(metavar="DIR", help="The --out directory of a scan.")],
    stix: Annotated[
        Path | None, typer.Option("--stix", metavar="FILE", help="Write a STIX 2.1 bundle of the indicators.")
    ] = None,
    actions: Annotated[
        Path | None,
        typer.Option("--actions", metavar="FILE", help="Write proposed actions per account as JSON Lines."),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print what each action level would touch (and the STIX counts); "
                     "write nothing."),
    ] = False,
    policy_file: Annotated[
        Path | None,
        typer.Option("--policy", metavar="FILE", help="Action thresholds (YAML/JSON); see docs/sharing.md."),
    ] = None,
    provider: Annotated[
        str, typer.Option("--provider", help="Name of your organisation (the STIX identity).")
    ] = "Unnamed LLM API provider",
    sharing_key_file: Annotated[
        Path | None,
        typer.Option("--sharing-key-file", metavar="FILE",
                     help="Secret shared with your partners; payment fingerprints are shared as HMAC-SHA256 "
                     "under it (omitted without a key). Default: $DISTILLGUARD_SHARING_KEY_FILE."),
    ] = None,
    share_account_ids: Annotated[
        bool, typer.Option("--share-account-ids", help="Include account ids in the STIX bundle (off: never).")
    ] = False,
    tlp: Annotated[str, typer.Option("--tlp", help="TLP marking: clear, green, amber or red.")] = "amber",
    valid_days: Annotated[
        int, typer.Option("--valid-days", help="Indicators stay valid this many days after last activity.")
    ] = 90,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print a JSON document instead of tables.")
    ] = False,
) -> None:
    """Export a scan's campaigns: a STIX 2.1 bundle for other providers, proposed actions for enforcement.

    Example: distillguard export scan-out/ --stix iocs.json --provider "Example AI" --sharing-key-file key

    Example: distillguard export scan-out/ --actions actions.jsonl --policy policy.yaml

    Example: distillguard export scan-out/ --dry-run

    Verified and enterprise accounts are never proposed for suspension: they are escalated to review.
    """
    from distillguard.errors import UsageError
    from distillguard.export.actions import Policy, propose_actions, write_actions
    from distillguard.export.actions import dry_run as impact
    from distillguard.export.stix import build_bundle, read_key, write_bundle
    from distillguard.outdir import OutputFile
    from distillguard.report.load import load_scan_output

    if stix is None and actions is None and not dry_run:
        raise UsageError("nothing to do: give --stix FILE, --actions FILE or --dry-run")
    if sharing_key_file is None and os.environ.get("DISTILLGUARD_SHARING_KEY_FILE"):
        sharing_key_file = Path(os.environ["DISTILLGUARD_SHARING_KEY_FILE"])
    inputs = tuple(p for p in (policy_file, sharing_key_file) if p is not None)
    targets = {}
    for kind, option, path in (("stix", "--stix", stix), ("actions", "--actions", actions)):
        if path is not None and not dry_run:
            targets[kind] = OutputFile(path, kind, option, inputs=inputs)
            targets[kind].check()
    if stix is not None and actions is not None and not dry_run and _same_path(stix, actions):
        raise UsageError(f"--stix and --actions name the same file ({stix})")
    policy = Policy.from_file(policy_file) if policy_file is not None else Policy()
    key = read_key(sharing_key_file)
    scan = load_scan_output(scan_dir)
    doc: dict = {}

    proposed = propose_actions(scan, policy)
    table = impact(scan, proposed)
    doc["actions"] = {"policy": policy.to_dict(), "levels": table.to_dicts()}
    if "actions" in targets:
        with targets["actions"].writing() as tmp:
            write_actions(proposed, tmp)
        doc["actions"]["written"] = str(actions)
        doc["actions"]["rows"] = proposed.height

    if stix is not None or dry_run:
        bundle = build_bundle(scan, provider=provider, key=key, share_account_ids=share_account_ids, tlp=tlp,
                              valid_days=valid_days)
        doc["stix"] = {"campaigns": len(scan.campaigns), "indicators": bundle.counts, "notes": bundle.notes}
        if "stix" in targets:
            with targets["stix"].writing() as tmp:
                write_bundle(bundle, tmp)
            doc["stix"]["written"] = str(stix)

    if json_out:
        console.print_json(json.dumps(doc))
        return
    t = Table(title=f"Proposed actions (policy {policy.name!r})" + (" — dry run, nothing written" if dry_run
                                                                    else ""))
    for col in ("action", "accounts", "interactions", "share of traffic", "verified", "enterprise",
                "escalated to review"):
        t.add_column(col, justify="left" if col == "action" else "right")
    for r in doc["actions"]["levels"]:
        share = "n/a" if r["traffic_share"] is None else f"{r['traffic_share'] * 100:.2f}%"
        t.add_row(r["action"], f"{r['accounts']:,}", f"{r['interactions']:,}", share, str(r["verified"]),
                  str(r["enterprise"]), str(r["escalated"]))
    console.print(t)
    if "written" in doc["actions"]:
        console.print(f"{doc['actions']['rows']:,} proposed actions written to {actions}")
    if "stix" in doc:
        counts = ", ".join(f"{n} {k}" for k, n in sorted(doc["stix"]["indicators"].items())) or "none"
        verb = "written to " + str(stix) if "written" in doc["stix"] else "would be shared"
        console.print(f"STIX 2.1 bundle ({len(scan.campaigns)} campaigns; indicators: {counts}) {verb}")
        for n in doc["stix"]["notes"]:
            err_console.print(f"note: {n}", highlight=False)


def _same_path(a: Path, b: Path) -> bool:
    return Path(os.path.abspath(a)).resolve() == Path(os.path.abspath(b)).resolve()

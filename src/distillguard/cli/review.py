"""``distillguard review``: analysts' decisions on the campaigns of a monitoring state."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from distillguard.cli import app, console
from distillguard.errors import UsageError


@app.command("review")
def review_cmd(
    state: Path = typer.Argument(..., help="the monitoring state folder (scan --state)"),
    confirm: list[str] = typer.Option(None, "--confirm", help="campaign id to confirm; repeatable"),
    dismiss: list[str] = typer.Option(None, "--dismiss", help="campaign id to dismiss; repeatable"),
    reason: str = typer.Option(None, "--reason", help="why (required with --dismiss)"),
    decisions_file: Path = typer.Option(
        None, "--decisions", help="CSV (campaign_id,decision,reason) or JSON Lines of decisions"
    ),
) -> None:
    """Confirm or dismiss campaigns; later runs apply the decisions. Without options: list them.

    Example: distillguard review state/ --dismiss DG-1a2b3c4d --reason "university course, checked"
    """
    from distillguard.monitor import review as rv
    from distillguard.monitor.registry import empty_registry
    from distillguard.monitor.state import StateDir

    wanted: list[tuple[str, str, str | None, str]] = []
    wanted += [(c, "confirm", reason, "") for c in confirm or []]
    wanted += [(c, "dismiss", reason, "") for c in dismiss or []]
    if decisions_file is not None:
        wanted += rv.read_decisions_file(decisions_file)
    with StateDir(state, create=False) as st:
        cur = st.current()
        if cur is None:
            raise UsageError(f"{state}: no run has been committed to this state yet")
        registry = cur.read_json("registry.json", empty_registry())
        decisions = cur.read_json("decisions.json", [])
        if not wanted:
            console.print(_listing(registry, rv.latest(decisions, registry)))
            return
        made = [rv.record(decisions, registry, c, d, r, where) for c, d, r, where in wanted]
        with st.next_generation() as gen:
            gen.write_json("decisions.json", decisions)
    for d in made:
        alias = f" (named as {d['named_as']})" if d["named_as"] else ""
        console.print(
            f"{d['decision']}ed {d['campaign_id']}{alias}: {len(d['members'])} accounts"
            + (f"; {d['reason']}" if d["reason"] else ""),
            highlight=False,
        )
    console.print("the next scan --state run applies them")


def _listing(registry: dict, in_force: dict) -> Table:
    t = Table(pad_edge=False)
    for col in ("campaign", "first flagged", "accounts", "status", "decision", "aliases"):
        t.add_column(col, no_wrap=col != "decision")
    for cid, c in sorted(registry["campaigns"].items(), key=lambda kv: (kv[1]["first_flagged_day"], kv[0])):
        d = in_force.get(cid)
        t.add_row(
            cid,
            c["first_flagged_day"],
            f"{len(c['members']):,}",
            c.get("status", "active"),
            f"{d['decision']} {d['at'][:10]}: {d['reason']}" if d else "",
            ", ".join(c.get("aliases", [])),
        )
    return t

"""The README and docs stay true: commands it shows exist, the contract copy matches the shared spec."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import SHARED

REPO = Path(__file__).resolve().parents[1]


def test_log_format_copy_matches_shared_spec():
    shared = SHARED / "spec" / "log-format.md"
    if not shared.exists():
        import pytest

        pytest.skip("shared/ not present")
    ours = (REPO / "docs" / "log-format.md").read_text().splitlines()
    ours = [line for line in ours if not line.startswith("> ") and line != ""]
    theirs = [line for line in shared.read_text().splitlines() if line != ""]
    assert ours == theirs


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    ci = [
        line
        for line in (REPO / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.startswith(("#", "set ", "cd "))
    ]
    assert ci == ["make test"]
    assert re.search(r"^make test\s*$", readme, re.M)
    assert re.search(r"^make demo\s*$", readme, re.M)


def test_every_cli_command_in_readme_exists():
    from typer.main import get_command

    from distillguard.cli import _load_commands, app

    _load_commands()
    commands = set(get_command(app).commands)  # type: ignore[attr-defined]
    code = "\n".join(re.findall(r"```[a-z]*\n(.*?)```", (REPO / "README.md").read_text(), re.S))
    shown = set(re.findall(r"^(?:\$ )?distillguard ([a-z-]+)", code, re.M))
    assert shown, "README shows no distillguard command"
    assert shown <= commands, f"README shows commands that do not exist: {shown - commands}"

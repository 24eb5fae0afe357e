"""The output-folder rule (:mod:`distillguard.outdir`): a command writes into a new or empty folder or
one distillguard wrote before, replaces or removes only the files its manifest lists, refuses anything
else before it starts (exit 2, one message), and publishes atomically even when killed.

Every case hashes every file and folder of its workspace before and after the run."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from distillguard.outdir import MANIFEST, Manifest, digest, record

ROWS = [
    {
        "request_id": f"r{i}",
        "ts": f"2026-04-22T{i % 24:02d}:00:00Z",
        "account_id": f"a{i % 5}",
        "prompt": f"Solve step by step: what is {i} + {i}?",
    }
    for i in range(60)
]

SCENARIO = textwrap.dedent(
    """
    name = "tiny"
    start = "2026-04-22"
    days = 1

    [[population]]
    archetype = "casual"
    accounts = 8

    [[population]]
    archetype = "power_user"
    accounts = 3
    """
)


# --- helpers ---------------------------------------------------------------------------------------


def _snapshot(root: Path) -> dict[str, str]:
    """Every file (its sha256) and folder under ``root``, by path relative to it."""
    snap = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        is_dir = p.is_dir() and not p.is_symlink()
        snap[rel] = "<dir>" if is_dir else hashlib.sha256(p.read_bytes()).hexdigest()
    return snap


def _cli(args: list[str], cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from distillguard.cli import run; run()", *args],
        cwd=cwd, capture_output=True, text=True, timeout=timeout,
    )


def _whole(folder: Path) -> Manifest:
    """The folder's manifest, after checking every file it lists is there with its digest."""
    m = Manifest.read(folder)
    assert m is not None, f"{folder} has no manifest"
    for rel, rec in m.files.items():
        p = folder / rel
        assert p.is_file(), f"{rel} listed but missing"
        assert p.stat().st_size == rec.size and digest(p) == rec.xxh3_128, f"{rel} does not match"
    return m


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _workspace(root: Path) -> None:
    """An analyst's folders: a case with a log and notes, an accounts table, unrelated files, a scenario."""
    _jsonl(root / "case" / "logs.jsonl", ROWS)
    (root / "case" / "notes.txt").write_text("analyst notes: do not lose\n")
    (root / "acc").mkdir()
    (root / "acc" / "accounts.csv").write_text(
        "account_id,created_at,tier\n" + "".join(f"a{i},2026-01-0{i + 1}T00:00:00Z,free\n" for i in range(5))
    )
    (root / "acc" / "readme.txt").write_text("exported from billing\n")
    (root / "other" / "deep").mkdir(parents=True)
    (root / "other" / "a.txt").write_text("a\n")
    (root / "other" / "deep" / "b.txt").write_text("b\n")
    (root / "threat").mkdir()
    (root / "threat" / "threat.toml").write_text(SCENARIO)
    (root / "threat" / "notes.txt").write_text("what we fear\n")


SCAN = ["scan", "case/logs.jsonl", "--workers", "1", "--no-report"]
SIMULATE = ["simulate", "--scenario", "threat/threat.toml", "--seed", "3"]


_PRIORS: dict[tuple, Path] = {}


@pytest.fixture(scope="module", autouse=True)
def _priors_root(tmp_path_factory) -> None:
    _PRIORS.clear()
    _PRIORS[()] = tmp_path_factory.mktemp("priors")


def _prior(command: list[str], out: str) -> Callable[[Path], None]:
    """An earlier run's results folder ``out`` (made once per module, then copied)."""

    def make(root: Path) -> None:
        key = (*command, out)
        if key not in _PRIORS:
            base = _PRIORS[()] / f"p{len(_PRIORS)}"
            base.mkdir()
            _workspace(base)
            p = _cli([*command, "--out", out], base)
            assert p.returncode == 0, p.stderr
            _PRIORS[key] = base / out
        shutil.copytree(_PRIORS[key], root / out)

    return make


def _and(*steps: Callable[[Path], None]) -> Callable[[Path], None]:
    def make(root: Path) -> None:
        for s in steps:
            s(root)

    return make


def _add(rel: str, text: str) -> Callable[[Path], None]:
    def make(root: Path) -> None:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)

    return make


def _nothing(root: Path) -> None:
    return None


# (case id, setup, command, --out, working folder, exit code, words of the message)
REFUSED_OR_ALLOWED = [
    ("input-folder", _nothing, SCAN, "case", ".", 2, ["--out case", "the input case/logs.jsonl is inside"]),
    ("current-folder", _nothing, ["scan", "logs.jsonl", "--no-report"], ".", "case", 2,
     ["--out .", "the input logs.jsonl is inside"]),
    ("current-folder-unrelated", _nothing, ["scan", "../case/logs.jsonl", "--no-report"], ".", "other", 2,
     ["--out .", "holds 2 entries distillguard did not write (a.txt, deep)"]),
    ("unrelated-files", _nothing, SCAN, "other", ".", 2,
     ["--out other", "holds 2 entries distillguard did not write", "no distillguard-manifest.json"]),
    ("accounts-folder", _nothing, [*SCAN, "--accounts", "acc/accounts.csv"], "acc", ".", 2,
     ["--out acc", "the input acc/accounts.csv is inside"]),
    ("a-file", _nothing, SCAN, "case/notes.txt", ".", 2,
     ["--out case/notes.txt", "exists and is not a folder"]),
    ("inside-input-folder", _nothing, ["scan", "case", "--no-report"], "case/results", ".", 2,
     ["the output folder is inside the input folder case"]),
    ("new-folder", _nothing, SCAN, "new/deeper/res", ".", 0, []),
    ("empty-folder", lambda root: (root / "empty").mkdir(), SCAN, "empty", ".", 0, []),
    ("previous-results", _prior(SCAN, "res"), SCAN, "res", ".", 0, []),
    ("previous-results-with-user-files",
     _and(_prior(SCAN, "res"), _add("res/my-notes.md", "mine\n"), _add("res/triage/list.txt", "a0\n")),
     SCAN, "res", ".", 0, ["kept in res: triage/, my-notes.md"]),
    ("previous-results-edited", _and(_prior(SCAN, "res"), _add("res/campaigns.json", "[]\n")), SCAN, "res",
     ".", 2, ["campaigns.json was changed after distillguard wrote it"]),
    ("user-file-named-like-a-result", _and(_prior(SCAN, "res"), _add("res/report.html", "<p>mine</p>")),
     [*SCAN[:-1]], "res", ".", 2, ["report.html was not written by distillguard"]),
    ("input-inside-previous-results", _and(_prior(SCAN, "res"), _add("res/more.jsonl", "")),
     ["scan", "res/more.jsonl", "--no-report"], "res", ".", 2, ["the input res/more.jsonl is inside"]),
    ("results-of-another-command", _prior(SIMULATE, "sim"), SCAN, "sim", ".", 2,
     ["holds the results of `distillguard simulate`"]),
    # the same cases for simulate
    ("sim-input-folder", _nothing, SIMULATE, "threat", ".", 2, ["the input threat/threat.toml is inside"]),
    ("sim-current-folder", _nothing, ["simulate", "--scenario", "threat.toml"], ".", "threat", 2,
     ["--out .", "the input threat.toml is inside"]),
    ("sim-unrelated-files", _nothing, SIMULATE, "other", ".", 2,
     ["holds 2 entries distillguard did not write"]),
    ("sim-prompts-folder", _nothing, [*SIMULATE, "--prompts-dir", "other"], "other", ".", 2,
     ["the input other is inside the output folder"]),
    ("sim-a-file", _nothing, SIMULATE, "threat/notes.txt", ".", 2, ["exists and is not a folder"]),
    ("sim-new-folder", _nothing, SIMULATE, "sims/one", ".", 0, []),
    ("sim-previous-results", _prior(SIMULATE, "sim"), [*SIMULATE[:-1], "4"], "sim", ".", 0, []),
    ("sim-previous-results-with-user-files",
     _and(_prior(SIMULATE, "sim"), _add("sim/README", "what this is\n"), _add("sim/interactions/x.txt", "x")),
     [*SIMULATE[:-1], "4"], "sim", ".", 0, ["kept in sim: README, interactions/x.txt"]),
    ("sim-previous-results-edited", _and(_prior(SIMULATE, "sim"), _add("sim/scenario.json", "{}")),
     SIMULATE, "sim", ".", 2, ["scenario.json was changed after distillguard wrote it"]),
    ("sim-results-of-another-command", _prior(SCAN, "res"), SIMULATE, "res", ".", 2,
     ["holds the results of `distillguard scan`"]),
]


@pytest.mark.parametrize(
    ("setup", "command", "out", "cwd", "code", "words"),
    [pytest.param(*c[1:], id=c[0]) for c in REFUSED_OR_ALLOWED],
)
def test_output_folder_rule(tmp_path, setup, command, out, cwd, code, words):
    root = tmp_path / "w"
    root.mkdir()
    _workspace(root)
    setup(root)
    target = (root / cwd / out).resolve()
    listed = set()
    if target.is_dir() and (target / MANIFEST).exists():
        listed = {(target / rel).relative_to(root).as_posix() for rel in Manifest.read(target).files} | {
            target.relative_to(root).as_posix() + "/" + MANIFEST
        }
    before = _snapshot(root)

    p = _cli([*command, "--out", out], root / cwd)

    after = _snapshot(root)
    said = " ".join(p.stderr.split())
    assert p.returncode == code, p.stderr
    assert "Traceback" not in p.stderr
    for w in words:
        assert w in said, said
    if code != 0:
        assert said.count("error:") == 1
        assert "nothing was written" in said
        assert after == before  # not a byte written, moved or removed anywhere
        return
    for rel, h in before.items():  # only what the folder's manifest listed may change or go
        if rel not in listed:
            assert after.get(rel) == h, f"{rel} changed or vanished"
    _whole(target)
    assert not list(target.parent.glob(f".{target.name}.tmp-*")), "a staging folder was left behind"


def test_previous_results_are_replaced_and_stale_files_removed(tmp_path):
    """A rerun replaces the files it lists; a file the old run wrote and the new one does not is gone."""
    _workspace(tmp_path)
    bad = [dict(r) for r in ROWS]
    bad[0]["ts"] = "not a time"
    _jsonl(tmp_path / "case" / "bad.jsonl", bad)
    first = _cli(["scan", "case/bad.jsonl", "--no-report", "--out", "res"], tmp_path)
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "res" / "rejected.csv").exists()
    (tmp_path / "res" / "mine.txt").write_text("kept\n")
    again = _cli([*SCAN, "--out", "res"], tmp_path)
    assert again.returncode == 0, again.stderr
    m = _whole(tmp_path / "res")
    assert "rejected.csv" not in m.files and not (tmp_path / "res" / "rejected.csv").exists()
    assert (tmp_path / "res" / "mine.txt").read_text() == "kept\n"
    assert json.loads((tmp_path / "res" / "summary.json").read_text())["rejected_rows"] == 0


# --- single-file outputs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["report", "res", "--out", "case/notes.txt"], 2, ["is not one distillguard wrote"]),
        (["report", "res", "--out", "res/accounts.csv"], 2, ["is a result file of `distillguard scan`"]),
        (["report", "res", "--out", "page.html"], 0, []),
        (["export", "res", "--actions", "case/logs.jsonl"], 2, ["is not one distillguard wrote"]),
        (["export", "res", "--stix", "res/summary.json", "--provider", "P"], 2, ["is a result file"]),
        (["export", "res", "--actions", "acts.jsonl"], 0, []),
        (["export", "res", "--stix", "other/a.txt", "--provider", "P"], 2, ["is not one distillguard wrote"]),
        (["evaluate", "res", "--labels", "sim", "--json", "case/notes.txt"], 2,
         ["is not one distillguard wrote"]),
        (["report", "case"], 2,
         ["DIR case", "holds 2 entries distillguard did not write", "give --out FILE"]),
        (["report", "res"], 0, []),
        (["validate", "case/logs.jsonl", "--rejected", "case/notes.txt"], 2,
         ["is not one distillguard wrote"]),
        (["validate", "case/logs.jsonl", "--rejected", "case/logs.jsonl"], 2,
         ["is an input of this command"]),
        (["validate", "case/logs.jsonl", "--rejected", "set-aside.csv"], 0, []),
    ],
)
def test_single_file_outputs(tmp_path, args, code, words):
    _workspace(tmp_path)
    _prior(SCAN, "res")(tmp_path)
    _prior(SIMULATE, "sim")(tmp_path)
    before = _snapshot(tmp_path)
    p = _cli(args, tmp_path)
    said = " ".join(p.stderr.split())
    assert p.returncode == code, p.stderr
    for w in words:
        assert w in said
    after = _snapshot(tmp_path)
    if code:
        assert after == before
        return
    changed = {k for k in before if after.get(k) != before[k]}
    assert changed <= {"res/report.html", "res/" + MANIFEST}
    _whole(tmp_path / "res")
    again = _cli(args, tmp_path)  # a file distillguard wrote may be written again
    assert again.returncode == 0, again.stderr


# --- killed runs ---------------------------------------------------------------------------------------

PUBLISH = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from distillguard import outdir
    from tests.test_output_safety import _publish_results

    target, kill_at = Path(sys.argv[1]), int(sys.argv[2])
    count = 0

    def counted(name):
        op = getattr(outdir.FS, name)

        def step(*a, **k):
            global count
            if count == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            count += 1
            return op(*a, **k)

        return step

    for name in ("exchange", "rename", "link", "unlink", "rmdir"):
        setattr(outdir.FS, name, staticmethod(counted(name)))
    _publish_results(target, "new")
    print(count)
    """
)


def _publish_results(target: Path, version: str) -> None:
    """Publish a small set of scan result files into ``target``; "old" and "new" differ in content
    and in which files they have."""
    from distillguard.output import scan_folder

    folder = scan_folder(target, [])
    existing = folder.check()
    with folder.staging() as tmp:
        (tmp / "accounts.csv").write_text(f"account_id\n{version}\n")
        (tmp / "summary.json").write_text(f'{{"version": "{version}"}}')
        (tmp / ("rejected.csv" if version == "old" else "edges.parquet")).write_text(version)
        folder.publish(tmp, existing)


def _killed_publish(target: Path, kill_at: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", PUBLISH, str(target), str(kill_at)],
                          capture_output=True, text=True, timeout=60, cwd=Path(__file__).parents[1])


def _state(target: Path) -> dict[str, str]:
    m = _whole(target)
    return {rel: (target / rel).read_text() for rel in m.files}


def test_a_kill_at_every_step_of_publishing_leaves_old_or_new_whole(tmp_path):
    """SIGKILL before each file-system step of publishing (linking the user's files in, the swap, the
    retiring of the old folder): the target holds the old results or the new ones, whole, with the
    user's files; the next run finishes the job and leaves nothing behind."""
    from distillguard.outdir import _exchange

    probe_a, probe_b = tmp_path / "pa", tmp_path / "pb"
    probe_a.mkdir()
    probe_b.mkdir()
    if not _exchange(probe_a, probe_b):
        pytest.skip("this file system has no atomic exchange (renameat2)")
    target = tmp_path / "res"
    user = {"notes.md": "mine\n", "triage/list.txt": "a1\n", "triage/deep/x.txt": "x\n"}

    def fresh() -> None:
        for d in [target, *tmp_path.glob(".res.tmp-*")]:
            shutil.rmtree(d, ignore_errors=True)
        _publish_results(target, "old")
        for rel, text in user.items():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            (target / rel).write_text(text)

    fresh()
    old = _state(target)
    full = _killed_publish(target, -1)
    assert full.returncode == 0, full.stderr
    new = _state(target)
    steps = int(full.stdout.strip())
    assert steps >= 10  # links, the swap, the retiring: every one is a kill point below
    seen = set()
    for k in range(steps):
        fresh()
        p = _killed_publish(target, k)
        assert p.returncode == -signal.SIGKILL, (k, p.stderr)
        state = _state(target)
        assert state in (old, new), k
        seen.add("new" if state == new else "old")
        for rel, text in user.items():
            assert (target / rel).read_text() == text, (k, rel)
        _publish_results(target, "new")  # the next run: finishes and cleans up
        assert _state(target) == new
        for rel, text in user.items():
            assert (target / rel).read_text() == text, (k, rel)
        assert not list(tmp_path.glob(".res.tmp-*")), k
    assert seen == {"old", "new"}


@pytest.mark.parametrize("command", ["scan", "simulate"])
def test_a_command_killed_while_publishing_leaves_old_or_new_whole(tmp_path, command):
    """The real command, killed (SIGKILL) as soon as its staging folder holds a manifest, i.e. while it
    publishes; and once more at a random moment of its work."""
    _workspace(tmp_path)
    base = SCAN if command == "scan" else SIMULATE
    out = tmp_path / "out"
    assert _cli([*base, "--out", "out"], tmp_path).returncode == 0
    (out / "mine.txt").write_text("mine\n")
    old = _snapshot(out)
    args = [*base, "--out", "out"] if command == "scan" else [*base[:-1], "5", "--out", "out"]
    for when in ("publishing", 0.8):
        proc = subprocess.Popen([sys.executable, "-c", "from distillguard.cli import run; run()", *args],
                                cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t0 = time.monotonic()
        while proc.poll() is None and time.monotonic() - t0 < 120:
            publishing = any((d / MANIFEST).exists() for d in tmp_path.glob(".out.tmp-*"))
            if (when == "publishing" and publishing) or (
                when != "publishing" and time.monotonic() - t0 > float(when)
            ):
                os.kill(proc.pid, signal.SIGKILL)
                break
        proc.wait(timeout=60)
        state = _snapshot(out)
        _whole(out)  # the old results or the new ones, whole (a scan's summary has timings: not compared)
        assert state["mine.txt"] == old["mine.txt"]
        rerun = _cli(args, tmp_path)
        assert rerun.returncode == 0, rerun.stderr
        _whole(out)
        assert (out / "mine.txt").read_text() == "mine\n"
        assert not list(tmp_path.glob(".out.tmp-*"))
        old = _snapshot(out)


# --- the library's pieces, in process -----------------------------------------------------------------

OURS = {
    "report": ("r.html", '<html><head><meta name="generator" content="distillguard 0.1.0"></head></html>'),
    "actions": ("a.jsonl", '{"account_id": "a1", "action": "monitor", "escalate_to_review": false}\n'),
    "evaluation": ("e.json", '{"precision": 1.0, "recall": 1.0, "lookalikes": [], "playbooks": []}'),
    "rejected": ("x.csv", "file,row,reason,raw\nlogs.jsonl,3,bad ts,{}\n"),
    "model": ("m.json", '{"intercept": 0, "weights": {}, "curve": []}'),
}


@pytest.mark.parametrize("kind", sorted(OURS))
@pytest.mark.parametrize(
    ("existing", "refused"),
    [("none", None), ("empty", None), ("ours", None), ("theirs", "is not one distillguard wrote"),
     ("folder", "is a folder"), ("input", "is an input of this command"), ("result", "is a result file")],
)
def test_a_single_output_file_replaces_only_what_distillguard_wrote(tmp_path, kind, existing, refused):
    from distillguard.outdir import OutputFile, OutputRefused

    name, ours = OURS[kind]
    path = tmp_path / name
    if existing == "empty":
        path.write_text("")
    elif existing == "ours":
        path.write_text(ours)
    elif existing in ("theirs", "input"):
        path.write_text("the user's own words\n")
    elif existing == "folder":
        path.mkdir()
    elif existing == "result":
        path.write_text(ours)
        Manifest("scan", {name: record(path)}).write(tmp_path)
    before = _snapshot(tmp_path)
    target = OutputFile(path, kind, "--out", inputs=(path,) if existing == "input" else ())
    if refused:
        with pytest.raises(OutputRefused, match=refused):
            target.check()
        assert _snapshot(tmp_path) == before
        return
    target.check()
    with target.writing() as tmp:
        tmp.write_text(ours)
    assert path.read_text() == ours
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no temporary file left


def test_remove_takes_only_the_listed_files(tmp_path):
    from distillguard.outdir import OutputRefused, remove

    _workspace(tmp_path)
    _prior(SIMULATE, "sim")(tmp_path)
    (tmp_path / "sim" / "interactions" / "mine.txt").write_text("mine\n")
    (tmp_path / "sim" / "README").write_text("mine\n")
    assert sorted(remove(tmp_path / "sim")) == ["README", "interactions/mine.txt"]
    assert _snapshot(tmp_path / "sim") == {
        "README": hashlib.sha256(b"mine\n").hexdigest(),
        "interactions": "<dir>",
        "interactions/mine.txt": hashlib.sha256(b"mine\n").hexdigest(),
    }
    with pytest.raises(OutputRefused, match=r"has no distillguard-manifest\.json"):
        remove(tmp_path / "case")
    assert (tmp_path / "case" / "notes.txt").exists()

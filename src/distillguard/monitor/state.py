"""The state folder of continuous monitoring: what earlier runs read, detected and were told.

Layout (everything below ``STATE/`` is distillguard's own; the folder must be new, empty, or a
state folder, recognised by :data:`MARKER`)::

    STATE/distillguard-state.json   marker and format version
    STATE/.lock                     flock held by the run (or review) that uses the state
    STATE/CURRENT                   the name of the committed generation, e.g. gen-000007
    STATE/gen-000007/
        meta.json                   options, window, runs so far, contract columns seen, clock
        files.json                  every input file read: content fingerprint, rows, time range, run
        rows/DAY--rNNNNNN-K.parquet the staged rows (per-prompt features) of the window, one day a file
        accounts.parquet            the accounts table, latest row per account (when one was given)
        registry.json               stable campaigns: ids, members, aliases, when first flagged
        decisions.json              analysts' confirm/dismiss decisions
        history/DAY--rNNNNNN.parquet each run's decisions per account (an honest detection delay),
                                    kept for HISTORY_DAYS
        last.json                   the previous run's flagged accounts and campaigns (for changes)
        outbox.json                 change batches a webhook has not accepted yet

A run never edits a generation: it builds the next one (``gen-N+1``; unchanged row files are hard
links, so this costs the new rows only), fsyncs it, and only then points ``CURRENT`` at it with one
rename. A run killed at any point leaves ``CURRENT`` at the old generation, whole; the next run
removes the partial one and does the work again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distillguard import __version__
from distillguard.errors import UsageError

MARKER = "distillguard-state.json"
STATE_FORMAT = 1
_GEN = re.compile(r"gen-(\d{6,})")
_TMP = re.compile(r"gen-(\d{6,})\.tmp")
#: folders of a generation whose files are shared (hard links) with the next one
FOLDERS = ("rows", "history")


class StateRefused(UsageError):
    """The state folder cannot be used (not a state folder, in use, or of another format)."""


class StateBusy(StateRefused):
    """Another run holds the state's lock."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    """fsync the files a generation wrote, and its folders; a file hard-linked from the previous
    generation (more than one link) was made durable by the run that wrote it."""
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            if os.stat(path).st_nlink > 1:
                continue
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(dirpath))


@dataclass
class Generation:
    """One committed (read-only) or in-progress (writable) generation folder."""

    path: Path
    number: int

    @property
    def rows(self) -> Path:
        return self.path / "rows"

    def read_json(self, name: str, default: Any) -> Any:
        p = self.path / name
        if not p.exists():
            return default
        return json.loads(p.read_text(encoding="utf-8"))

    def write_json(self, name: str, doc: Any) -> None:
        (self.path / name).write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

    def row_files(self) -> list[Path]:
        return sorted(self.rows.glob("*.parquet")) if self.rows.exists() else []


class StateDir:
    """A state folder, opened under its lock (use as a context manager)."""

    def __init__(self, path: Path, *, create: bool = True):
        self.path = Path(path)
        self._create = create
        self._lock_fd: int | None = None

    # --- opening ---------------------------------------------------------------------------------
    def __enter__(self) -> StateDir:
        self._claim()
        self._lock()
        self._clean_leftovers()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _claim(self) -> None:
        p = self.path
        if p.exists() and not p.is_dir():
            raise StateRefused(f"{p}: --state must be a folder; this is a file. Nothing was written.")
        marker = p / MARKER
        if p.is_dir() and marker.exists():
            try:
                doc = json.loads(marker.read_text(encoding="utf-8"))
                fmt = doc.get("distillguard_state")
            except (OSError, ValueError, AttributeError) as exc:
                raise StateRefused(
                    f"{p}: its {MARKER} cannot be read ({exc}). Nothing was written."
                ) from None
            if fmt != STATE_FORMAT:
                raise StateRefused(
                    f"{p}: a state folder of format {fmt!r}; this distillguard reads format {STATE_FORMAT}. "
                    "Start a new state folder. Nothing was written."
                )
            return
        if not self._create:
            raise StateRefused(f"{p}: not a distillguard state folder (no {MARKER}); nothing to review.")
        if p.is_dir() and any(p.iterdir()):
            names = sorted(q.name for q in p.iterdir())[:4]
            raise StateRefused(
                f"{p}: not empty and not a distillguard state folder (holds {', '.join(names)}); "
                "a state folder must be new or empty. Nothing was written."
            )
        p.mkdir(parents=True, exist_ok=True)
        tmp = p / f".{MARKER}.tmp"
        tmp.write_text(
            json.dumps({"distillguard_state": STATE_FORMAT, "written_by": f"distillguard {__version__}"})
            + "\n",
            encoding="utf-8",
        )
        os.replace(tmp, marker)
        _fsync_dir(p)

    def _lock(self) -> None:
        fd = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise StateBusy(
                f"{self.path}: another distillguard run is using this state (pid {holder}); "
                "wait for it to finish. Nothing was done."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock_fd = fd

    def _clean_leftovers(self) -> None:
        """Generations a killed run left (not CURRENT): this folder's own, removed whole."""
        cur = self._current_name()
        for q in self.path.iterdir():
            if (_GEN.fullmatch(q.name) or _TMP.match(q.name)) and q.name != cur and q.is_dir():
                shutil.rmtree(q)
        tmp = self.path / "CURRENT.tmp"
        if tmp.exists():
            tmp.unlink()

    # --- generations -----------------------------------------------------------------------------
    def _current_name(self) -> str | None:
        p = self.path / "CURRENT"
        if not p.exists():
            return None
        name = p.read_text(encoding="utf-8").strip()
        if not _GEN.fullmatch(name) or not (self.path / name).is_dir():
            raise StateRefused(f"{self.path}: CURRENT names {name!r}, which is not a generation here")
        return name

    def current(self) -> Generation | None:
        name = self._current_name()
        if name is None:
            return None
        m = _GEN.fullmatch(name)
        assert m is not None
        return Generation(self.path / name, int(m.group(1)))

    @contextlib.contextmanager
    def next_generation(self, keep: Callable[[str, str], bool] | None = None) -> Iterator[Generation]:
        """A new generation to fill; committed (CURRENT switched) when the block ends without error.

        The current generation's top-level files are copied in, and the files of its folders
        (:data:`FOLDERS`) hard-linked, those for which ``keep(folder, name)`` is true (all by default)."""
        cur = self.current()
        n = (cur.number + 1) if cur else 1
        name = f"gen-{n:06d}"
        tmp = self.path / f"{name}.tmp"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        for sub in FOLDERS:
            (tmp / sub).mkdir()
        if cur is not None:
            for q in cur.path.iterdir():
                if q.is_file():
                    shutil.copy2(q, tmp / q.name)
            for sub in FOLDERS:
                src = cur.path / sub
                for f in sorted(src.iterdir()) if src.is_dir() else []:
                    if keep is None or keep(sub, f.name):
                        os.link(f, tmp / sub / f.name)
        gen = Generation(tmp, n)
        try:
            yield gen
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)  # (this run's own partial generation)
            raise
        _fsync_tree(tmp)
        final = self.path / name
        os.replace(tmp, final)
        _fsync_dir(self.path)
        ptr = self.path / "CURRENT.tmp"
        with open(ptr, "w", encoding="utf-8") as f:
            f.write(name + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(ptr, self.path / "CURRENT")  # the commit
        _fsync_dir(self.path)
        gen.path = final
        if cur is not None:
            shutil.rmtree(cur.path)

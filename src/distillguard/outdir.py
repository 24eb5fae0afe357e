"""Where distillguard may write, and how it replaces what it wrote before.

The rule, for every command that writes a folder: the folder must be new, empty, or one that
distillguard wrote before, recognised by the manifest of the files it wrote
(``distillguard-manifest.json``: each file's size and xxh3-128 digest), checked against what is
there. Only files listed in that manifest are ever replaced or removed; anything else in the folder
is kept where it is. Anything else is refused before work starts (:class:`OutputRefused`, exit 2),
as is an input inside the output folder.

Results are atomic. A command writes into a staging folder beside the target (``.NAME.tmp-XXXX``),
hard-links the files it did not write from the target into it, then swaps the two folders in one
``renameat2(RENAME_EXCHANGE)``: at every instant the target holds either the old results or the new
ones, whole, and the files distillguard did not write are present in both. The old folder is then
retired file by file: manifest-listed files are removed, our extra links are removed, anything else
is moved back or left, never deleted. A run killed at any point leaves such a staging folder behind;
the next run on the same target retires it by the same rule.

Single-file outputs (``report --out``, ``export --stix/--actions``, ``evaluate --json``,
``validate --rejected``) follow the same spirit in :class:`OutputFile`: written whole or not at all,
never over an input, a result file of a folder, or an existing file that distillguard did not write.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import fnmatch
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import xxhash

from distillguard import __version__
from distillguard.errors import UsageError

MANIFEST = "distillguard-manifest.json"
#: a file inside a staging folder while a run writes into it: everything beside it is the run's own
STAGING_MARK = ".distillguard-staging"
MANIFEST_FORMAT = 1


class OutputRefused(UsageError):
    """The output folder or file is one distillguard may not write to (exit code 2)."""


# --- the manifest ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileRecord:
    size: int
    xxh3_128: str


@dataclass(frozen=True)
class Manifest:
    """What one command wrote into a folder: its files (posix paths relative to the folder) and,
    for a folder that holds other commands' folders (``demo``), those subfolders and their command."""

    command: str
    files: dict[str, FileRecord] = field(default_factory=dict)
    children: dict[str, str] = field(default_factory=dict)
    version: str = __version__

    def to_json(self) -> str:
        # no timestamp: the same run gives the same bytes (simulate's output is byte-reproducible)
        doc = {
            "distillguard_manifest": MANIFEST_FORMAT,
            "written_by": f"distillguard {self.version}",
            "command": self.command,
            "files": {k: {"size": r.size, "xxh3_128": r.xxh3_128} for k, r in sorted(self.files.items())},
        }
        if self.children:
            doc["children"] = dict(sorted(self.children.items()))
        return json.dumps(doc, indent=1) + "\n"

    @classmethod
    def read(cls, folder: Path) -> Manifest | None:
        """The manifest of ``folder``, None when it has none; :class:`OutputRefused` when unreadable."""
        path = folder / MANIFEST
        if not path.exists() and not path.is_symlink():
            return None
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(doc, dict) or doc.get("distillguard_manifest") != MANIFEST_FORMAT:
                raise ValueError("not a distillguard manifest of a known format")
            files = {
                str(k): FileRecord(int(v["size"]), str(v["xxh3_128"])) for k, v in doc["files"].items()
            }
            children = {str(k): str(v) for k, v in (doc.get("children") or {}).items()}
            version = str(doc.get("written_by", "")).removeprefix("distillguard ")
            return cls(str(doc["command"]), files, children, version)
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise OutputRefused(
                f"{folder}: its {MANIFEST} cannot be read ({exc}), so what distillguard wrote there is "
                "unknown; nothing was written. Choose another folder."
            ) from None

    def write(self, folder: Path) -> None:
        tmp = folder / f".{MANIFEST}.tmp"
        tmp.write_text(self.to_json(), encoding="utf-8")
        os.replace(tmp, folder / MANIFEST)


def digest(path: Path) -> str:
    """xxh3-128 of a file's bytes (hex)."""
    h = xxhash.xxh3_128()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def record(path: Path) -> FileRecord:
    return FileRecord(path.stat().st_size, digest(path))


# --- file-system steps (one place, so that tests can stop a run between any two) ----------------


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2``); False where the system cannot."""
    fn = getattr(_libc(), "renameat2", None)
    if fn is None:
        return False
    if fn(-100, os.fsencode(a), -100, os.fsencode(b), 2) == 0:  # AT_FDCWD, RENAME_EXCHANGE
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(a), str(b))


_LIBC: list[ctypes.CDLL] = []


def _libc() -> ctypes.CDLL:
    if not _LIBC:
        lib = ctypes.CDLL(None, use_errno=True)
        if hasattr(lib, "renameat2"):
            lib.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                                      ctypes.c_uint]
            lib.renameat2.restype = ctypes.c_int
        _LIBC.append(lib)
    return _LIBC[0]


class _Fs:
    """Every change publishing makes to the file system goes through here."""

    exchange = staticmethod(_exchange)
    rename = staticmethod(os.rename)
    link = staticmethod(lambda src, dst: os.link(src, dst, follow_symlinks=False))
    unlink = staticmethod(os.unlink)
    rmdir = staticmethod(os.rmdir)


FS = _Fs()


# --- what is in a folder ---------------------------------------------------------------------------


def _entries(folder: Path) -> Iterator[tuple[str, os.stat_result, bool]]:
    """(posix relative path, lstat, is a real folder) of everything under ``folder``, parents first."""
    for root, dirs, files in os.walk(folder, followlinks=False):
        base = Path(root)
        for name in sorted(dirs):
            p = base / name
            st = p.lstat()
            yield p.relative_to(folder).as_posix(), st, not p.is_symlink()
        dirs[:] = sorted(d for d in dirs if not (base / d).is_symlink())
        for name in sorted(files):
            p = base / name
            yield p.relative_to(folder).as_posix(), p.lstat(), False


def _listing(names: Iterable[str], limit: int = 4) -> str:
    names = list(names)
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


@dataclass
class Existing:
    """What a check found in the target folder."""

    state: str  # "new" | "empty" | "results"
    manifest: Manifest | None = None
    foreign: list[str] = field(default_factory=list)  # entries distillguard did not write
    seen: dict[str, tuple[int, int]] = field(default_factory=dict)  # listed file -> (size, mtime_ns)
    leftovers: list[Path] = field(default_factory=list)  # stale staging folders to retire


@dataclass
class Published:
    """What publishing did: entries kept that distillguard did not write, and anything it left."""

    kept: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)

    def notes(self, out: Path) -> list[str]:
        notes = []
        dirs = [k for k in self.kept if k.endswith("/")]
        tops = [k for k in self.kept if not any(k.startswith(d) and d != k for d in dirs)]
        if tops:
            notes.append(f"kept in {out}: {_listing(tops)} (not written by distillguard)")
        notes.extend(self.left)
        return notes


@dataclass
class OutputFolder:
    """A folder a command writes its results into, under the rule of this module.

    ``may_write`` are the glob patterns (of posix paths relative to the folder) the command can
    write; a file there that distillguard did not write but that matches one is refused, since the
    new results would have to replace it. ``inputs`` are the files and folders the command reads;
    ``reads_folders`` says whether it reads folders recursively (then the output must not lie in one).
    """

    path: Path
    command: str
    may_write: tuple[str, ...]
    inputs: tuple[Path, ...] = ()
    option: str = "--out"
    reads_folders: bool = False
    children: dict[str, str] = field(default_factory=dict)
    #: the last sentence of a refusal: what the user can do instead
    advice: str = ""

    def __post_init__(self) -> None:
        self.given = Path(self.path)
        self.path = Path(os.path.abspath(self.given))
        if self.path.is_symlink() and self.path.is_dir():
            self.path = self.path.resolve()  # the folder the user means, not the link to it

    @property
    def label(self) -> str:
        shown = str(self.given)
        if str(self.path) != shown.rstrip("/"):
            shown += f" ({self.path})"
        return f"{self.option} {shown}"

    # -- checking --

    def check(self) -> Existing:
        """Refuse (:class:`OutputRefused`) unless the rule allows writing; nothing is changed."""
        out = self.path
        if out.parent == out:
            raise self._refused("the root of the file system cannot be an output folder", "")
        self._check_inputs()
        if (out.exists() and not out.is_dir()) or (out.is_symlink() and not out.exists()):
            raise self._refused("exists and is not a folder", "Give a new folder's name.")
        leftovers = self._leftovers()
        if not out.exists():
            return Existing("new", leftovers=leftovers)
        try:
            names = sorted(os.listdir(out))
        except OSError as exc:
            raise OutputRefused(f"{self.label}: cannot be read ({exc.strerror})") from None
        if not names:
            return Existing("empty", leftovers=leftovers)
        manifest = Manifest.read(out)
        if manifest is None:
            raise self._refused(
                f"the folder holds {len(names)} entr{'y' if len(names) == 1 else 'ies'} distillguard did not "
                f"write ({_listing(names)}) and no {MANIFEST}. distillguard writes only into a new or empty "
                "folder, or one it wrote before",
                f"Choose a new folder, e.g. {self.given / 'results'}.",
            )
        if manifest.command != self.command:
            raise self._refused(
                f"holds the results of `distillguard {manifest.command}`, "
                f"not of `distillguard {self.command}`"
            )
        ex = self._survey(manifest)
        ex.leftovers = leftovers
        return ex

    def _refused(self, problem: str, advice: str = "Choose another folder.") -> OutputRefused:
        advice = self.advice or advice
        return OutputRefused(f"{self.label}: {problem}; nothing was written. {advice}".rstrip())

    def _check_inputs(self) -> None:
        out = self.path
        for given in self.inputs:
            p = Path(os.path.abspath(given))
            real = p.resolve() if p.exists() else p
            for candidate in {p, real}:
                if _inside(candidate, out) or _inside(candidate, out.resolve() if out.exists() else out):
                    raise self._refused(
                        f"the input {given} is inside the output folder (distillguard never writes where it "
                        "reads)", "Write the results to another folder."
                    )
                if self.reads_folders and candidate.is_dir() and _inside(out, candidate):
                    raise self._refused(
                        f"the output folder is inside the input folder {given}, so a later run on that "
                        "folder would read the results as logs", "Write the results elsewhere."
                    )

    def _survey(self, manifest: Manifest, *, digests: bool = True, seen: dict | None = None) -> Existing:
        """Check every listed file against the manifest (by digest; or, with ``digests=False``, by the
        size and modification time a full check saw in ``seen``) and list, parents first, every entry
        that distillguard did not write."""
        out = self.path
        foreign: list[str] = []
        found: dict[str, tuple[int, int]] = {}
        changed: list[str] = []
        ours_dirs = {a.as_posix() for rel in manifest.files for a in Path(rel).parents}
        for rel, st, is_dir in _entries(out):
            if rel == MANIFEST or rel.split("/", 1)[0] in manifest.children:
                continue  # (a child folder is checked by its own command's rule)
            rec = manifest.files.get(rel)
            if is_dir:
                if rel not in ours_dirs:
                    foreign.append(rel + "/")
            elif rec is None:
                foreign.append(rel)
            elif not stat.S_ISREG(st.st_mode):
                changed.append(rel)
            elif not digests and seen is not None and seen.get(rel) == (st.st_size, st.st_mtime_ns):
                found[rel] = seen[rel]
            elif st.st_size != rec.size or digest(out / rel) != rec.xxh3_128:
                changed.append(rel)
            else:
                found[rel] = (st.st_size, st.st_mtime_ns)
        if changed:
            one = len(changed) == 1
            raise self._refused(
                f"{_listing(changed)} {'was' if one else 'were'} changed after distillguard wrote "
                f"{'it' if one else 'them'} (the manifest says otherwise), so replacing "
                f"{'it' if one else 'them'} could lose your work",
                "Move the changed files away, or choose another folder.",
            )
        clash = [f for f in foreign if any(fnmatch.fnmatchcase(f.rstrip("/"), pat) for pat in self.may_write)]
        if clash:
            raise self._refused(
                f"{_listing(clash)} was not written by distillguard, but this run may write a file of that "
                "name", "Move it away, or choose another folder."
            )
        return Existing("results", manifest, foreign, found)

    def _leftovers(self) -> list[Path]:
        """Staging folders of earlier runs on this target that were killed; refuses while one is live."""
        parent = self.path.parent
        if not parent.is_dir():
            return []
        found = []
        for p in sorted(parent.glob(f".{glob_escape(self.path.name)}.tmp-*")):
            if not p.is_dir() or p.is_symlink():
                continue
            with _try_lock(p) as locked:
                if not locked:
                    raise self._refused(
                        f"another distillguard run is writing this folder now (its staging folder {p.name} "
                        "is in use)", "Wait for it to finish."
                    )
            found.append(p)
        return found

    # -- writing --

    @contextlib.contextmanager
    def staging(self) -> Iterator[Path]:
        """A new folder beside the target to write into; removed if the block fails, unless publishing
        had already begun (then what it holds is retired by the rule)."""
        parent = self.path.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.tmp-", dir=parent))
        except OSError as exc:
            raise OutputRefused(
                f"{self.label}: cannot create a folder in {parent} ({exc.strerror})"
            ) from None
        (tmp / STAGING_MARK).write_text(
            json.dumps({"pid": os.getpid(), "command": self.command, "target": str(self.path)}) + "\n"
        )
        fd = os.open(tmp, os.O_RDONLY | os.O_DIRECTORY)
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._published_from: Path | None = None
        try:
            yield tmp
        except BaseException:
            if self._published_from is None and (tmp / STAGING_MARK).exists():
                shutil.rmtree(tmp, ignore_errors=True)  # only this run's own files and links
            elif tmp.exists():
                with contextlib.suppress(OSError):  # (else the next run on the target retires it)
                    retire(tmp, self.path)
            raise
        finally:
            os.close(fd)

    def publish(
        self, staged: Path, existing: Existing, *, reused: dict[str, FileRecord] | None = None
    ) -> Published:
        """Put the finished ``staged`` folder in place of the target (see the module docstring).

        ``reused``: records of files in ``staged`` that are links to the target's listed files (so
        they need no new digest)."""
        out = self.path
        records = dict(reused or {})
        for rel, st, is_dir in _entries(staged):
            if not is_dir and rel not in (STAGING_MARK, MANIFEST) and rel not in records:
                records[rel] = FileRecord(st.st_size, digest(staged / rel))
        Manifest(self.command, records, dict(self.children)).write(staged)
        done = Published()
        if existing.leftovers:
            for old in existing.leftovers:
                done.left.extend(_retire_stale(old, out))
        current = self._recheck(existing) if out.exists() else None
        if current is not None:
            for rel in current.foreign:  # the files distillguard did not write stay in both folders
                src, dst = out / rel.rstrip("/"), staged / rel.rstrip("/")
                if rel.endswith("/"):
                    dst.mkdir(parents=True, exist_ok=True)
                    continue
                dst.parent.mkdir(parents=True, exist_ok=True)
                if dst.exists() or dst.is_symlink():
                    raise OutputRefused(f"{self.label}: {rel} appeared while the run was writing; "
                                        f"the new results are left in {staged}")
                FS.link(src, dst)
            done.kept = current.foreign
        # the folder keeps the permissions it had; a new one gets those the umask gives (not mkdtemp's 0700)
        os.chmod(staged, stat.S_IMODE(out.stat().st_mode) if current is not None else 0o777 & ~_umask())
        self._published_from = staged
        FS.unlink(staged / STAGING_MARK)
        if current is None:
            FS.rename(staged, out)
            return done
        if not FS.exchange(staged, out):  # no atomic swap here: a moment with no folder at out
            FS.rename(out, staged.with_name(staged.name + "-old"))
            FS.rename(staged, out)
            staged = staged.with_name(staged.name + "-old")
        done.left.extend(retire(staged, out))
        return done

    def carry_over(
        self, existing: Existing, staged: Path, *, replacing: Iterable[str]
    ) -> dict[str, FileRecord]:
        """Link the target's listed files into ``staged``, except those the run is ``replacing``, for a
        command that rewrites some files of a folder (``report``); returns their records."""
        assert existing.manifest is not None
        skip = set(replacing)
        kept = {}
        for rel, rec in existing.manifest.files.items():
            if rel in skip or rel not in existing.seen:
                continue
            (staged / rel).parent.mkdir(parents=True, exist_ok=True)
            FS.link(self.path / rel, staged / rel)
            kept[rel] = rec
        return kept

    def _recheck(self, existing: Existing) -> Existing:
        """The target again, just before the swap: files added or changed since the check are found
        here (listed files whose size and time are as the check saw them are not read again)."""
        out = self.path
        manifest = Manifest.read(out)
        if manifest is None:
            names = sorted(os.listdir(out))
            if names:
                raise OutputRefused(f"{self.label}: {_listing(names)} appeared in the folder while the run "
                                    "was writing; nothing was replaced")
            return Existing("empty")
        if manifest != existing.manifest:
            return self._survey(manifest)
        return self._survey(manifest, digests=False, seen=existing.seen)


def _umask() -> int:
    try:  # (Linux: read without setting it, which would race with other threads creating files)
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


@contextlib.contextmanager
def _try_lock(folder: Path) -> Iterator[bool]:
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        yield True
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def _retire_stale(old: Path, out: Path) -> list[str]:
    """A staging folder left by a killed run: removed whole while it is still being written (only
    the run's own files), else retired file by file."""
    with _try_lock(old) as free:
        if not free:
            return []
        if (old / STAGING_MARK).exists() and not (old / MANIFEST).exists():
            shutil.rmtree(old, ignore_errors=True)
            return []
        return retire(old, out)


def retire(old: Path, out: Path) -> list[str]:
    """Empty the folder ``old`` that was the target (or a staging folder for it) without losing
    anything distillguard did not write: files in its manifest are removed, as are links to files
    that are also at the same place in ``out``; anything else is moved back into ``out`` if that place
    is free, else left. Returns a note for what was left."""
    try:
        manifest = Manifest.read(old)
    except OutputRefused:
        manifest = None
    listed = set(manifest.files) if manifest else set()
    entries = list(_entries(old))
    dirs = [rel for rel, _st, is_dir in entries if is_dir]
    left = []
    # the manifest goes last: a folder retired halfway (a killed run) still says which files are ours
    entries.sort(key=lambda e: e[0] == MANIFEST)
    for rel, st, is_dir in entries:
        if is_dir:
            continue
        p = old / rel
        if rel in listed or rel in (MANIFEST, STAGING_MARK, f".{MANIFEST}.tmp"):
            FS.unlink(p)
            continue
        twin = out / rel
        try:
            tst = twin.lstat()
        except FileNotFoundError:
            tst = None
        except NotADirectoryError:
            left.append(rel)
            continue
        if tst is not None and (tst.st_ino, tst.st_dev) == (st.st_ino, st.st_dev):
            FS.unlink(p)  # our extra link: the file stays in out
        elif tst is None:
            twin.parent.mkdir(parents=True, exist_ok=True)
            FS.rename(p, twin)  # a file added during the run: back where it was put
        else:
            left.append(rel)
    for rel in sorted(dirs, key=lambda d: -d.count("/")):
        twin = out / rel
        with contextlib.suppress(OSError):
            FS.rmdir(old / rel)
            continue
        if not twin.exists():
            with contextlib.suppress(OSError):
                twin.parent.mkdir(parents=True, exist_ok=True)
                FS.rename(old / rel, twin)
    try:
        FS.rmdir(old)
    except FileNotFoundError:
        pass
    except OSError:
        return [f"left {old}: it holds {_listing(left) or 'files'} that distillguard did not write "
                f"and could not put back into {out}"]
    return []


def remove(folder: Path) -> list[str]:
    """Remove what distillguard wrote into ``folder`` (the files its manifest lists, the manifest, then
    the folders left empty); anything else stays. Returns what was kept."""
    manifest = Manifest.read(folder)
    if manifest is None:
        raise OutputRefused(f"{folder}: has no {MANIFEST}; distillguard removes only what it wrote")
    entries = list(_entries(folder))
    for rel in manifest.files:
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISREG((folder / rel).lstat().st_mode):
                FS.unlink(folder / rel)
    FS.unlink(folder / MANIFEST)
    for rel in sorted((r for r, _st, d in entries if d), key=lambda d: -d.count("/")):
        with contextlib.suppress(OSError):
            FS.rmdir(folder / rel)
    with contextlib.suppress(OSError):
        FS.rmdir(folder)
    return [rel for rel, _st, d in _entries(folder) if not d] if folder.exists() else []


# --- single files -----------------------------------------------------------------------------


def _looks_like_html_report(head: bytes) -> bool:
    return b'<meta name="generator" content="distillguard' in head


def _looks_like_stix(path: Path) -> bool:
    from distillguard.export.stix import made_by_distillguard

    return made_by_distillguard(path)


def _looks_like_json_with(keys: set[str]) -> Callable[[Path], bool]:
    def check(path: Path) -> bool:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError):
            return False
        return isinstance(doc, dict) and keys <= set(doc)

    return check


def _looks_like_jsonl_with(keys: set[str]) -> Callable[[Path], bool]:
    def check(path: Path) -> bool:
        try:
            with open(path, encoding="utf-8") as f:
                first = f.readline()
            doc = json.loads(first)
        except (OSError, ValueError, UnicodeDecodeError):
            return False
        return isinstance(doc, dict) and keys <= set(doc)

    return check


def _looks_like_table_with(columns: set[str]) -> Callable[[Path], bool]:
    def check(path: Path) -> bool:
        try:
            if path.suffix.lower() in (".parquet", ".pq"):
                import pyarrow.parquet as pq

                names = set(pq.read_schema(path).names)
            else:
                with open(path, encoding="utf-8") as f:
                    names = {c.strip('"') for c in f.readline().rstrip("\r\n").split(",")}
        except Exception:  # anything unreadable is not a table we wrote
            return False
        return columns <= names

    return check


#: how a file distillguard wrote of each kind is recognised (a file it may therefore replace)
RECOGNISERS: dict[str, Callable[[Path], bool]] = {
    "report": lambda p: _looks_like_html_report(p.read_bytes()[:4096]),
    "stix": _looks_like_stix,
    "actions": _looks_like_jsonl_with({"account_id", "action", "escalate_to_review"}),
    "evaluation": _looks_like_json_with({"precision", "recall", "lookalikes", "playbooks"}),
    "rejected": _looks_like_table_with({"file", "row", "reason", "raw"}),
    "model": _looks_like_json_with({"intercept", "weights", "curve"}),
}


@dataclass
class OutputFile:
    """One file a command writes (``kind`` names the recogniser of its earlier versions)."""

    path: Path
    kind: str
    option: str
    inputs: tuple[Path, ...] = ()
    #: create the file's folder (when it is missing) rather than refuse
    make_parent: bool = False

    def check(self) -> None:
        """Refuse (:class:`OutputRefused`) unless the file may be written; nothing is changed."""
        p = Path(os.path.abspath(self.path))
        label = f"{self.option} {self.path}"
        if p.is_dir():
            raise OutputRefused(f"{label}: is a folder; give a file name")
        if not p.parent.is_dir():
            if self.make_parent and not p.parent.exists():
                return
            raise OutputRefused(f"{label}: the folder {p.parent} does not exist")
        real = p.resolve()
        for given in self.inputs:
            q = Path(os.path.abspath(given))
            if real == q.resolve() or _same(real, q):
                raise OutputRefused(f"{label}: is an input of this command ({given}); nothing was written")
        manifest = None
        with contextlib.suppress(OutputRefused):
            manifest = Manifest.read(real.parent)
        if manifest is not None and (real.name in manifest.files or real.name == MANIFEST):
            raise OutputRefused(
                f"{label}: is a result file of `distillguard {manifest.command}` in {real.parent}; "
                "writing over it would break those results. Give another file name."
            )
        if p.exists() or p.is_symlink():
            if not p.is_file():
                raise OutputRefused(f"{label}: exists and is not a regular file")
            if p.stat().st_size and not RECOGNISERS[self.kind](p):
                raise OutputRefused(
                    f"{label}: the file exists and is not one distillguard wrote (an earlier {self.kind} "
                    "file); nothing was written. Give a new file name, or move that file away."
                )

    @contextlib.contextmanager
    def writing(self) -> Iterator[Path]:
        """A temporary path beside the file; renamed over it when the block succeeds."""
        p = Path(os.path.abspath(self.path))
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{p.name}.tmp-", dir=p.parent)
        os.close(fd)
        tmp = Path(name)
        try:
            yield tmp
            os.replace(tmp, p.resolve() if p.is_symlink() else p)
        finally:
            tmp.unlink(missing_ok=True)


def _same(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False

"""Finding input files and deciding their format."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from distillguard.errors import InputError, UsageError

Format = Literal["parquet", "jsonl", "csv"]

_SUFFIXES: dict[str, Format] = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
}


@dataclass(frozen=True)
class InputFile:
    path: Path
    format: Format
    gzip: bool

    def __str__(self) -> str:
        return str(self.path)


def _classify(path: Path) -> InputFile | None:
    name = path.name.lower()
    gz = name.endswith(".gz")
    if gz:
        name = name[:-3]
    for suffix, fmt in _SUFFIXES.items():
        if name.endswith(suffix):
            if fmt == "parquet" and gz:
                return None
            return InputFile(path, fmt, gz)
    return None


def _sniff(path: Path) -> InputFile:
    """Decide the format of a file named explicitly whose extension says nothing."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise InputError(path, f"cannot be opened ({exc.strerror or exc})") from None
    if head.startswith(b"PAR1"):
        return InputFile(path, "parquet", False)
    if head.startswith(b"\x1f\x8b"):
        raise InputError(
            path, "is gzip-compressed but its name does not say what it holds; name it .jsonl.gz or .csv.gz"
        )
    text = head.lstrip()
    if text.startswith(b"{"):
        return InputFile(path, "jsonl", False)
    raise InputError(
        path,
        "format not recognised: expected .parquet, .jsonl[.gz] or .csv[.gz] (or Parquet/JSON Lines content)",
    )


def discover(paths: list[str | Path]) -> tuple[list[InputFile], list[Path]]:
    """Expand files and folders into input files, sorted for a deterministic order.

    Returns ``(files, ignored)``: files in folders whose names are not a log format (README, .DS_Store, ...)
    are listed in ``ignored`` so a caller can say so; a file named explicitly must be readable.
    """
    if not paths:
        raise UsageError("no input path given")
    files: list[InputFile] = []
    ignored: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if q.is_file())
            for q in found:
                if any(part.startswith(".") or part.startswith("_") for part in q.relative_to(p).parts):
                    ignored.append(q)
                    continue
                f = _classify(q)
                if f is None:
                    ignored.append(q)
                else:
                    files.append(f)
            if not any(f.path.is_relative_to(p) for f in files):
                raise InputError(p, "folder holds no .parquet, .jsonl[.gz] or .csv[.gz] files")
        elif p.is_file():
            files.append(_classify(p) or _sniff(p))
        else:
            raise UsageError(f"{p}: no such file or folder")
    seen: set[Path] = set()
    unique = []
    for f in files:
        key = f.path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique, ignored

"""Small JSON Lines files read whole by the commands (decisions, served responses, prompt corpora).

The interaction logs have their own reader (``distillguard.ingest``), which sets bad rows aside; these
files are the user's own short inputs, where one bad line stops the command with its number.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

from distillguard.errors import InputError, UsageError


def json_objects(path: Path) -> Iterator[tuple[int, dict]]:
    """``(line number, object)`` for every non-blank line (``.gz`` read as gzip); a line that is not a
    JSON object, text that is not UTF-8 or a broken gzip stream stops with :class:`InputError`."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(path, f"line {lineno}: not JSON ({exc.msg})") from None
                if not isinstance(row, dict):
                    raise InputError(path, f"line {lineno}: expected a JSON object")
                yield lineno, row
    except UnicodeDecodeError:
        raise InputError(path, "not UTF-8 text") from None
    except (gzip.BadGzipFile, EOFError) as exc:
        raise InputError(path, f"not a readable gzip stream ({exc})") from None

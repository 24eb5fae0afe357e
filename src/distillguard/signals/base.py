"""The signal interface and its one registry.

A signal is a small unit of evidence with a stable dotted id (``prompt.cot_elicitation``), the
level it works at (``prompt``, ``account`` or ``link``), the log-format columns it needs, and a
docstring that is its description. Signals register themselves with :func:`register`; the
registry is the single place that knows them, so ``validate`` can say which signals a file cannot
support, and the conformance test can run over every one of them.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Collection
from typing import ClassVar, Literal

Level = Literal["prompt", "account", "link"]


class Signal:
    """Base class. Subclasses set ``id``, ``level`` and ``requires`` and write a docstring."""

    id: ClassVar[str]
    level: ClassVar[Level]
    #: log-format columns needed (``table.column`` for the accounts table, plain name otherwise)
    requires: ClassVar[tuple[str, ...]] = ()
    #: a scan option the signal needs besides the columns (e.g. ``--dataset-index``), or None
    option: ClassVar[str | None] = None

    @classmethod
    def description(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "").split("\n\n")[0].replace("\n", " ")


REGISTRY: dict[str, type[Signal]] = {}


def register(cls: type[Signal]) -> type[Signal]:
    """Class decorator: add a signal to the registry under its id (ids are unique)."""
    sid = getattr(cls, "id", None)
    if not sid or "." not in sid:
        raise ValueError(f"{cls.__name__}: a signal needs a dotted id")
    if sid in REGISTRY and REGISTRY[sid] is not cls:
        raise ValueError(f"signal id {sid!r} registered twice")
    if not (cls.__doc__ or "").strip():
        raise ValueError(f"{sid}: a signal needs a docstring (it is its description)")
    REGISTRY[sid] = cls
    return cls


#: packages whose modules define signals (prompt, account and link level)
SIGNAL_PACKAGES = ("distillguard.signals", "distillguard.accounts", "distillguard.linking")


def load_all() -> dict[str, type[Signal]]:
    """Import every module of the signal packages so that each signal registers itself."""
    for name in SIGNAL_PACKAGES:
        pkg = importlib.import_module(name)
        for mod in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            importlib.import_module(mod.name)
    return REGISTRY


def unavailable_signals(
    interaction_columns: set[str], account_columns: set[str] | None, options: Collection[str] = ()
) -> dict[str, list[str]]:
    """Signals that cannot run on these columns: ``{signal_id: [missing columns or options]}``.

    ``account_columns`` is None when no accounts table is given; ``options`` are the scan options
    given that signals may need (``--dataset-index``).
    """
    load_all()
    out: dict[str, list[str]] = {}
    for sid, cls in sorted(REGISTRY.items()):
        missing = []
        for col in cls.requires:
            if col.startswith("accounts."):
                name = col.split(".", 1)[1]
                if account_columns is None or name not in account_columns:
                    missing.append(col)
            elif col not in interaction_columns:
                missing.append(col)
        if cls.option is not None and cls.option not in options:
            missing.append(cls.option)
        if missing:
            out[sid] = missing
    return out

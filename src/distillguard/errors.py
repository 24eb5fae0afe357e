"""Errors a user can cause, with the message they should read (never a traceback)."""

from __future__ import annotations


class DistillguardError(Exception):
    """A problem the user can fix; the CLI prints ``str(err)`` and exits with ``exit_code``."""

    exit_code = 2


class InputError(DistillguardError):
    """A file cannot be read at all: wrong format, missing required column, corrupt stream."""

    def __init__(self, path: object, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self):  # picklable (raised in a worker process, re-raised in the caller)
        return (type(self), (self.path, self.problem))


class UsageError(DistillguardError):
    """Options that do not make sense together, or a path that does not exist."""


class ResourceError(DistillguardError):
    """The machine or a limit the user set is too small for the work (e.g. ``--memory-limit``)."""

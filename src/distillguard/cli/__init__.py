"""The ``distillguard`` command. One module per command; each registers itself on ``app``."""

from __future__ import annotations

import atexit
import os
import sys
from typing import NoReturn

import typer
from rich.console import Console

from distillguard.errors import DistillguardError

app = typer.Typer(
    name="distillguard",
    help="Detect, attribute and stop adversarial distillation campaigns in LLM API logs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Detect, attribute and stop adversarial distillation campaigns in LLM API logs.

    Start with `distillguard demo`; read your own logs with `distillguard validate PATH`.
    """


console = Console()
err_console = Console(stderr=True)

# Command modules register themselves on import; the order here is the order in --help.
_COMMANDS = (
    "validate", "simulate", "evaluate", "scan", "review", "demo", "report", "export", "index", "provenance"
)


def _load_commands() -> None:
    import importlib

    for name in _COMMANDS:
        try:
            importlib.import_module(f"distillguard.cli.{name}")
        except ModuleNotFoundError as exc:  # a command not built yet
            if exc.name != f"distillguard.cli.{name}":
                raise


def main() -> None:
    _load_commands()
    try:
        app()
    except DistillguardError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


def _exit_status(exc: SystemExit) -> int:
    """The process exit status ``SystemExit`` stands for (None: 0; text: printed, 1)."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def run() -> NoReturn:
    """The ``distillguard`` console command: :func:`main`, then a prompt exit.

    Once the command is done (its results written and closed), stdout and stderr are flushed and the
    ``atexit`` handlers run (worker pools, temporary files), then the process leaves without the
    interpreter's teardown, which freed the analysis stack's objects one by one for ~0.5 s after a
    1M-row scan. For use inside another Python process, call :func:`main`: it ends in ``SystemExit``.
    """
    from distillguard.allocators import set_for_this_process

    set_for_this_process()  # before polars and DuckDB are imported (by the commands)
    try:
        main()
        status = 0
    except SystemExit as exc:
        status = _exit_status(exc)
    sys.stdout.flush()
    sys.stderr.flush()
    atexit._run_exitfuncs()  # (what a normal exit runs before the teardown)
    os._exit(status)

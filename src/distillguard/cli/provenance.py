"""``distillguard provenance``: watermark served responses with a secret key; test a suspect model's texts.

Why in the CLI: marking happens where responses leave the API (a JSON Lines hook, or the library call
``Watermarker(key).mark``), and the test is run by an analyst on texts sampled from a suspect model.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import typer
from rich.table import Table

from distillguard.cli import app, console, err_console
from distillguard.errors import InputError, UsageError
from distillguard.jsonl import json_objects

provenance_app = typer.Typer(
    help="Keyed watermarks on served responses, and a test of whether a suspect model learned them.",
    no_args_is_help=True,
)
app.add_typer(provenance_app, name="provenance")


def read_key(path: Path) -> bytes:
    """The key in ``path`` (hex, as ``keygen`` writes it)."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        hint = "make one with `distillguard provenance keygen`"
        raise UsageError(f"{path}: no such key file ({hint})") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the key file ({exc.strerror})") from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise InputError(path, "not a key: expected hex digits as written by `provenance keygen`") from None
    if len(key) < 16:
        raise InputError(path, f"key too short: {len(key)} bytes, at least 16 needed")
    return key


def _rows(path: Path, need: tuple[str, ...]) -> Iterator[tuple[int, dict]]:
    """JSON objects of a JSON Lines file with the string fields ``need``; a bad line stops with its number."""
    for lineno, row in json_objects(path):
        for name in need:
            if not isinstance(row.get(name), str):
                what = "missing" if name not in row else "not a string"
                raise InputError(path, f"line {lineno}: field {name!r} {what}")
        yield lineno, row


def _check_new_output(out: Path, inputs: tuple[Path, ...]) -> None:
    if out.exists():
        raise UsageError(f"{out}: already exists; will not write over it")
    for p in inputs:
        if p.exists() and out.resolve() == p.resolve():
            raise UsageError(f"{out}: is an input")
    if not out.parent.is_dir():
        raise UsageError(f"{out.parent}: no such folder")


@provenance_app.command("keygen")
def keygen_cmd(out: Path = typer.Option(..., "--out", help="key file to create (hex; mode 0600)")) -> None:
    """Make a new secret watermark key (32 random bytes). Keep it private: it is what proves the mark."""
    if out.exists():
        raise UsageError(f"{out}: already exists; will not write over a key")
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileNotFoundError:
        raise UsageError(f"{out.parent}: no such folder") from None
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_bytes(32).hex() + "\n")
    os.chmod(out, 0o600)  # (whatever the umask)
    err_console.print(f"wrote a new key to {out} (mode 0600)")


@provenance_app.command("mark")
def mark_cmd(
    src: Path = typer.Argument(..., help="JSON Lines with a `response` field (and `account_id`)"),
    out: Path = typer.Argument(..., help="JSON Lines to create: the same rows, responses marked"),
    key_file: Path = typer.Option(..., "--key-file", help="key from `provenance keygen`"),
    per_account: bool = typer.Option(
        False, "--per-account", help="mark each row with its account's key (derived from the master key)"
    ),
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
) -> None:
    """Watermark the `response` of every row; every other field is kept as it is.

    Example: distillguard provenance mark served.jsonl served.marked.jsonl --key-file wm.key
    """
    from distillguard.provenance import Watermarker

    _check_new_output(out, (src, key_file))
    wm = Watermarker(read_key(key_file))
    need = ("response", "account_id") if per_account else ("response",)
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    rows = words = changed_words = occurrences = changed = 0
    try:
        with tmp.open("w", encoding="utf-8") as f:
            for _, row in _rows(src, need):
                res = wm.mark_with_stats(row["response"], row["account_id"] if per_account else None)
                row["response"] = res.text
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
                rows += 1
                words += res.words
                changed_words += res.changed_words
                occurrences += res.occurrences
                changed += res.changed
        if out.exists():
            raise UsageError(f"{out}: appeared while marking; will not write over it")
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    summary = {
        "rows": rows,
        "words": words,
        "places": occurrences,
        "places_changed": changed,
        "words_changed": changed_words,
        "share_of_words_changed": changed_words / words if words else 0.0,
        "per_account": per_account,
        "out": str(out),
    }
    if as_json:
        console.print_json(json.dumps(summary))
        return
    console.print(
        f"marked {rows:,} responses into {out}: {changed:,} of {occurrences:,} places rewritten,"
        f" {changed_words:,} of {words:,} words changed ({summary['share_of_words_changed']:.2%})"
    )


@provenance_app.command("test")
def test_cmd(
    suspect: Path = typer.Argument(..., help="JSON Lines of the suspect model's outputs (`response` field)"),
    key_file: Path = typer.Option(..., "--key-file", help="the watermark key"),
    accounts: Path = typer.Option(
        None, "--accounts", help="candidate account ids, one a line: which account's key fits best"
    ),
    top: int = typer.Option(10, "--top", help="accounts to show in the ranking"),
    reference: Path = typer.Option(
        None, "--reference",
        help="JSON Lines of our responses BEFORE marking (`response`): adds the weighted test, which"
        " catches a model that learned from a share of marked text",
    ),
    as_json: bool = typer.Option(False, "--json", help="print the result as JSON"),
) -> None:
    """Test whether texts carry the watermark: a small p-value means they follow the key's choices.

    With --reference, also the weighted test (docs/provenance.md): place by place, does the suspect use
    the key's variant more often than our unmarked responses do? Its p-value is a conservative bound.
    Example: distillguard provenance test suspect.jsonl --key-file wm.key --accounts accounts.txt
    """
    from distillguard.provenance import detect, detect_accounts, observe
    from distillguard.provenance.detect import detect_weighted

    key = read_key(key_file)
    ids: list[str] = []
    if accounts is not None:
        if not accounts.is_file():
            raise UsageError(f"{accounts}: no such file")
        ids = [line.strip() for line in accounts.read_text(encoding="utf-8").splitlines() if line.strip()]
        if not ids:
            raise InputError(accounts, "no account ids (one a line)")
    obs = observe(row["response"] for _, row in _rows(suspect, ("response",)))
    result = detect(obs, key)
    doc: dict = {"master_key": result.as_dict(), "p_value": result.p_value}
    weighted = None
    if reference is not None:
        ref = observe(row["response"] for _, row in _rows(reference, ("response",)))
        if ref.n and detect(ref, key).p_value < 1e-3:
            raise InputError(reference, "the reference follows this key: it must be responses before marking")
        weighted = detect_weighted(obs, key, ref)
        doc["weighted"] = weighted.as_dict()
    acc = detect_accounts(obs, key, ids) if ids else None
    if acc is not None:
        doc["accounts"] = acc.as_dict(top)
    if as_json:
        console.print_json(json.dumps(doc))
        return
    console.print(f"master key: p = {result.p_value:.3g} (log10 p = {result.log10_p:.1f})")
    console.print(f"  {result.explanation}", highlight=False)
    if weighted is not None:
        console.print(f"weighted test against the reference: p <= {weighted.p_value:.3g}")
        console.print(f"  {weighted.explanation}", highlight=False)
    if acc is not None:
        console.print(
            f"best account: {acc.best}, p = {acc.p_value:.3g} after Holm correction for"
            f" {len(acc.ranking):,} accounts ({acc.observations} places)"
        )
        table = Table("rank", "account", "matches", "p", "p (Holm)")
        for i, r in enumerate(acc.ranking[:top], 1):
            table.add_row(str(i), r.account_id, f"{r.matches}/{acc.observations}", f"{r.p_value:.3g}",
                          f"{r.p_holm:.3g}")
        console.print(table)


@provenance_app.command("probes")
def probes_cmd(
    served: Path = typer.Argument(..., help="JSON Lines of served rows: `prompt`, marked `response`"),
    out: Path = typer.Argument(..., help="JSON Lines to create: one `prompt` a row, to send to a suspect"),
    n: int = typer.Option(1000, "--n", min=1, help="how many prompts"),
) -> None:
    """Choose the prompts whose answers held the most watermark places: the probe set for a suspect.

    Send each prompt to the suspect model, keep its answers as `response` in a JSON Lines file, and run
    `provenance test` on it. A prompt whose answer from our API had many places (contractions,
    connectives) tends to draw answers with many places from a model that learned from it too.
    Example: distillguard provenance probes served.marked.jsonl probes.jsonl --n 500
    """
    from distillguard.provenance.scanner import count_words, scan

    _check_new_output(out, (served,))
    best: dict[str, tuple[float, int, dict]] = {}
    for lineno, row in _rows(served, ("prompt", "response")):
        places = sum(1 for occ in scan(row["response"]) if occ.applies)
        if not places:
            continue
        density = places / max(count_words(row["response"]), 1)
        prompt = row["prompt"].strip()
        if prompt and (prompt not in best or best[prompt][0] < places):
            keep = {k: row[k] for k in ("request_id", "prompt") if k in row}
            best[prompt] = (places, lineno, keep | {"places_in_served_answer": places,
                                                     "place_density": round(density, 4)})
    if not best:
        raise InputError(served, "no response holds a watermark place: nothing to probe with")
    chosen = sorted(best.values(), key=lambda t: (-t[0], t[1]))[:n]
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    try:
        with tmp.open("w", encoding="utf-8") as f:
            for _, _, row in chosen:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    total = sum(t[0] for t in chosen)
    console.print(f"wrote {len(chosen):,} probe prompts to {out} ({total:,} places in their served answers; "
                  f"{len(best):,} distinct prompts had any)")

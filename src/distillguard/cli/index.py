"""``distillguard index``: build the public-dataset index that ``scan --dataset-index`` matches against."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from distillguard.cli import app, console, err_console

index_app = typer.Typer(help="Public-dataset indexes: which prompts are items of known datasets.",
                        no_args_is_help=True)
app.add_typer(index_app, name="index")

#: every path ``index build`` may write into its folder (the rule of :mod:`distillguard.outdir`)
INDEX_FILES = ("shingles.parquet", "items.parquet", "index.json")


@index_app.command("build")
def build_cmd(
    paths: list[Path] = typer.Argument(
        ..., help="dataset folders (one dataset each, named after the folder) or files (JSONL, Parquet, CSV)"
    ),
    out: Path = typer.Option(..., "--out", help="index folder: new, empty, or one index build wrote"),
    name: list[str] = typer.Option(None, "--name", help="dataset names, one per path (default: folder name)"),
    field: str = typer.Option(None, "--field", help="the items' text column (default: prompt, question...)"),
    evaluation: list[str] = typer.Option(
        None, "--evaluation", help="a dataset or part (dataset/split, e.g. gsm8k/test) that is a published "
        "evaluation set (repeatable): accounts that send almost only such items look like researchers"
    ),
    as_json: bool = typer.Option(False, "--json", help="print the index summary as JSON"),
) -> None:
    """Index the items of public datasets you supply (nothing is downloaded).

    Example: distillguard index build ../shared/data/prompts/gsm8k ../shared/data/prompts/mbpp --out idx/
    --evaluation gsm8k/test --evaluation mbpp
    """
    from distillguard import dataset_index as di
    from distillguard.outdir import OutputFolder

    files = di.dataset_files(list(paths), list(name or []))
    folder = OutputFolder(out, "index", INDEX_FILES, inputs=tuple(paths))
    existing = folder.check()
    with folder.staging() as tmp:
        report = di.build(files, tmp, text_field=field, evaluation=list(evaluation or []))
        published = folder.publish(tmp, existing)
    if as_json:
        console.print_json(json.dumps(report.to_dict()))
        return
    t = Table(title=f"dataset index {out}")
    for col in ("dataset", "files", "items", "indexed"):
        t.add_column(col, justify="left" if col == "dataset" else "right")
    for ds, d in sorted(report.datasets.items()):
        t.add_row(ds, str(d["files"]), f"{d['items']:,}", f"{d['indexed_items']:,}")
    console.print(t)
    console.print(
        f"{report.indexed_items:,} of {report.items:,} items indexed ({report.shingles:,} shingles); items "
        "too short or made only of shared boilerplate cannot be recognised"
    )
    if evaluation:
        console.print(f"published evaluation sets: {', '.join(sorted(set(evaluation)))}")
    for note in published.notes(out):
        err_console.print(note, highlight=False)

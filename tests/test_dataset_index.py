"""The public-dataset index: building it from dataset files, and which prompts it says hold an item."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from distillguard import dataset_index as di
from distillguard.errors import InputError, UsageError
from distillguard.features import prompt_features

MATH = [
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
    "How many clips did Natalia sell altogether in April and May?",
    "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting. "
    "How much did she earn?",
    "Betty is saving money for a new wallet which costs $100. Betty has only half of the money she needs. "
    "Her parents decided to give her $15 for that purpose, and her grandparents twice as much as her "
    "parents. How much more money does Betty need to buy the wallet?",
]
CODE = [
    "Write a function to find the shared elements from the given two lists.",
    "Write a python function to identify non-prime numbers among the given integers.",
]
CJK = ["小明有五个苹果，他给了小红两个苹果，又买了三个苹果。请问小明现在有几个苹果？"]


@pytest.fixture(scope="module")
def index(tmp_path_factory) -> di.DatasetIndex:
    root = tmp_path_factory.mktemp("datasets")
    (root / "gsm").mkdir()
    (root / "gsm" / "prompts.jsonl").write_text(
        "".join(json.dumps({"id": f"g{i}", "question": q}) + "\n" for i, q in enumerate(MATH + CJK))
    )
    (root / "gsm" / "SOURCE.txt").write_text("where these came from\n")  # notes, not items
    pl.DataFrame({"text": CODE}).write_parquet(root / "mbpp.parquet")
    out = tmp_path_factory.mktemp("index")
    di.build(di.dataset_files([root / "gsm", root / "mbpp.parquet"]), out)
    return di.DatasetIndex.load(out)


def _perturb(text: str, every: int) -> str:
    words = text.split()
    return " ".join(w + "x" if i % every == every - 1 else w for i, w in enumerate(words))


# (case, prompt, expected item text or None)
CASES = [
    ("verbatim", MATH[0], MATH[0]),
    ("wrapped", f"Solve this carefully.\n\n{MATH[1]}\n\nShow every step of your reasoning.", MATH[1]),
    ("case and punctuation", MATH[2].upper().replace(",", " ;"), MATH[2]),
    ("short item", f"Task: {CODE[0]} Use Python 3.", CODE[0]),
    ("cjk", f"请回答：{CJK[0]}", CJK[0]),
    ("a third of an item", " ".join(MATH[2].split()[:18]), None),
    ("a word changed in every six (the evasion it does not catch)", _perturb(MATH[2], 6), None),
    ("unrelated", "What is a good name for a golden retriever puppy who loves the beach?", None),
    ("empty", "", None),
]


@pytest.mark.parametrize(("prompt", "expected"), [pytest.param(p, e, id=c) for c, p, e in CASES])
def test_which_prompts_hold_an_item(index, prompt, expected):
    items, cover = index.match(pl.Series([prompt]))
    previews = pl.read_parquet(index.path / "items.parquet")
    if expected is None:
        assert items[0] == -1
        return
    assert items[0] >= 0
    assert previews.filter(pl.col("item") == int(items[0]))["preview"][0] == expected[:160]
    assert 0.5 <= cover[0] <= 1.0


def test_the_index_records_datasets_items_and_sources(index):
    items = pl.read_parquet(index.path / "items.parquet").sort("item")
    assert items["dataset"].to_list() == ["gsm"] * 4 + ["mbpp"] * 2
    assert items.filter(pl.col("dataset") == "gsm")["id"].to_list() == ["g0", "g1", "g2", "g3"]
    assert items["row"].to_list() == [1, 2, 3, 4, 1, 2]
    assert items["part"].to_list() == ["gsm"] * 4 + ["mbpp"] * 2  # (no split or subset field)
    assert (items["shingles"] > 0).all()
    meta = json.loads((index.path / "index.json").read_text())
    assert meta["datasets"]["gsm"] == {"files": 1, "items": 4, "indexed_items": 4}
    assert index.dataset_of(pl.Series([0, 5, -1]).to_numpy()).tolist() == ["gsm", "mbpp", None]


def test_boilerplate_shingles_identify_nothing(tmp_path):
    """Items that share a long opening still match by their own words, and the opening alone matches none."""
    opening = "Write a Python function that takes a list of integers and returns"
    tails = ["the sum of the even numbers in it", "the largest gap between two sorted neighbours",
             "a list of the primes it contains in order", "the number of runs of equal values",
             "the median without sorting the whole list", "every value that appears exactly twice"]
    lines = [json.dumps({"prompt": f"{opening} {t}."}) + "\n" for t in tails]
    (tmp_path / "code.jsonl").write_text("".join(lines))
    di.build(di.dataset_files([tmp_path / "code.jsonl"]), tmp_path)
    idx = di.DatasetIndex.load(tmp_path)
    items, _ = idx.match(pl.Series([f"{opening} {tails[3]}.", f"{opening} something else entirely."]))
    assert items.tolist() == [3, -1]


def test_the_same_text_in_two_datasets_is_one_item(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "d.jsonl").write_text(json.dumps({"prompt": MATH[0]}) + "\n")
    out = tmp_path / "idx"
    out.mkdir()
    report = di.build(di.dataset_files([tmp_path / "a", tmp_path / "b"]), out)
    assert report.items == 2 and report.indexed_items == 1
    assert di.DatasetIndex.load(out).match(pl.Series([MATH[0]]))[0].tolist() == [0]


@pytest.mark.parametrize(("slice_chars", "slices"), [(1, 5), (150, 4), (10_000_000, 1)])
def test_shingling_in_slices_writes_the_same_index(tmp_path, monkeypatch, slice_chars, slices):
    # (a dataset of long texts is shingled a slice at a time to bound memory; the index must not change)
    (tmp_path / "d.jsonl").write_text("".join(json.dumps({"prompt": q}) + "\n" for q in MATH + CODE + CJK))
    pl.DataFrame({"text": [m + " " + c for m, c in zip(MATH, CODE * 2, strict=False)]}).write_parquet(
        tmp_path / "e.parquet"
    )
    files = di.dataset_files([tmp_path / "d.jsonl", tmp_path / "e.parquet"])
    whole, sliced = tmp_path / "whole", tmp_path / "sliced"
    whole.mkdir(), sliced.mkdir()
    di.build(files, whole)
    monkeypatch.setattr(di, "BUILD_SLICE_CHARS", slice_chars)
    # (texts of 155, 113, 260, 70 and 79 characters)
    assert len(di._slices(pl.Series(MATH + CODE), slice_chars)) == slices
    di.build(files, sliced)
    for name in ("shingles.parquet", "items.parquet", "index.json"):
        assert (sliced / name).read_bytes() == (whole / name).read_bytes(), name


@pytest.mark.parametrize(
    ("files", "error", "words"),
    [
        ({"d.jsonl": '{"answer": "4"}\n'}, InputError, "no text column prompt / question"),
        ({"d.csv": "a,b\n1,2\n"}, InputError, "(found: a, b)"),
        ({"d.jsonl": "{not json\n"}, InputError, "cannot be read as .jsonl"),
        ({"notes.txt": "hello\n"}, UsageError, "holds no dataset files"),
    ],
)
def test_unreadable_dataset_files_name_the_file_and_problem(tmp_path, files, error, words):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(error, match=None) as exc:
        di.build(di.dataset_files([tmp_path]), tmp_path / "out")
    assert words in str(exc.value)


def test_prompt_features_match_with_an_index_and_are_null_without(index):
    batch = pa.table({"request_id": ["r0", "r1", "r2"], "prompt": [MATH[1], "hello there", None]})
    with_index = prompt_features(batch, dataset_index=str(index.path))
    assert with_index.column("dataset_item").to_pylist()[1:] == [None, None]
    assert with_index.column("dataset_item").to_pylist()[0] is not None
    assert with_index.column("dataset_cover").to_pylist()[0] == pytest.approx(1.0)
    without = prompt_features(batch)
    assert without.column("dataset_item").null_count == 3 and without.column("dataset_cover").null_count == 3


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from distillguard.cli import run; run()", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=120)


def test_index_build_command_and_scan_option(tmp_path):
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "items.jsonl").write_text("".join(json.dumps({"prompt": q}) + "\n" for q in MATH))
    p = _cli("index", "build", "ds", "--out", "idx", "--json", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["indexed_items"] == 3
    assert (tmp_path / "idx" / "distillguard-manifest.json").exists()
    again = _cli("index", "build", "ds", "--out", "ds", cwd=tmp_path)  # the folder it reads
    assert again.returncode == 2 and "is inside the output folder" in again.stderr
    rows = [{"request_id": f"r{i}", "ts": f"2026-04-22T0{i % 10}:00:00Z", "account_id": f"a{i % 3}",
             "prompt": MATH[i % 3] if i % 2 else f"hello number {i}"} for i in range(30)]
    (tmp_path / "logs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    scan = _cli("scan", "logs.jsonl", "--out", "res", "--dataset-index", "idx", "--no-report", "--json",
                cwd=tmp_path)
    assert scan.returncode == 0, scan.stderr
    summary = json.loads((tmp_path / "res" / "summary.json").read_text())
    assert "account.dataset_share" in summary["signals"]
    assert "account.dataset_share" not in summary["unavailable_signals"]
    assert summary["operating_point"]["peer_gate"]["neighbours"] == 10  # (the index model's gate)
    ungated = _cli("scan", "logs.jsonl", "--out", "res4", "--dataset-index", "idx", "--no-peer-gate",
                   "--no-report", "--json", cwd=tmp_path)
    assert ungated.returncode == 0, ungated.stderr
    op = json.loads((tmp_path / "res4" / "summary.json").read_text())["operating_point"]
    assert op["peer_gate"] is None
    plain = _cli("scan", "logs.jsonl", "--out", "res2", "--no-report", "--json", cwd=tmp_path)
    assert json.loads((tmp_path / "res2" / "summary.json").read_text())["unavailable_signals"][
        "account.dataset_share"] == ["--dataset-index"], plain.stderr
    bad = _cli("scan", "logs.jsonl", "--out", "res3", "--dataset-index", "ds", cwd=tmp_path)
    assert bad.returncode == 2 and "not a readable dataset index" in bad.stderr
    assert not (tmp_path / "res3").exists()


@pytest.mark.parametrize("batch_rows", [7, 64])
def test_staging_in_this_process_matches_with_the_index(index, tmp_path, batch_rows):
    """The scan's own feature caches carry the index (an empty cache must not be taken for none)."""
    from distillguard.stage import stage_inputs

    rows = [{"request_id": f"r{i}", "ts": f"2026-04-22T0{i % 10}:00:00Z", "account_id": f"a{i % 3}",
             "prompt": MATH[i % 3] if i % 2 else f"hello number {i}"} for i in range(30)]
    (tmp_path / "logs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    st = stage_inputs([tmp_path / "logs.jsonl"], None, tmp_path / "work", workers=1, batch_rows=batch_rows,
                      dataset_index=str(index.path))
    staged = pl.read_parquet(st.stage_dir / "*.parquet").sort("request_id")
    held = staged.filter(pl.col("dataset_item").is_not_null())["request_id"].to_list()
    assert sorted(held) == sorted(f"r{i}" for i in range(30) if i % 2)


def test_parts_come_from_a_split_or_subset_field(tmp_path):
    rows = [{"prompt": q, "split": "test" if i < 2 else "train"} for i, q in enumerate(MATH)]
    rows.append({"prompt": CODE[0], "split": None})
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "idx"
    out.mkdir()
    di.build(di.dataset_files([tmp_path / "d.jsonl"]), out)
    parts = pl.read_parquet(out / "items.parquet").sort("item")["part"].to_list()
    assert parts == ["d/test", "d/test", "d/train", "d"]
    assert di.DatasetIndex.load(out).item_part.tolist() == parts


# (case, --evaluation names, items flagged as evaluation items: d/test, d/test, d/train, d, mbpp)
EVALUATION_CASES = [
    ("none named", [], [False, False, False, False, False]),
    ("a split", ["d/test"], [True, True, False, False, False]),
    ("a whole dataset", ["mbpp"], [False, False, False, False, True]),
    ("a dataset and a split", ["d/test", "mbpp"], [True, True, False, False, True]),
    ("a whole dataset with splits", ["d"], [True, True, True, True, False]),
]


@pytest.mark.parametrize(("names", "flags"), [pytest.param(n, f, id=c) for c, n, f in EVALUATION_CASES])
def test_evaluation_sets_are_named_by_dataset_or_part(tmp_path, names, flags):
    rows = [{"prompt": q, "split": "test" if i < 2 else "train"} for i, q in enumerate(MATH)]
    rows.append({"prompt": CODE[0], "split": None})
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    pl.DataFrame({"text": CODE[1:]}).write_parquet(tmp_path / "mbpp.parquet")
    out = tmp_path / "idx"
    out.mkdir()
    di.build(di.dataset_files([tmp_path / "d.jsonl", tmp_path / "mbpp.parquet"]), out, evaluation=names)
    idx = di.DatasetIndex.load(out)
    assert idx.evaluation_sets == tuple(sorted(names))
    assert idx.is_evaluation().tolist() == flags


def test_an_unknown_evaluation_set_is_refused_by_name(tmp_path):
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "items.jsonl").write_text(
        "".join(json.dumps({"prompt": q, "split": "test"}) + "\n" for q in MATH)
    )
    p = _cli("index", "build", "ds", "--out", "idx", "--evaluation", "ds/tset", cwd=tmp_path)
    assert p.returncode == 2
    assert "--evaluation ds/tset: no dataset or part of that name" in p.stderr and "ds/test" in p.stderr
    assert "Traceback" not in p.stderr
    assert not (tmp_path / "idx").exists() or not any((tmp_path / "idx").iterdir())
    ok = _cli("index", "build", "ds", "--out", "idx", "--evaluation", "ds/test", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert json.loads((tmp_path / "idx" / "index.json").read_text())["evaluation"] == ["ds/test"]


def test_an_index_without_evaluation_sets_flags_no_item(index, tmp_path):
    # (indexes built before --evaluation existed have no such field: nothing is an evaluation item)
    old = tmp_path / "old"
    old.mkdir()
    for name in ("shingles.parquet", "items.parquet"):
        (old / name).write_bytes((index.path / name).read_bytes())
    meta = json.loads((index.path / "index.json").read_text())
    del meta["evaluation"]
    (old / "index.json").write_text(json.dumps(meta))
    index = di.DatasetIndex.load(old)
    assert index.evaluation_sets == () and not index.is_evaluation().any()


# (case, per account: (evaluation items, other items) sent, expected evaluation_share)
SHARE_CASES = [
    ("an evaluation run", {"a": (12, 0)}, {"a": 1.0}),
    ("a harvest of whole datasets", {"a": (4, 16)}, {"a": 0.2}),
    ("two benchmark questions are not an evaluation", {"a": (2, 0)}, {"a": 0.2}),
    ("no evaluation item", {"a": (0, 30)}, {"a": 0.0}),
    ("accounts apart", {"a": (10, 10), "b": (0, 10)}, {"a": 0.5, "b": 0.0}),
]


@pytest.mark.parametrize(("sent", "expected"), [pytest.param(s, e, id=c) for c, s, e in SHARE_CASES])
def test_evaluation_share_per_account(sent, expected):
    import ibis

    from distillguard.accounts.coverage import evaluation_share

    # (four parts of 25 items, the first two evaluation sets)
    datasets = pl.DataFrame({"item": range(100), "part": [f"p{i // 25}" for i in range(100)],
                             "evaluation": [i < 50 for i in range(100)]})
    rows = []
    for acct, (ev, other) in sent.items():
        rows += [(acct, i) for i in range(ev)] + [(acct, 50 + i) for i in range(other)]
        rows += [(acct, 0)] * (ev > 0)  # (a repeated item counts once)
    rows.append(("no items", None))
    staged = ibis.memtable(pl.DataFrame(rows, schema={"account_id": pl.String, "dataset_item": pl.Int64},
                                        orient="row"))
    got = evaluation_share(staged, datasets)
    assert dict(got.iter_rows()) == pytest.approx(expected)


# (case, per account: (dataset, items, requests, exclusive), expected text)
COVERAGE_TEXT_CASES = [
    ("one dataset", [("gsm8k", 40, 40, 40)],
     "its prompts hold 40 items of public datasets (gsm8k 40), none repeated, 40 sent by no other account"),
    ("two datasets, fewer than shown", [("code_alpaca", 150, 151, 20), ("arena_hard_auto", 34, 35, 5)],
     "its prompts hold 184 items of public datasets (code_alpaca 150, arena_hard_auto 34), 2 repeats, "
     "25 sent by no other account"),
    ("five datasets, two not shown", [("a", 50, 50, 0), ("b", 40, 40, 0), ("c", 30, 30, 0), ("d", 2, 2, 0),
                                      ("e", 1, 1, 0)],
     "its prompts hold 123 items of public datasets (a 50, b 40, c 30, 2 more), none repeated, "
     "0 sent by no other account"),
]


@pytest.mark.parametrize(("rows", "expected"), [pytest.param(r, e, id=c) for c, r, e in COVERAGE_TEXT_CASES])
def test_coverage_text_counts_the_datasets_it_does_not_name(rows, expected):
    from distillguard.accounts.coverage import coverage_text

    cov = pl.DataFrame([("acct", *r) for r in rows], orient="row",
                       schema={"account_id": pl.String, "dataset": pl.String, "items": pl.UInt32,
                               "requests": pl.UInt32, "exclusive": pl.UInt32})
    assert coverage_text(cov)["text"].to_list() == [expected]

"""Shared fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DISTILLGUARD_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def prompts_dir() -> Path:
    """Real public prompt corpora (../shared/data/prompts). Required in CI, skipped elsewhere."""
    path = SHARED / "data" / "prompts"
    if not path.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing: CI needs shared/data/prompts beside the checkout")
        pytest.skip(f"{path} not present")
    return path


@pytest.fixture(scope="session")
def traces_dir() -> Path:
    path = SHARED / "data" / "traces"
    if not path.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing: CI needs shared/data/traces beside the checkout")
        pytest.skip(f"{path} not present")
    return path


@pytest.fixture(scope="session")
def dataset_index(prompts_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A public-dataset index of the shared corpora's benchmark and instruction datasets (what a
    provider would index), built once per test session and worker."""
    from distillguard.scoring.train import build_index

    return build_index(str(prompts_dir), tmp_path_factory.mktemp("dataset-index"))

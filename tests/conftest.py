"""Shared fixtures: the real files in ../shared (CI has them) and the embedded defaults."""
from __future__ import annotations

from pathlib import Path

import pytest

from adu_fw.servicetags import ServiceTags, embedded_files, load_cached

# pyarrow imports pandas (when installed) on its first list conversion, about 0.3 s: pay it here,
# not inside the first example of a hypothesis test with a deadline
import pyarrow  # noqa: E402

pyarrow.array(["warm-up"])

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
DATA = Path(__file__).resolve().parent / "data"


def shared(*parts: str) -> Path:
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"shared data not present: {p}")
    return p


@pytest.fixture(scope="session")
def tags_old() -> ServiceTags:
    return load_cached(embedded_files()[0])


@pytest.fixture(scope="session")
def tags_new() -> ServiceTags:
    return load_cached(embedded_files()[-1])

"""Shared fixtures: the real files in ../shared (CI has them) and the embedded defaults."""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Hermetic service-tag store and index cache: the default file of every command is the newest
# *stored* version, so a user's own `adu-fw tags update` must not change what the tests see.
_SESSION_TMP = Path(tempfile.mkdtemp(prefix="adu-fw-tests-"))
atexit.register(shutil.rmtree, _SESSION_TMP, ignore_errors=True)
os.environ["ADU_FW_TAGS_DIR"] = str(_SESSION_TMP / "versions-empty")
os.environ["ADU_FW_CACHE_DIR"] = str(_SESSION_TMP / "cache")

from adu_fw.servicetags import ServiceTags, embedded_files, load_cached  # noqa: E402

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
    """The 2024-06-03 file (AzureDeviceUpdate changeNumber 1, IPv4 only)."""
    return load_cached("20240603")


@pytest.fixture(scope="session")
def tags_new() -> ServiceTags:
    """The 2024-06-10 file (AzureDeviceUpdate changeNumber 2, IPv6 added): named, not the default."""
    return load_cached("20240610")


@pytest.fixture(scope="session")
def tags_current() -> ServiceTags:
    """The 2025-10-28 file, the embedded default."""
    return load_cached("20251028")

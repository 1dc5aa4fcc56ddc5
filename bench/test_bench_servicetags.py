"""pytest-benchmark: service-tag load, index build and bulk lookup (run by `make bench`)."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from adu_fw.ip import parse_addresses
from adu_fw.servicetags import ServiceTags, default_path

N = 1_000_000


@pytest.fixture(scope="module")
def tags():
    t = ServiceTags.load(default_path())
    t.build_index()
    return t


@pytest.fixture(scope="module")
def addresses():
    rng = np.random.default_rng(3)
    return rng.integers(0, 2**32, N, dtype=np.uint64).astype(np.uint32)


def test_load(benchmark):
    benchmark.pedantic(lambda: ServiceTags.load(default_path()), rounds=3, iterations=1)


def test_index_build(benchmark):
    def setup():
        return (ServiceTags.load(default_path()),), {}

    benchmark.pedantic(lambda t: t.build_index(), setup=setup, rounds=3, iterations=1)


def test_lookup_many_uint32(benchmark, tags, addresses):
    benchmark.pedantic(tags.lookup_many, args=(addresses,), rounds=3, iterations=1)


def test_parse_address_strings(benchmark, addresses):
    import ipaddress

    col = pa.array([str(ipaddress.IPv4Address(int(a))) for a in addresses[:200_000]])
    benchmark.pedantic(parse_addresses, args=(col,), rounds=5, iterations=1)

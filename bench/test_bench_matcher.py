"""pytest-benchmark: the compiled matcher's loops on W1 (run by `make bench`; compare.py prints the ratios).

One benchmark per classify path, 1M flows each: the lane path (AVX2 and scalar), a subnet+NIC
pair, the bitset path (no cross tables), IPv6 through the block path, and address strings.
"""
from __future__ import annotations

import ipaddress

import numpy as np
import pyarrow as pa
import pytest

from adu_fw._match import Matcher
from adu_fw.compile import fast_tables
from adu_fw.evaluate import classify
from adu_fw.flowtable import flow_arrays
from adu_fw.ip import AddressColumn
from workloads import w1_flows, w1_pair_policy, w1_policy

N = 1_000_000


class _With:
    """A compiled policy with another matcher over the same arrays."""

    def __init__(self, compiled, matcher):
        self.arrays, self.labels, self._m = compiled.arrays, compiled.labels, matcher

    def matcher(self):
        return self._m


@pytest.fixture(scope="module")
def compiled():
    return w1_policy().compile()


@pytest.fixture(scope="module")
def flows():
    return w1_flows(N)


@pytest.fixture(scope="module")
def fa(flows):
    return flow_arrays(flows)


def _run(benchmark, policy, fa, path):
    assert policy.matcher().v4_path == path or path is None
    benchmark.pedantic(classify, args=(policy, fa, 1), rounds=5, iterations=1)


def test_lanes_avx2(benchmark, compiled, fa):
    _run(benchmark, compiled, fa, compiled.matcher().v4_path)


def test_lanes_scalar(benchmark, compiled, fa):
    m = Matcher(dict(compiled.arrays, **fast_tables(compiled.arrays)))
    m.simd = False
    _run(benchmark, _With(compiled, m), fa, "lanes")


def test_subnet_nic_pair(benchmark, fa):
    _run(benchmark, w1_pair_policy().compile(), fa, None)


def test_bitsets_block(benchmark, compiled, fa):
    m = Matcher({k: v for k, v in compiled.arrays.items() if not k.startswith("cross")})
    _run(benchmark, _With(compiled, m), fa, "block")


def test_ipv6_block(benchmark, compiled, flows):
    fa6 = flow_arrays(flows)
    base = int(ipaddress.IPv6Address("2603:1030::"))
    fa6.src = AddressColumn(np.full(N, 6, np.uint8), np.full(N, base >> 64, np.uint64), flows["src_ip"].astype(np.uint64))
    fa6.dst = AddressColumn(np.full(N, 6, np.uint8), np.full(N, base >> 64, np.uint64), flows["dst_ip"].astype(np.uint64))
    fa6.src_v4 = fa6.dst_v4 = None
    _run(benchmark, compiled, fa6, None)


def test_strings_parse_and_match(benchmark, compiled, flows):
    m = 200_000
    cols = {k: v[:m] for k, v in flows.items()}
    cols["src_ip"] = pa.array([str(ipaddress.IPv4Address(int(x))) for x in cols["src_ip"]])
    cols["dst_ip"] = pa.array([str(ipaddress.IPv4Address(int(x))) for x in cols["dst_ip"]])
    benchmark.pedantic(lambda: classify(compiled, flow_arrays(cols), 1), rounds=5, iterations=1)

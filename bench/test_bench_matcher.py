"""pytest-benchmark: the compiled matcher's loops on W1 (run by `make bench`; compare.py prints the ratios).

One benchmark per classify path, 1M flows each: the lane path (AVX2 and scalar), a subnet+NIC
pair, the bitset path (no cross tables), W3's source-port lanes, the IPv6 lanes and the IPv6 block
path, and the doors users use: Policy.evaluate on an Arrow table (IPv4 integers, IPv6
fixed_size_binary(16), address strings).
"""
from __future__ import annotations

import ipaddress

import pyarrow as pa
import pytest

from adu_fw._match import Matcher
from adu_fw.compile import fast_tables
from adu_fw.evaluate import classify
from adu_fw.flowtable import flow_arrays
from workloads import as_table, as_v6_table, w1_flows, w1_pair_policy, w1_policy, w1_v6_flows, w1_v6_policy, w3_flows, w3_policy

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


@pytest.fixture(scope="module")
def v6():
    return w1_v6_policy().compile(), w1_v6_flows(N)


def test_ipv6_lanes(benchmark, v6):
    policy, flows = v6
    assert policy.matcher().v6_path.startswith("lanes")
    benchmark.pedantic(classify, args=(policy, flow_arrays(flows), 1), rounds=5, iterations=1)


def test_ipv6_block(benchmark, v6):
    policy, flows = v6
    m = Matcher(policy.arrays)  # no lane tables: the block path and its binary searches
    assert m.v6_path == "block"
    benchmark.pedantic(classify, args=(_With(policy, m), flow_arrays(flows), 1), rounds=5, iterations=1)


def test_w3_source_port_lanes(benchmark):
    policy = w3_policy().compile()
    assert policy.matcher().v4_path.startswith("lanes")
    benchmark.pedantic(classify, args=(policy, flow_arrays(w3_flows(N)), 1), rounds=5, iterations=1)


def test_door_evaluate_arrow_table_w3(benchmark):
    policy = w3_policy()
    table = as_table(w3_flows(N))
    policy.compile().matcher()
    benchmark.pedantic(lambda: policy.evaluate(table, threads=1), rounds=5, iterations=1)


def test_door_evaluate_ipv6_fixed_size_binary(benchmark, v6):
    policy = w1_v6_policy()
    table = as_v6_table(v6[1])
    policy.compile().matcher()
    benchmark.pedantic(lambda: policy.evaluate(table, threads=1), rounds=5, iterations=1)


def test_strings_parse_and_match(benchmark, flows):
    m = 200_000
    policy = w1_policy()
    policy.compile().matcher()
    cols = {k: v[:m] for k, v in flows.items()}
    cols["src_ip"] = pa.array([str(ipaddress.IPv4Address(int(x))) for x in cols["src_ip"]])
    cols["dst_ip"] = pa.array([str(ipaddress.IPv4Address(int(x))) for x in cols["dst_ip"]])
    benchmark.pedantic(lambda: policy.evaluate(cols, threads=1), rounds=5, iterations=1)

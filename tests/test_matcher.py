"""The compiled matcher in bulk: real tags at scale, ClassBench, input shapes, rejects, threads, pickling."""
from __future__ import annotations

import ipaddress
import pickle
import random

import numpy as np
import pyarrow as pa
import pytest

from adu_fw.classbench import read_trace
from adu_fw.policy import Policy
from adu_fw.servicetags import load_cached

from conftest import shared
from nsgkit import nsg, rule

TAGS = load_cached("20240610")  # named: the default changes as new files ship
BIG_TAGS = ["AzureCloud", "Storage", "AzureDeviceUpdate", "AzureCloud.westeurope", "Storage.WestEurope", "Sql.EastUS",
            "AzureMonitor", "AzureFrontDoor.Backend", "EventHub", "AzureActiveDirectory"]


def _big_rules():
    rules = []
    for i, tag in enumerate(BIG_TAGS):
        rules.append(rule(f"out-{tag}", 100 + i * 10, "Outbound", access="Deny" if i % 3 == 2 else "Allow",
                          protocol=["Tcp", "Udp", "*"][i % 3], dst=tag, dport=["443", "80,443", "1024-65535", "*"][i % 4]))
        rules.append(rule(f"in-{tag}", 100 + i * 10, "Inbound", access="Allow" if i % 2 else "Deny",
                          protocol="Tcp", src=tag, dport=["22", "3389", "443", "8000-8100"][i % 4]))
    return rules


def _big_policy():
    rules = _big_rules()
    rules.append(rule("deny-some-v6", 900, "Outbound", access="Deny", dst="2603:1000::/24"))
    return Policy.from_nsg(nsg("big", *rules), virtual_network=["10.0.0.0/16", "2001:db8:1::/64"], service_tags=TAGS)


def _big_flows(n, seed=3):
    rng = random.Random(seed)
    remote = []
    for tag in BIG_TAGS:
        for p in rng.sample(TAGS.prefixes(tag), min(300, len(TAGS.prefixes(tag)))):
            net = ipaddress.ip_network(p)
            remote += [net.network_address, net.broadcast_address, net.network_address + rng.randrange(net.num_addresses)]
            if int(net.broadcast_address) + 1 < 2 ** net.max_prefixlen:
                remote.append(net.broadcast_address + 1)
    rows = []
    for _ in range(n):
        r = rng.choice(remote) if rng.random() < 0.8 else ipaddress.IPv4Address(rng.getrandbits(32))
        local = ipaddress.ip_address("10.0.0.4") if r.version == 4 else ipaddress.ip_address("2001:db8:1::4")
        proto = rng.choice([6, 6, 17, 1])
        port = rng.choice([22, 80, 443, 1023, 1024, 3389, 8000, 8100, 8101, 65535]) if proto != 1 else 0
        if rng.random() < 0.5:
            rows.append(("Outbound", proto, str(local), 40000 if proto != 1 else 0, str(r), port))
        else:
            rows.append(("Inbound", proto, str(r), 40000 if proto != 1 else 0, str(local), port))
    return rows


def test_real_tags_100k_flows_compiled_equals_reference():
    policy = _big_policy()
    rows = _big_flows(100_000)
    table = policy.evaluate({k: [r[i] for r in rows] for i, k in enumerate(
        ("direction", "protocol", "src_ip", "src_port", "dst_ip", "dst_port"))})
    got_rule = table.column("rule_index").to_numpy()
    names = policy.compile().labels["rule"]
    hits = {}
    for row, idx in zip(rows, got_rule.tolist()):
        v = policy.check(*row)
        assert names[idx] == v.rule and policy.compile().labels["priority"][idx] == v.priority, row
        hits[v.rule] = hits.get(v.rule, 0) + 1
    assert len(hits) >= 15, "the flows reach most rules"


@pytest.mark.parametrize("name", ["acl1_1k", "fw1_1k"])
def test_classbench_first_match_equals_linear_scan(name):
    rl = Policy.from_classbench(shared("data", "classbench", name))
    trace = read_trace(shared("data", "classbench", name + "_trace"))
    got = rl.classify(trace)
    assert (got == rl.reference(trace)).all()
    assert (got >= 0).all() and (got <= trace["filter"]).all()  # FILTER matches; an earlier rule may match first
    assert (got == trace["filter"]).mean() > 0.9  # PROVENANCE: 96.5% (acl1_1k), 92% (fw1_1k)


def test_classbench_bad_line(tmp_path):
    from adu_fw import PolicyError

    p = tmp_path / "r"
    p.write_text("@1.2.3.4/32\t5.6.7.8/32\t0 : 65535\t0 : 65535\t0x06/0xFF\n@bogus\n")
    with pytest.raises(PolicyError, match="line 2"):
        Policy.from_classbench(p)


# -- input shapes, rejects, threads, pickling -------------------------------------------------------------
@pytest.fixture(scope="module")
def small():
    return Policy.from_nsg(nsg("n", rule("ssh", 100, protocol="Tcp", dport="22", src="Internet"),
                               rule("adu", 100, "Outbound", protocol="Tcp", dst="AzureDeviceUpdate", dport="443")),
                           virtual_network=["10.0.0.0/16"])


ROWS = {
    "direction": ["Inbound", "O", "i", "OUTBOUND"],
    "protocol": ["tcp", 6, "T", "udp"],
    "src_ip": ["8.8.8.8", "10.0.0.4", "10.0.1.1", "10.0.0.4"],
    "src_port": [1, 2, 3, 4],
    "dst_ip": ["10.0.0.4", "20.119.27.200", "10.0.0.4", "20.119.27.200"],
    "dst_port": [22, 443, 80, 443],
}
EXPECTED = ["ssh", "adu", "AllowVnetInBound", "AllowInternetOutBound"]


def test_input_containers_agree(small):
    variants = [
        ROWS,
        {k: np.array(v, dtype=object) for k, v in ROWS.items()},
        pa.table({"direction": pa.array(ROWS["direction"]).dictionary_encode(), "protocol": pa.array(["tcp", "6", "T", "udp"]),
                  "src_ip": pa.array(ROWS["src_ip"]).dictionary_encode(), "src_port": pa.array(ROWS["src_port"], pa.int64()),
                  "dst_ip": pa.array(ROWS["dst_ip"], pa.large_string()), "dst_port": pa.array(ROWS["dst_port"], pa.uint16())}),
    ]
    try:
        import pandas as pd

        variants.append(pd.DataFrame({k: v for k, v in ROWS.items() if k != "protocol"} | {"protocol": ["tcp", "6", "T", "udp"]}))
    except ImportError:
        pass
    for v in variants:
        assert small.evaluate(v).column("rule").to_pylist() == EXPECTED


def test_integer_fast_path(small):
    n = 1000
    flows = {"direction": np.ones(n, np.uint8), "protocol": np.full(n, 6, np.uint8),
             "src_ip": np.full(n, int(ipaddress.IPv4Address("10.0.0.4")), np.uint32),
             "src_port": np.full(n, 5000, np.uint16), "dst_ip": np.full(n, int(ipaddress.IPv4Address("20.119.27.200")), np.uint32),
             "dst_port": np.full(n, 443, np.uint16)}
    t = small.evaluate(flows)
    assert set(t.column("rule").to_pylist()) == {"adu"} and t.column("access").to_pylist()[0] == "Allow"


def test_rows_that_cannot_be_evaluated_come_back_with_a_reason(small):
    rows = {"direction": ["Inbound", "sideways", "Inbound", "Inbound", "Inbound", "Inbound"],
            "protocol": ["tcp", "tcp", "gre?", "tcp", "tcp", "tcp"],
            "src_ip": ["8.8.8.8", "8.8.8.8", "8.8.8.8", "8.8.8", "::1", "8.8.8.8"],
            "src_port": [1, 1, 1, 1, 1, 70000],
            "dst_ip": ["10.0.0.4"] * 6,
            "dst_port": [22] * 6}
    t = small.evaluate(rows)
    assert t.num_rows == 6
    assert t.column("rule_index").to_pylist() == [0, -2, -2, -2, -2, -2]
    assert t.column("access").to_pylist() == ["Allow", None, None, None, None, None]
    reasons = t.column("reject_reason").to_pylist()
    assert reasons[0] is None
    assert [r.split(":")[0] for r in reasons[1:]] == ["direction", "protocol", "src_ip", "src_ip/dst_ip", "src_port"]


def test_missing_column_is_an_error(small):
    from adu_fw import AduFwError

    with pytest.raises(AduFwError, match="lack column"):
        small.evaluate({k: v for k, v in ROWS.items() if k != "dst_port"})


def test_threads_give_the_same_answer():
    policy = _big_policy()
    rows = _big_flows(30_000, seed=9)
    cols = {k: [r[i] for r in rows] for i, k in enumerate(("direction", "protocol", "src_ip", "src_port", "dst_ip", "dst_port"))}
    one = policy.evaluate(cols, threads=1).column("rule_index")
    two = policy.evaluate(cols, threads=2).column("rule_index")
    assert one.equals(two)


def test_compiled_policy_pickles_compactly_and_works_after():
    policy = _big_policy()
    compiled = policy.compile()
    blob = pickle.dumps(compiled, protocol=5)
    raw = sum(a.nbytes for a in compiled.arrays.values() if hasattr(a, "nbytes"))
    assert len(blob) < raw  # port tables travel run-length encoded
    back = pickle.loads(blob)
    from adu_fw.evaluate import evaluate

    rows = _big_flows(2000, seed=4)
    cols = {k: [r[i] for r in rows] for i, k in enumerate(("direction", "protocol", "src_ip", "src_port", "dst_ip", "dst_port"))}
    assert evaluate(back, cols).equals(evaluate(compiled, cols))


def _big_subnet_nic_policy():
    """The rules of ``_big_policy`` split between a subnet NSG and a NIC NSG."""
    rules = _big_rules()
    subnet = [r for k, r in enumerate(rules) if (k // 2) % 2 == 0]
    nic = [r for k, r in enumerate(rules) if (k // 2) % 2 == 1]
    # broad allows at the end of the subnet NSG, so that the NIC stage decides many flows
    subnet += [rule("subnet-in", 4000, "Inbound"), rule("subnet-out", 4000, "Outbound")]
    return Policy.from_nsgs(subnet=nsg("subnet", *subnet), nic=nsg("nic", *nic),
                            virtual_network=["10.0.0.0/16"], service_tags=TAGS)


@pytest.mark.parametrize("pair", [False, True], ids=["one-nsg", "subnet-and-nic"])
def test_every_ipv4_path_gives_the_same_answer_at_scale(pair):
    """The lane path (AVX2 and scalar), the block / flow path and the bitset path on the same
    100k IPv4 flows with real tags, with odd lengths, bad direction bytes and 1 or 2 threads; a
    sample is checked against the reference evaluator."""
    from adu_fw._match import Matcher
    from adu_fw.compile import fast_tables

    policy = _big_subnet_nic_policy() if pair else _big_policy()
    rows = [r for r in _big_flows(100_000, seed=5) if ":" not in r[2]][:77_777]
    cols = {
        "direction": np.array([r[0] == "Outbound" for r in rows], np.uint8),
        "protocol": np.array([r[1] for r in rows], np.uint8),
        "src": np.array([int(ipaddress.IPv4Address(r[2])) for r in rows], np.uint32),
        "src_port": np.array([r[3] for r in rows], np.uint16),
        "dst": np.array([int(ipaddress.IPv4Address(r[4])) for r in rows], np.uint32),
        "dst_port": np.array([r[5] for r in rows], np.uint16),
    }
    cols["direction"][::997] = 255
    cols["direction"][5::1009] = 7
    a = policy.compile().arrays
    lanes = Matcher(dict(a, **fast_tables(a)))
    scalar = Matcher(dict(a, **fast_tables(a)))
    scalar.simd = False
    matchers = [lanes, scalar, Matcher(a), Matcher({k: v for k, v in a.items() if not k.startswith("cross")})]
    assert scalar.v4_path == "lanes" and matchers[2].v4_path == ("flow" if pair else "block")
    answers = []
    for m in matchers:
        for threads in (1, 2):
            rule = np.empty(len(rows), np.int32)
            allow = np.empty(len(rows), np.uint8)
            m.classify_v4(*cols.values(), rule, allow, threads)
            answers.append((rule, allow))
    for rule, allow in answers[1:]:
        assert np.array_equal(rule, answers[0][0]) and np.array_equal(allow, answers[0][1])
    rule, allow = answers[0]
    bad = (cols["direction"] > 1)
    deciding = {policy.compile().labels["nsg"][r] for r in rule[~bad].tolist()}
    assert deciding == ({"subnet", "nic"} if pair else {"big"})  # with a pair, both stages decide some flows
    assert (rule[bad] == -2).all() and (allow[bad] == 0).all()
    names, prio = policy.compile().labels["rule"], policy.compile().labels["priority"]
    for i in random.Random(1).sample(np.flatnonzero(~bad).tolist(), 3000):
        v = policy.check(*rows[i])
        assert names[rule[i]] == v.rule and prio[rule[i]] == v.priority and bool(allow[i]) == (v.access == "Allow")


def test_tables_that_would_index_out_of_bounds_are_refused():
    """The loops do not check indexes; the matcher checks on load that no table can send them out."""
    from adu_fw._match import Matcher
    from adu_fw.compile import fast_tables

    a = _big_policy().compile().arrays
    bad = dict(a, cross_idx=np.full_like(a["cross_idx"], 65535))
    with pytest.raises(ValueError, match="inconsistent"):
        Matcher(bad)
    bad = dict(a, dport_class=np.full_like(a["dport_class"], 65535))
    with pytest.raises(ValueError, match="inconsistent"):
        Matcher(bad)
    for key in ("fast_u16", "fast_i32", "fast_l3"):
        lanes = fast_tables(a)
        lanes[key] = np.full_like(lanes[key], np.iinfo(lanes[key].dtype).max)
        with pytest.raises(ValueError, match="inconsistent"):
            Matcher(dict(a, **lanes))


def test_a_trie_that_needs_too_many_tables_is_declined():
    """Every /16 split: 65,536 second-level tables plus the constant ones do not fit in uint16
    indexes, so the lane tables are not built (the block path and its search answer instead)."""
    from adu_fw.compile import _v4_trie

    starts = np.arange(0, 2**32, 2**15, dtype=np.uint64).astype(np.uint32)
    classes = (np.arange(starts.size) % 2).astype(np.int32)
    assert _v4_trie(starts, classes, 2) is None
    levels = _v4_trie(starts[::4], classes[::4] * 0, 1)  # nothing split: constant tables only
    assert levels is not None and levels[1].size == 256 and levels[2].size == 256

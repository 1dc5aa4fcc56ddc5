"""Differential tests: the compiled matcher answers exactly what the reference evaluator answers.

Random policies (priorities, prefixes incl. /0, /32, /128, overlapping service tags, port lists and
edges, every protocol, ASGs, IPv4 and IPv6; one NSG or a subnet+NIC pair) and random flows biased to
the boundaries of those rules, compared flow by flow on (access, rule, NSG).
"""
from __future__ import annotations

import ipaddress
import random

import numpy as np
import pyarrow as pa

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adu_fw.evaluate import classify
from adu_fw.flowtable import flow_arrays
from adu_fw.policy import Policy
from adu_fw.servicetags import load_cached

from matchkit import Variant, matchers

TAGS = load_cached("20240610")  # named: the default changes as new files ship
TAG_NAMES = ["AzureDeviceUpdate", "Storage.WestEurope", "AzureFrontDoor.Backend", "VirtualNetwork", "Internet", "AzureLoadBalancer", "GatewayManager"]
V4_POOL = ["0.0.0.0/0", "10.0.0.0/8", "10.0.0.0/16", "10.0.0.4/32", "10.0.1.0/24", "8.8.8.0/24", "8.8.8.8/32",
           "20.119.27.192/26", "20.119.0.0/16", "168.63.129.16/32", "172.16.0.0/12", "192.168.0.0/16", "13.64.0.0/11",
           "255.255.255.255/32", "0.0.0.0/32", "128.0.0.0/1"]
V6_POOL = ["::/0", "2001:db8::/32", "2001:db8::4/128", "2001:db8:1::/64", "2603:1030:210:11::200/122", "2603:1030::/32",
           "fc00::/7", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", "::/128", "2000::/3"]
VNETS = [["10.0.0.0/16"], ["10.0.0.0/16", "2001:db8:1::/64"], ["10.0.0.0/8", "192.168.0.0/16", "2001:db8::/32"]]
PORTS = ["*", "0", "65535", "443", "80", "1-1024", "1024-65535", "22,3389", "53", "8000-8080", "443,80,8443"]
PROTOS = ["Tcp", "Udp", "Icmp", "Esp", "Ah", "*"]
FLOW_PROTOS = [6, 17, 1, 50, 51, 47, 58]
ASGS = {"asg1": ["10.0.0.4", "10.0.0.5"], "asg2": ["10.0.1.9", "2001:db8:1::9"], "empty": []}


@st.composite
def side(draw, family):
    kind = draw(st.sampled_from(["any", "prefix", "prefixes", "tag", "asg"]))
    if kind == "any":
        return {"sourceAddressPrefix": "*"}
    if kind == "tag":
        return {"sourceAddressPrefix": draw(st.sampled_from(TAG_NAMES))}
    if kind == "asg":
        return {"sourceApplicationSecurityGroups": [{"id": "/x/applicationSecurityGroups/" + draw(st.sampled_from(sorted(ASGS)))}]}
    pool = V4_POOL if family == 4 else V6_POOL
    if kind == "prefix":
        return {"sourceAddressPrefix": draw(st.sampled_from(pool))}
    return {"sourceAddressPrefixes": draw(st.lists(st.sampled_from(pool), min_size=1, max_size=4, unique=True))}


def _rename(d, to):
    return {k.replace("source", to): v for k, v in d.items()}


@st.composite
def rules(draw, max_rules=10):
    n = draw(st.integers(0, max_rules))
    # NSGs rarely name source ports; without any, the lanes fold the source-port class away
    any_sport = draw(st.booleans())
    prios = {"Inbound": draw(st.lists(st.integers(100, 4096), min_size=n, max_size=n, unique=True)),
             "Outbound": draw(st.lists(st.integers(100, 4096), min_size=n, max_size=n, unique=True))}
    out = []
    for i in range(n):
        direction = draw(st.sampled_from(["Inbound", "Outbound"]))
        family = draw(st.sampled_from([4, 6]))
        props = {"priority": prios[direction][i], "direction": direction,
                 "access": draw(st.sampled_from(["Allow", "Deny"])), "protocol": draw(st.sampled_from(PROTOS))}
        props.update(draw(side(family)))
        props.update(_rename(draw(side(family)), "destination"))
        sp = "*" if any_sport else draw(st.sampled_from(PORTS))
        dp = draw(st.lists(st.sampled_from(PORTS), min_size=1, max_size=2))
        props["sourcePortRange"] = sp
        props["destinationPortRanges"] = dp
        out.append({"name": f"r{i}", "properties": props})
    return out


def _edges(prefix):
    """The first and last address of a prefix and their outside neighbours."""
    net = ipaddress.ip_network(prefix)
    top = 2**net.max_prefixlen - 1
    first, last = int(net.network_address), int(net.broadcast_address)
    return [ipaddress.ip_address(v) if net.version == 4 else ipaddress.IPv6Address(v)
            for v in (first - 1, first, last, last + 1) if 0 <= v <= top]


def _candidate_addresses(policy, rng):
    v4, v6 = set(), set()
    prefixes = list(V4_POOL + V6_POOL) + list(policy.virtual_network)
    for name in TAG_NAMES[:3]:
        prefixes += rng.sample(TAGS.prefixes(name), min(6, len(TAGS.prefixes(name))))
    for p in prefixes:
        for a in _edges(p):
            (v4 if a.version == 4 else v6).add(str(a))
    for members in ASGS.values():
        for m in members:
            (v6 if ":" in m else v4).add(m)
    v4 |= {str(ipaddress.IPv4Address(rng.getrandbits(32))) for _ in range(5)}
    v6 |= {str(ipaddress.IPv6Address(rng.getrandbits(128))) for _ in range(5)}
    return sorted(v4), sorted(v6)


def _aimed(policy, rng, family):
    """A flow aimed at a random custom rule: addresses and ports on the edges of what it names."""
    targets = [(nsg, r) for nsg in policy.nsgs for r in nsg.rules]
    if not targets:
        return None
    nsg, r = rng.choice(targets)

    def addr(side):
        prefixes = policy.side_prefixes(nsg, r, side)
        pool = [p for p in (prefixes if prefixes is not None else V4_POOL + V6_POOL) if (":" in p) == (family == 6)]
        if not pool:
            return None
        return str(rng.choice(_edges(rng.choice(pool))))

    src, dst = addr("source"), addr("destination")
    if src is None or dst is None:
        return None
    proto = r.protocol_number if r.protocol_number is not None else rng.choice(FLOW_PROTOS)

    def port(ranges):
        lo, hi = rng.choice(ranges)
        return rng.choice([lo, hi, max(0, lo - 1), min(65535, hi + 1)])

    ported = proto in (6, 17)
    return (r.direction, proto, src, port(r.source_ports) if ported else 0, dst, port(r.destination_ports) if ported else 0)


def _flows(policy, seed, n):
    rng = random.Random(seed)
    v4, v6 = _candidate_addresses(policy, rng)
    ports = [0, 1, 21, 22, 23, 52, 53, 54, 79, 80, 81, 442, 443, 444, 1023, 1024, 1025, 3389, 7999, 8000, 8080, 8081, 8443, 65534, 65535]
    rows = []
    for _ in range(n):
        if rng.random() < 0.6:
            row = _aimed(policy, rng, rng.choice([4, 4, 6]))
            if row is not None:
                rows.append(row)
                continue
        pool = v4 if rng.random() < 0.7 else v6
        proto = rng.choice(FLOW_PROTOS)
        ported = proto in (6, 17)
        rows.append((rng.choice(["Inbound", "Outbound"]), proto, rng.choice(pool), rng.choice(ports) if ported else 0,
                     rng.choice(pool), rng.choice(ports) if ported else 0))
    return rows


def _v4_columns(rows):
    """The IPv4 rows' positions and their integer columns (the zero-copy input shape)."""
    v4 = [i for i, r in enumerate(rows) if ":" not in r[2] and ":" not in r[4]]
    return v4, {
        "direction": np.array([rows[i][0] == "Outbound" for i in v4], np.uint8),
        "protocol": np.array([rows[i][1] for i in v4], np.uint8),
        "src_ip": np.array([int(ipaddress.IPv4Address(rows[i][2])) for i in v4], np.uint32),
        "src_port": np.array([rows[i][3] for i in v4], np.uint16),
        "dst_ip": np.array([int(ipaddress.IPv4Address(rows[i][4])) for i in v4], np.uint32),
        "dst_port": np.array([rows[i][5] for i in v4], np.uint16)}


V6_TILE = 2 * 4096 + 517  # rows of the big-endian IPv6 door: several parallel chunks and swap steps, and tails


def _v6_bytes(rows):
    """The IPv6 rows' positions and their columns with fixed_size_binary(16) addresses, the rows
    repeated to V6_TILE (the door whose lanes swap the bytes in cache)."""
    v6 = [i for i, r in enumerate(rows) if ":" in r[2] and ":" in r[4]]
    if not v6:
        return v6, None
    take = np.resize(np.array(v6), V6_TILE)

    def addresses(k):
        be = np.frombuffer(b"".join(ipaddress.IPv6Address(rows[i][k]).packed for i in v6), np.uint8).reshape(-1, 16)
        return pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), V6_TILE, [None, pa.py_buffer(be[np.resize(np.arange(len(v6)), V6_TILE)].tobytes())])

    return take, {
        "direction": np.array([rows[i][0] == "Outbound" for i in take], np.uint8),
        "protocol": np.array([rows[i][1] for i in take], np.uint8), "src_ip": addresses(2),
        "src_port": np.array([rows[i][3] for i in take], np.uint16), "dst_ip": addresses(4),
        "dst_port": np.array([rows[i][5] for i in take], np.uint16)}


def _compare_paths(policy, rows, rule, allow):
    """Each classify path, IPv4 integer, IPv6 bytes and general, 1 and 2 threads, answers (rule, allow)."""
    compiled = policy.compile()
    fa = flow_arrays({"direction": [r[0] for r in rows], "protocol": [r[1] for r in rows],
                      "src_ip": [r[2] for r in rows], "src_port": [r[3] for r in rows],
                      "dst_ip": [r[4] for r in rows], "dst_port": [r[5] for r in rows]})
    v4, cols4 = _v4_columns(rows)
    fa4 = flow_arrays(cols4)
    v6, cols6 = _v6_bytes(rows)
    fa6 = flow_arrays(cols6) if cols6 is not None else None
    assert fa6 is None or fa6.v6_bytes
    for m in matchers(compiled.arrays):
        for threads in (1, 2):
            r, a = classify(Variant(compiled, m), fa, threads)
            assert r.tolist() == rule and a.tolist() == allow, m.v4_path
            if v4:
                r, a = classify(Variant(compiled, m), fa4, threads)
                assert r.tolist() == [rule[i] for i in v4] and a.tolist() == [allow[i] for i in v4], m.v4_path
            if fa6 is not None:
                r, a = classify(Variant(compiled, m), fa6, threads)
                assert (r == np.array(rule)[v6]).all() and (a == np.array(allow)[v6]).all(), m.v6_path


def _compare(policy, rows):
    table = policy.evaluate({
        "direction": [r[0] for r in rows], "protocol": [r[1] for r in rows], "src_ip": [r[2] for r in rows],
        "src_port": [r[3] for r in rows], "dst_ip": [r[4] for r in rows], "dst_port": [r[5] for r in rows]})
    got = list(zip(table.column("access").to_pylist(), table.column("rule").to_pylist(), table.column("nsg").to_pylist(),
                   table.column("rule_index").to_pylist()))
    prio = policy.compile().labels["priority"]
    # the IPv4-integer fast path (block-wise classify_v4) answers the same for the IPv4 rows
    v4, cols4 = _v4_columns(rows)
    if v4:
        t4 = policy.evaluate(cols4)
        assert t4.column("rule_index").to_pylist() == [got[i][3] for i in v4]
        assert t4.column("access").to_pylist() == [got[i][0] for i in v4]
    _compare_paths(policy, rows, [g[3] if g[3] is not None else -1 for g in got],
                   [int(g[0] == "Allow") for g in got])
    for row, (access, rule, nsg, idx) in zip(rows, got):
        v = policy.check(*row)
        assert (access, rule, nsg) == (v.access, v.rule, v.nsg), (row, (access, rule, nsg), v)
        if idx >= 0:
            assert prio[idx] == v.priority


NSG_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@NSG_SETTINGS
@given(rules(), st.sampled_from(VNETS), st.integers(0, 2**32))
def test_single_nsg_compiled_equals_reference(rs, vnet, seed):
    policy = Policy.from_nsg({"name": "n1", "properties": {"securityRules": rs}}, virtual_network=vnet, service_tags=TAGS, asgs=ASGS)
    _compare(policy, _flows(policy, seed, 60))
    m = policy.compile().matcher()  # source ports named or not, IPv4 and IPv6: the lanes take it
    assert m.v4_path.startswith("lanes") and m.v6_path.startswith("lanes"), (m.v4_path, m.v6_path)


@NSG_SETTINGS
@given(rules(6), rules(6), st.sampled_from(VNETS), st.integers(0, 2**32), st.sampled_from(["both", "subnet", "nic"]))
def test_subnet_and_nic_compiled_equals_reference(sub, nic, vnet, seed, present):
    policy = Policy.from_nsgs(
        subnet={"name": "subnet-nsg", "properties": {"securityRules": sub}} if present != "nic" else None,
        nic={"name": "nic-nsg", "properties": {"securityRules": nic}} if present != "subnet" else None,
        virtual_network=vnet, service_tags=TAGS, asgs=ASGS)
    _compare(policy, _flows(policy, seed, 60))
    m = policy.compile().matcher()  # source ports named or not, IPv4 and IPv6: the lanes take it
    assert m.v4_path.startswith("lanes") and m.v6_path.startswith("lanes"), (m.v4_path, m.v6_path)

"""The exposure regions are exact: a flow from SOURCE to the destinations is allowed by the reference
evaluator exactly when it lies in a reported region; every witness is allowed and lies in its region.

Random policies (one NSG or a subnet+NIC pair; IPv4 and IPv6; service tags, ASGs, port lists,
every protocol) from the differential tests, random sources (tags, CIDRs, *), and flows biased to
the edges of the rules, of the source and of the destinations.
"""
from __future__ import annotations

import ipaddress
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adu_fw.exposure import exposure
from adu_fw.policy import Policy
from adu_fw.servicetags import load_cached

from test_compiled_vs_reference import ASGS, VNETS, _edges, _flows, rules

TAGS = load_cached("20240610")
SOURCES = ["Internet", "*", "8.8.8.0/24", "AzureDeviceUpdate", "VirtualNetwork", "10.0.0.0/8,2001:db8::/32",
           "0.0.0.0/0", "2001:db8:1::/64", "GatewayManager"]
TOS = [None, ["10.0.0.0/24", "2001:db8:1::/64"], ["0.0.0.0/0"], ["10.0.1.4/32"]]


def _in(prefixes, addr):
    a = ipaddress.ip_address(addr)
    return prefixes is None or any(a in n for n in (ipaddress.ip_network(p, strict=False) for p in prefixes)
                                   if n.version == a.version)


def _edge_flows(report, rng, n):
    """Inbound flows with the source on the edges of SOURCE and the destination on the edges of TO."""
    src_pool = list(report.source_prefixes or ["0.0.0.0/0", "::/0", "8.8.8.0/24", "2001:db8::/32"])
    dst_pool = list(report.destinations)
    out = []
    for _ in range(n):
        s = rng.choice(_edges(rng.choice(src_pool)))
        same = [p for p in dst_pool if (":" in p) == (s.version == 6)]
        if not same:
            continue
        d = rng.choice(_edges(rng.choice(same)))
        proto = rng.choice([6, 17, 1, 50, 47])
        ported = proto in (6, 17)
        out.append(("Inbound", proto, str(s), rng.choice([0, 22, 1024, 65535]) if ported else 0, str(d),
                    rng.choice([0, 22, 80, 443, 3389, 8080, 65535]) if ported else 0))
    return out


def _check(policy, source, to, seed):
    report = exposure(policy, source, to)
    for e in report.exposures:
        w = e.witness
        v = policy.check(w["direction"], w["protocol"], w["src"], w["src_port"], w["dst"], w["dst_port"])
        assert v.access == "Allow", (e.to_dict(), v)
        assert e.contains(w["protocol"], w["src"], w["src_port"], w["dst"], w["dst_port"])
        assert (e.rule, e.nsg) == (v.rule, v.nsg)  # reported like check: the last NSG that allowed
    rng = random.Random(seed)
    rows = [r for r in _flows(policy, seed, 60) if r[0] == "Inbound"] + _edge_flows(report, rng, 60)
    for row in rows:
        _, proto, src, sport, dst, dport = row
        inside = [e for e in report.exposures if e.contains(proto, src, sport, dst, dport)]
        assert len(inside) <= 1, row  # regions are disjoint
        if _in(report.source_prefixes, src) and _in(report.destinations, dst):
            v = policy.check(*row)
            assert (v.access == "Allow") == bool(inside), (row, v.access, v.rule, [e.to_dict() for e in inside])
            if inside:
                assert (inside[0].rule, inside[0].nsg) == (v.rule, v.nsg)
        else:
            assert not inside, row


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@SETTINGS
@given(rules(8), st.sampled_from(VNETS), st.sampled_from(SOURCES), st.sampled_from(TOS), st.integers(0, 2**32))
def test_single_nsg_exposure_is_exact(rs, vnet, source, to, seed):
    policy = Policy.from_nsg({"name": "n1", "properties": {"securityRules": rs}}, virtual_network=vnet,
                             service_tags=TAGS, asgs=ASGS)
    _check(policy, source, to, seed)


@SETTINGS
@given(rules(5), rules(5), st.sampled_from(VNETS), st.sampled_from(SOURCES), st.sampled_from(TOS),
       st.integers(0, 2**32), st.sampled_from(["both", "subnet", "nic"]))
def test_subnet_and_nic_exposure_is_exact(sub, nic, vnet, source, to, seed, present):
    policy = Policy.from_nsgs(
        subnet={"name": "subnet-nsg", "properties": {"securityRules": sub}} if present != "nic" else None,
        nic={"name": "nic-nsg", "properties": {"securityRules": nic}} if present != "subnet" else None,
        virtual_network=vnet, service_tags=TAGS, asgs=ASGS)
    _check(policy, source, to, seed)

"""Differential tests: security admin rules + NSGs, compiled == reference.

Random admin rule sets (every action, both directions, IP prefixes incl. /0 and /128, service tags,
several items per side, port lists, every protocol, repeated priorities, one or two configurations)
before random NSGs (one NSG, a subnet+NIC pair, one level only, or none), with flows aimed at the
edges of admin and NSG rules, IPv4 and IPv6, compared flow by flow on every classify path.
"""
from __future__ import annotations

import ipaddress
import random
from collections import Counter

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from adu_fw.policy import Policy
from adu_fw.servicetags import load_cached

from test_compiled_vs_reference import ASGS, FLOW_PROTOS, PORTS, V4_POOL, V6_POOL, VNETS, _compare, _edges, _flows, rules

TAGS = load_cached("20240610")
SEEN: Counter = Counter()  # (admin access, deciding layer) of checked flows, for the guard test
EXPOSURE_CHECKS: Counter = Counter()  # flows checked against the exposure regions, by reference answer
ADMIN_TAGS = ["AzureDeviceUpdate", "Storage.WestEurope", "VirtualNetwork", "Internet", "AzureLoadBalancer"]
ADMIN_PROTOS = ["Tcp", "Udp", "Icmp", "Esp", "Ah", "Any"]
RID = "/subscriptions/0/resourceGroups/rg/providers/Microsoft.Network/networkManagers/m{m}/securityAdminConfigurations/c{m}/ruleCollections/k{k}/rules/a{i}"


@st.composite
def items(draw):
    kind = draw(st.sampled_from(["any", "missing", "prefixes", "tag", "mixed"]))
    if kind == "missing":
        return []
    if kind == "any":
        return [{"addressPrefixType": "IPPrefix", "addressPrefix": "*"}]
    out = []
    if kind in ("prefixes", "mixed"):
        for p in draw(st.lists(st.sampled_from(V4_POOL + V6_POOL), min_size=1, max_size=3, unique=True)):
            out.append({"addressPrefixType": "IPPrefix", "addressPrefix": p})
    if kind in ("tag", "mixed"):
        for t in draw(st.lists(st.sampled_from(ADMIN_TAGS), min_size=1, max_size=2, unique=True)):
            out.append({"addressPrefixType": "ServiceTag", "addressPrefix": t})
    return out


@st.composite
def admin_rules(draw, max_rules=8):
    n = draw(st.integers(0, max_rules))
    two_configs = draw(st.booleans())
    out = []
    for i in range(n):
        m = draw(st.integers(0, 1)) if two_configs else 0
        out.append({"id": RID.format(m=m, k=draw(st.integers(0, 1)), i=i), "kind": "Custom", "properties": {
            "priority": draw(st.integers(1, 12)) if draw(st.booleans()) else draw(st.integers(1, 4096)),
            "access": draw(st.sampled_from(["Allow", "Deny", "AlwaysAllow"])),
            "direction": draw(st.sampled_from(["Inbound", "Outbound"])),
            "protocol": draw(st.sampled_from(ADMIN_PROTOS)),
            "sources": draw(items()), "destinations": draw(items()),
            "sourcePortRanges": draw(st.lists(st.sampled_from(PORTS), min_size=0, max_size=2)),
            "destinationPortRanges": draw(st.lists(st.sampled_from(PORTS), min_size=0, max_size=2))}})
    return out


def _aimed_admin(policy, rng, n):
    """Flows on the edges of what the admin rules name."""
    rules = policy.admin_rules.rules if policy.admin_rules is not None else []
    rows = []
    for _ in range(n if rules else 0):
        r = rng.choice(rules)
        family = rng.choice([4, 4, 6])

        def addr(side):
            prefixes = policy.admin_side_prefixes(r, side)
            pool = [p for p in (prefixes if prefixes is not None else V4_POOL + V6_POOL) if (":" in p) == (family == 6)]
            pool = pool or [p for p in V4_POOL + V6_POOL if (":" in p) == (family == 6)]
            if len(pool) > 50:
                pool = rng.sample(pool, 50)
            return str(rng.choice(_edges(rng.choice(pool))))

        proto = r.protocol_number if r.protocol_number is not None else rng.choice(FLOW_PROTOS)

        def port(ranges):
            lo, hi = rng.choice(ranges)
            return rng.choice([lo, hi, max(0, lo - 1), min(65535, hi + 1)])

        ported = proto in (6, 17)
        rows.append((r.direction, proto, addr("source"), port(r.source_ports) if ported else 0, addr("destination"),
                     port(r.destination_ports) if ported else 0))
    return rows


def _check(policy, seed):
    rng = random.Random(seed)
    rows = _flows(policy, seed, 40) + _aimed_admin(policy, rng, 40)
    rows = [r for r in rows if ipaddress.ip_address(r[2]).version == ipaddress.ip_address(r[4]).version]
    _compare(policy, rows)
    for row in rows[:20]:
        v = policy.check(*row)
        if v.trail and v.trail[0].level == "admin":
            a = v.trail[0].access
            SEEN[(a, "nsg-deny" if a == "Allow" and v.layer == "nsg" and v.access == "Deny" else v.layer or "none")] += 1
    return rows


SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@SETTINGS
@given(admin_rules(), rules(), st.sampled_from(VNETS), st.integers(0, 2**32))
def test_admin_stage_and_one_nsg_compiled_equals_reference(admin, rs, vnet, seed):
    policy = Policy.from_nsg({"name": "n1", "properties": {"securityRules": rs}}, virtual_network=vnet, service_tags=TAGS,
                             asgs=ASGS, admin_rules=admin)
    _check(policy, seed)
    if all(r["properties"]["sourcePortRange"] == "*" for r in rs) and all(
            set(a["properties"]["sourcePortRanges"]) <= {"*"} for a in admin):
        assert policy.compile().matcher().v4_path.startswith("lanes")


ALLOW_ALL = [{"id": RID.format(m=0, k=0, i=0), "properties": {"priority": 5, "access": "Allow", "direction": "Inbound",
                                                              "protocol": "Any"}}]


@SETTINGS
@given(admin_rules(), rules(5), rules(5), st.sampled_from(VNETS), st.integers(0, 2**32),
       st.sampled_from(["both", "subnet", "nic", "none"]))
@example(ALLOW_ALL, [], [], VNETS[0], 1, "none")  # an Allow with no NSG after it: the admin rule is reported
def test_admin_stage_and_subnet_nic_compiled_equals_reference(admin, sub, nic, vnet, seed, present):
    policy = Policy.from_nsgs(
        subnet={"name": "subnet-nsg", "properties": {"securityRules": sub}} if present in ("both", "subnet") else None,
        nic={"name": "nic-nsg", "properties": {"securityRules": nic}} if present in ("both", "nic") else None,
        virtual_network=vnet, service_tags=TAGS, asgs=ASGS, admin_rules=admin)
    _check(policy, seed)


def test_every_action_decided_some_flow():
    """The examples above reached every case (a guard against a vacuous property): admin Deny, AlwaysAllow,
    an Allow reported with no NSG after it, an Allow handed to an NSG that denied, and no admin match."""
    assert {("Deny", "admin"), ("AlwaysAllow", "admin"), ("Allow", "admin"), ("Allow", "nsg-deny"),
            (None, "nsg")} <= set(SEEN), SEEN


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(admin_rules(4), admin_rules(4), rules(4), st.integers(0, 2**32))
def test_diff_of_admin_rules_agrees_with_the_reference(old_admin, new_admin, rs, seed):
    """Every changed region's witness behaves as the diff says; no change reported means no sampled flow changes."""
    from adu_fw.whatif import diff

    doc = {"name": "n1", "properties": {"securityRules": rs}}
    old = Policy.from_nsg(doc, virtual_network=VNETS[1], service_tags=TAGS, asgs=ASGS, admin_rules=old_admin)
    new = Policy.from_nsg(doc, virtual_network=VNETS[1], service_tags=TAGS, asgs=ASGS, admin_rules=new_admin)
    d = diff(old, new)

    def outcome(p, row):
        v = p.check(*row)
        return {"access": v.access, "nsg": v.nsg, "rule": v.log_rule}

    for c in d.changes:
        w = c.witness
        row = (w["direction"], w["protocol"], w["src"], w["src_port"], w["dst"], w["dst_port"])
        assert outcome(old, row) == c.old and outcome(new, row) == c.new, (row, c.old, c.new)
    if not d.changes:
        rng = random.Random(seed)
        rows = _flows(old, seed, 20) + _aimed_admin(old, rng, 20) + _aimed_admin(new, rng, 20)
        for row in rows:
            if ipaddress.ip_address(row[2]).version == ipaddress.ip_address(row[4]).version:
                assert outcome(old, row) == outcome(new, row), row


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(admin_rules(5), rules(4), st.integers(0, 2**32), st.booleans())
def test_exposure_with_admin_rules_agrees_with_the_reference(admin, rs, seed, with_nsg):
    """Exactly the inbound flows from the Internet into the VNet that the reference allows lie in some exposed region."""
    from adu_fw.exposure import exposure

    doc = {"name": "n1", "properties": {"securityRules": rs}}
    kw = dict(virtual_network=VNETS[1], service_tags=TAGS, asgs=ASGS, admin_rules=admin)
    policy = Policy.from_nsg(doc, **kw) if with_nsg else Policy.from_nsgs(**kw)
    report = exposure(policy, "Internet")
    for e in report.exposures:
        w = e.witness
        v = policy.check(w["direction"], w["protocol"], w["src"], w["src_port"], w["dst"], w["dst_port"])
        assert v.access == "Allow", (w, e.rule)
    rng = random.Random(seed)
    internet = [p for p in policy.tag_prefixes("Internet")]
    vnet = [p for p in policy.virtual_network if p != "168.63.129.16/32"]
    rows = [r for r in _aimed_admin(policy, rng, 40) + _flows(policy, seed, 40) if r[0] == "Inbound"]
    for _ in range(40):
        fam = rng.choice([4, 6])
        src_pool = [p for p in internet if (":" in p) == (fam == 6)]
        dst_pool = [p for p in vnet if (":" in p) == (fam == 6)]
        if src_pool and dst_pool:
            proto = rng.choice(FLOW_PROTOS)
            ported = proto in (6, 17)
            rows.append(("Inbound", proto, str(rng.choice(_edges(rng.choice(src_pool)))), rng.randint(0, 65535) if ported else 0,
                         str(rng.choice(_edges(rng.choice(dst_pool)))), rng.choice([22, 80, 443, 3389, 8080]) if ported else 0))
    inet = TagMatcherFor(internet)
    vn = TagMatcherFor(vnet)
    for row in rows:
        d, proto, src, sport, dst, dport = row
        if not (inet(src) and vn(dst)) or ipaddress.ip_address(src).version != ipaddress.ip_address(dst).version:
            continue
        v = policy.check(*row)
        inside = any(e.contains(proto, src, sport, dst, dport) for e in report.exposures)
        assert inside == (v.access == "Allow"), (row, v.access, v.rule)
        EXPOSURE_CHECKS[v.access] += 1


def TagMatcherFor(prefixes):
    nets = [ipaddress.ip_network(p) for p in prefixes]
    return lambda a: any(ipaddress.ip_address(a) in n for n in nets if n.version == ipaddress.ip_address(a).version)


def test_exposure_checks_were_not_vacuous():
    assert EXPOSURE_CHECKS["Allow"] > 20 and EXPOSURE_CHECKS["Deny"] > 20, EXPOSURE_CHECKS

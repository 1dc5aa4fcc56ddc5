"""Differential tests of the stage fold: per-rule action codes and one to three stages per direction.

Random rule lists (IPv4 and IPv6 prefixes, protocols, port ranges, with and without source ports)
become classifiers; every rule gets a random action code (DENY, ALLOW, ALLOW_END, PASS) and every
classifier a random "no rule matched" behaviour; each direction meets 0-3 of them in a random order.
The oracle is a linear first-match scan per stage (``ipaddress``, no tables) and a ten-line fold
written from the definitions; every classify path (lanes in AVX2 and scalar, cross tables, bitsets;
the IPv4 integer loop and the general one; 1 and 2 threads) must give the same rule and decision.
"""
from __future__ import annotations

import ipaddress
import pickle
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adu_fw._match import Matcher
from adu_fw.compile import (ALLOW, ALLOW_END, DENY, PASS, PORTED_TCP_UDP, CompiledPolicy, MatchRule, assemble,
                            build_classifier, fast_tables)
from adu_fw.errors import PolicyError
from adu_fw.evaluate import classify
from adu_fw.flowtable import flow_arrays

from matchkit import Variant, matchers

V4 = ["0.0.0.0/0", "10.0.0.0/8", "10.0.0.0/16", "10.0.0.4/32", "10.0.1.0/24", "8.8.8.0/24", "20.119.27.192/26",
      "128.0.0.0/1", "255.255.255.255/32", "0.0.0.0/32", "172.16.0.0/12"]
V6 = ["::/0", "2001:db8::/32", "2001:db8::4/128", "2001:db8:1::/64", "2603:1030:210:11::200/122", "fc00::/7",
      "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", "2000::/3",
      # neighbouring /64s that each hold a boundary, a /64 between them without, and /96 at ::
      "2001:db8:0:1::80/121", "2001:db8:0:2::/126", "2001:db8:0:3::/64", "2001:db8:0:4::1/128", "::ffff:0:0/96"]
PORT_RANGES = [(0, 65535), (0, 0), (65535, 65535), (443, 443), (80, 80), (1, 1024), (1024, 65535), (22, 22),
               (8000, 8080)]
PROTOCOLS = [None, frozenset({6}), frozenset({17}), frozenset({1}), frozenset({6, 17}), frozenset({50})]
FLOW_PROTOCOLS = [6, 17, 1, 50, 0, 58]
NOMATCH = [DENY, ALLOW_END, PASS]


@st.composite
def match_rules(draw, sports):
    out = []
    for _ in range(draw(st.integers(0, 6))):
        sides = []
        for _side in range(2):
            kind = draw(st.sampled_from(["any", "v4", "v6", "mixed"]))
            if kind == "any":
                sides.append(None)
            else:
                pool = {"v4": V4, "v6": V6, "mixed": V4 + V6}[kind]
                sides.append(tuple(draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3, unique=True))))
        sp = tuple(draw(st.lists(st.sampled_from(PORT_RANGES), min_size=1, max_size=2, unique=True))) if sports else ((0, 65535),)
        dp = tuple(draw(st.lists(st.sampled_from(PORT_RANGES), min_size=1, max_size=2, unique=True)))
        out.append(MatchRule(draw(st.sampled_from(PROTOCOLS)), sides[0], sp, sides[1], dp, False))
    return out


@st.composite
def staged_policies(draw):
    """(rule lists, per-rule action codes, per-list nomatch codes, stages per direction)."""
    sports = draw(st.booleans())
    lists = draw(st.lists(match_rules(sports), min_size=1, max_size=4))
    actions = [draw(st.lists(st.sampled_from([DENY, ALLOW, ALLOW_END, PASS]), min_size=len(r), max_size=len(r)))
               for r in lists]
    nomatch = draw(st.lists(st.sampled_from(NOMATCH), min_size=len(lists), max_size=len(lists)))
    idx = st.integers(0, len(lists) - 1)
    stages = [draw(st.lists(idx, min_size=0, max_size=3)) if draw(st.integers(0, 9)) == 0
              else draw(st.lists(idx, min_size=1, max_size=3)) for _ in range(2)]
    return lists, actions, nomatch, stages


def first_match(rules, proto, src, sport, dst, dport):
    """The oracle's stage: index of the first rule whose five fields match, -1 for none."""
    for i, r in enumerate(rules):
        if r.protocols is not None and proto not in r.protocols:
            continue
        if proto in (6, 17) and not (any(a <= sport <= b for a, b in r.src_ports)
                                     and any(a <= dport <= b for a, b in r.dst_ports)):
            continue
        if r.src is not None and not any(src in ipaddress.ip_network(p) for p in r.src):
            continue
        if r.dst is not None and not any(dst in ipaddress.ip_network(p) for p in r.dst):
            continue
        return i
    return -1


def fold(answers):
    """The oracle's direction: (global rule or -1, allowed) from each stage's (rule, action, nomatch)."""
    reported = -1
    for rule, action, nomatch in answers:
        if rule < 0:
            if nomatch == DENY:
                return -1, False
            if nomatch == ALLOW_END:
                return -1, True
            continue  # the stage passes
        if action == DENY:
            return rule, False
        if action == ALLOW_END:
            return rule, True
        if action == ALLOW:
            reported = rule
    return reported, True


def _flows(lists, seed, n):
    rng = random.Random(seed)
    v4, v6 = set(), set()
    for p in V4 + V6:
        net = ipaddress.ip_network(p)
        top = 2 ** net.max_prefixlen - 1
        for v in (int(net.network_address) - 1, int(net.network_address), int(net.broadcast_address),
                  int(net.broadcast_address) + 1):
            if 0 <= v <= top:
                (v4 if net.version == 4 else v6).add(ipaddress.ip_address(v) if net.version == 4 else ipaddress.IPv6Address(v))
    v4 |= {ipaddress.IPv4Address(rng.getrandbits(32)) for _ in range(4)}
    v6 |= {ipaddress.IPv6Address(rng.getrandbits(128)) for _ in range(4)}
    v4, v6 = sorted(v4), sorted(v6)
    ports = sorted({p for r in PORT_RANGES for q in r for p in (q - 1, q, q + 1) if 0 <= p <= 65535})
    rows = []
    for _ in range(n):
        pool = v4 if rng.random() < 0.6 else v6
        proto = rng.choice(FLOW_PROTOCOLS)
        ported = proto in (6, 17)
        rows.append((rng.randrange(2), proto, rng.choice(pool), rng.choice(ports) if ported else 0,
                     rng.choice(pool), rng.choice(ports) if ported else 0))
    return rows


def build(lists, actions, nomatch, stages):
    classifiers = [build_classifier(r, PORTED_TCP_UDP) for r in lists]
    n = sum(len(r) for r in lists)
    labels = {"rule": [f"r{i}" for i in range(n)], "nsg": ["x"] * n, "log_rule": [f"r{i}" for i in range(n)]}
    flat = [a for acts in actions for a in acts]
    return CompiledPolicy(assemble(classifiers, stages, rule_action=np.array(flat, np.uint8), nomatch=nomatch), labels)


def expected(lists, actions, nomatch, stages, rows):
    base = np.cumsum([0] + [len(r) for r in lists]).tolist()
    out = []
    for d, proto, src, sport, dst, dport in rows:
        answers = []
        for k in stages[d]:
            g = first_match(lists[k], proto, src, sport, dst, dport)
            answers.append((base[k] + g if g >= 0 else -1, actions[k][g] if g >= 0 else None, nomatch[k]))
        out.append(fold(answers))
    return [r for r, _ in out], [int(a) for _, a in out]


def _columns(rows):
    return {"direction": np.array([r[0] for r in rows], np.uint8), "protocol": np.array([r[1] for r in rows], np.uint8),
            "src_ip": [str(r[2]) for r in rows], "src_port": np.array([r[3] for r in rows], np.uint16),
            "dst_ip": [str(r[4]) for r in rows], "dst_port": np.array([r[5] for r in rows], np.uint16)}


def check_all_paths(compiled, rows, rule, allow, reps=1):
    """Every matcher over the rows (tiled ``reps`` times so that two threads get several chunks):
    all rows (mixed families), the IPv4 rows as integer columns, the IPv6 rows alone. Returns the
    IPv4 and the IPv6 paths seen."""
    rows = rows * reps
    rule, allow = rule * reps, allow * reps
    fa = flow_arrays(_columns(rows))
    v4 = [i for i, r in enumerate(rows) if r[2].version == 4 and r[4].version == 4]
    v6 = [i for i, r in enumerate(rows) if r[2].version == 6 and r[4].version == 6]
    cols4 = {k: (v[v4] if isinstance(v, np.ndarray) else np.array([int(ipaddress.IPv4Address(x)) for x in np.asarray(v)[v4]], np.uint32))
             for k, v in _columns(rows).items()}
    fa4 = flow_arrays(cols4)
    fa6 = flow_arrays(_columns([rows[i] for i in v6]))
    paths4, paths6 = set(), set()
    for m in matchers(compiled.arrays):
        paths4.add(m.v4_path)
        paths6.add(m.v6_path)
        for threads in (1, 2):
            r, a = classify(Variant(compiled, m), fa, threads)
            assert r.tolist() == rule and a.tolist() == allow, (m.v4_path, m.v6_path, threads)
            for sub, fas in ((v4, fa4), (v6, fa6)):
                if sub:
                    r, a = classify(Variant(compiled, m), fas, threads)
                    assert r.tolist() == [rule[i] for i in sub] and a.tolist() == [allow[i] for i in sub], (
                        m.v4_path, m.v6_path, threads)
    return paths4, paths6


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(staged_policies(), st.integers(0, 2**32))
def test_every_path_folds_stages_as_the_oracle(policy, seed):
    lists, actions, nomatch, stages = policy
    compiled = build(*policy)
    rows = _flows(lists, seed, 50)
    rule, allow = expected(lists, actions, nomatch, stages, rows)
    paths4, paths6 = check_all_paths(compiled, rows, rule, allow, reps=3)  # AVX2 takes 32 flows a step
    if any(stages):  # the lane paths ran (and their AVX2 twins where the CPU has AVX2)
        assert "lanes" in paths4 and "lanes" in paths6, (paths4, paths6)


def test_three_stages_with_two_threads_over_many_chunks():
    """An admin-like stage (PASS, ALLOW_END, DENY; passes when nothing matches) before a subnet and
    a NIC list: 3 stages in both directions, enough flows for several parallel chunks."""
    admin = [MatchRule(frozenset({6}), None, ((0, 65535),), ("8.8.8.0/24", "2001:db8::/32"), ((443, 443),), False),
             MatchRule(None, ("10.0.0.4/32", "2001:db8::4/128"), ((0, 65535),), None, ((0, 65535),), False),
             MatchRule(frozenset({17}), None, ((0, 65535),), None, ((22, 22),), False)]
    subnet = [MatchRule(None, ("10.0.0.0/8", "2001:db8::/32"), ((0, 65535),), None, ((1, 1024),), False),
              MatchRule(None, None, ((0, 65535),), None, ((0, 65535),), False)]
    nic = [MatchRule(frozenset({6}), None, ((0, 65535),), ("8.8.8.0/24",), ((80, 80),), False),
           MatchRule(frozenset({17}), None, ((0, 65535),), None, ((0, 65535),), False),
           MatchRule(None, ("0.0.0.0/0", "::/0"), ((0, 65535),), None, ((0, 65535),), False)]
    lists = [admin, subnet, nic]
    actions = [[PASS, ALLOW_END, DENY], [ALLOW, DENY], [DENY, PASS, ALLOW]]
    nomatch = [PASS, DENY, DENY]
    stages = [[0, 1, 2], [0, 2, 1]]
    compiled = build(lists, actions, nomatch, stages)
    rows = _flows(lists, 7, 400)
    rule, allow = expected(lists, actions, nomatch, stages, rows)
    assert len({(r, a) for r, a in zip(rule, allow)}) >= 5  # the flows reach several outcomes
    paths4, paths6 = check_all_paths(compiled, rows, rule, allow, reps=25)  # 10,000 flows
    assert "lanes" in paths4 and "lanes" in paths6


def test_nsg_style_arrays_keep_their_meaning():
    """``rule_deny`` flags are DENY/ALLOW codes; pickles from before action codes still load."""
    rules = [MatchRule(frozenset({6}), None, ((0, 65535),), ("8.8.8.0/24",), ((443, 443),), True),
             MatchRule(None, None, ((0, 65535),), None, ((0, 65535),), False)]
    clf = build_classifier(rules, PORTED_TCP_UDP)
    a = assemble([clf, clf], [[0, 1], [1]], np.array([1, 0, 1, 0], np.uint8))
    assert a["rule_action"].tolist() == [DENY, ALLOW, DENY, ALLOW] and a["nomatch"].tolist() == [0, 0]
    labels = {"rule": ["d", "a", "d2", "a2"]}
    old = CompiledPolicy(dict(a), labels)
    state = old.__getstate__()
    state["arrays"]["rule_deny"] = np.array([1, 0, 1, 0], np.uint8)
    del state["arrays"]["rule_action"], state["arrays"]["nomatch"]
    state["v"] = 1
    back = pickle.loads(pickle.dumps(old))
    legacy = CompiledPolicy.__new__(CompiledPolicy)
    legacy.__setstate__(state)
    assert legacy.arrays["rule_action"].tolist() == back.arrays["rule_action"].tolist()
    raw = {k: v for k, v in a.items() if k not in ("rule_action", "nomatch")}
    raw["rule_deny"] = np.array([1, 0, 1, 0], np.uint8)  # a Matcher over legacy arrays: same answers
    rows = [(0, 6, ipaddress.ip_address("10.0.0.1"), 5, ipaddress.ip_address("8.8.8.8"), 443),
            (1, 6, ipaddress.ip_address("10.0.0.1"), 5, ipaddress.ip_address("8.8.8.8"), 80)]
    fa = flow_arrays(_columns(rows))
    for arrays in (a, raw):
        r, al = classify(Variant(CompiledPolicy(arrays, labels), Matcher(dict(arrays, **fast_tables(arrays)))), fa, 1)
        assert r.tolist() == [0, 3] and al.tolist() == [0, 1]


def test_bad_codes_are_refused():
    clf = build_classifier([MatchRule(None, None, ((0, 65535),), None, ((0, 65535),), False)], PORTED_TCP_UDP)
    with pytest.raises(PolicyError, match="action codes"):
        assemble([clf], [[0], [0]], rule_action=[4])
    with pytest.raises(PolicyError, match="nomatch"):
        assemble([clf], [[0], [0]], rule_action=[0], nomatch=[1])
    with pytest.raises(PolicyError, match="exactly one"):
        assemble([clf], [[0], [0]])
    with pytest.raises(PolicyError, match="classifier"):
        assemble([clf], [[0], [1]], rule_action=[0])
    a = assemble([clf], [[0], [0]], rule_action=[0])
    with pytest.raises(ValueError, match="0-3"):
        Matcher(dict(a, rule_action=np.array([7], np.uint8)))
    with pytest.raises(ValueError, match="inconsistent"):
        Matcher(dict(a, stages=np.array([0, 5], np.int32)))

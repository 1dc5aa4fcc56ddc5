"""The reference evaluator: a linear scan over the rules with ``ipaddress``, deliberately simple.

It reads a policy only through ``policy.levels(direction)`` (the NSGs in Azure's order),
``policy.side_prefixes(nsg, rule, side)`` (the prefix strings a rule side stands for, ``None``
for ``*``) and, for AVNM security admin rules, ``policy.admin_stage(direction)`` and
``policy.admin_side_prefixes(rule, side)``, and shares nothing with the compiled matcher. ``Policy.check`` answers with it, and
the compiled path is tested against it.
"""
from __future__ import annotations

import bisect
import ipaddress
from typing import Any

from .rules import PLATFORM_TAGS, PORTED, Rule
from .verdict import AdminTrail, Flow, NsgTrail, RuleTrail, Verdict

__all__ = ["evaluate", "evaluate_nsg", "evaluate_admin", "rule_fields"]

_ranges_cache: dict[int, tuple[Any, dict[int, tuple[list[int], list[int]]]]] = {}


def _ranges(prefixes: tuple[str, ...]) -> dict[int, tuple[list[int], list[int]]]:
    """Per IP version, the networks as sorted first addresses and the furthest last address so far.

    Tags hold thousands of prefixes. An address is in the union exactly when the last network
    starting at or below it reaches it; the running maximum of last addresses makes nested or
    overlapping networks need no merging.
    """
    hit = _ranges_cache.get(id(prefixes))
    if hit is None or hit[0] is not prefixes:
        if len(_ranges_cache) > 1024:  # bounded: a long-lived process sees many policies
            _ranges_cache.clear()
        by_version: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
        for p in prefixes:
            net = ipaddress.ip_network(p, strict=False)
            by_version[net.version].append((int(net.network_address), int(net.broadcast_address)))
        table = {}
        for version, spans in by_version.items():
            spans.sort()
            reach, top = [], -1
            for _, last in spans:
                top = max(top, last)
                reach.append(top)
            table[version] = ([first for first, _ in spans], reach)
        hit = (prefixes, table)
        _ranges_cache[id(prefixes)] = hit
    return hit[1]


def _address_matches(prefixes: tuple[str, ...] | None, addr: Any) -> bool:
    if prefixes is None:
        return True
    firsts, reach = _ranges(prefixes)[addr.version]
    i = bisect.bisect_right(firsts, int(addr)) - 1
    return i >= 0 and reach[i] >= int(addr)


def _port_matches(ranges: tuple[tuple[int, int], ...], protocol: int, port: int) -> bool:
    if protocol not in PORTED:
        return True  # product decision 5: no ports, every port criterion passes
    return any(lo <= port <= hi for lo, hi in ranges)


def rule_fields(policy: Any, nsg: Any, rule: Rule, flow: Flow) -> RuleTrail:
    """The five field matches of one rule for one flow."""
    return RuleTrail(
        rule=rule.name,
        priority=rule.priority,
        access=rule.access,
        protocol=rule.protocol_number is None or rule.protocol_number == flow.protocol,
        source=_address_matches(policy.side_prefixes(nsg, rule, "source"), flow.src),
        source_port=_port_matches(rule.source_ports, flow.protocol, flow.src_port),
        destination=_address_matches(policy.side_prefixes(nsg, rule, "destination"), flow.dst),
        destination_port=_port_matches(rule.destination_ports, flow.protocol, flow.dst_port),
    )


def evaluate_admin(policy: Any, flow: Flow) -> AdminTrail | None:
    """The security admin stage: first match by (configuration, priority); None when the policy has no admin rules."""
    if getattr(policy, "admin_rules", None) is None:
        return None
    examined = []
    for rule in policy.admin_stage(flow.direction):
        t = RuleTrail(
            rule=rule.name,
            priority=rule.priority,
            access=rule.access,
            protocol=rule.protocol_number is None or rule.protocol_number == flow.protocol,
            source=_address_matches(policy.admin_side_prefixes(rule, "source"), flow.src),
            source_port=_port_matches(rule.source_ports, flow.protocol, flow.src_port),
            destination=_address_matches(policy.admin_side_prefixes(rule, "destination"), flow.dst),
            destination_port=_port_matches(rule.destination_ports, flow.protocol, flow.dst_port),
            collection=rule.label,
        )
        examined.append(t)
        if t.matched:
            return AdminTrail(rule.label, rule.access, rule.name, rule.priority, rule.log_name, tuple(examined))
    return AdminTrail("security admin rules", None, None, None, None, tuple(examined))


def evaluate_nsg(policy: Any, nsg: Any, flow: Flow, level: str = "nsg") -> NsgTrail:
    """First match by ascending priority within one NSG (defaults last; DenyAll always matches)."""
    examined = []
    for rule in nsg.evaluation_order(flow.direction):
        t = rule_fields(policy, nsg, rule, flow)
        examined.append(t)
        if t.matched:
            return NsgTrail(nsg.name, level, rule.access, rule.name, rule.priority, rule.log_name, tuple(examined))
    raise AssertionError("the default DenyAll rule matches every flow")  # pragma: no cover


def _platform_only(policy: Any, nsg: Any, flow: Flow, level: str) -> NsgTrail | None:
    """Platform bypass: only rules naming an AzurePlatform* tag apply; None when none matches."""
    examined = []
    for rule in nsg.evaluation_order(flow.direction):
        if rule.default or not ({rule.source.tag, rule.destination.tag} & PLATFORM_TAGS):
            continue
        t = rule_fields(policy, nsg, rule, flow)
        examined.append(t)
        if t.matched:
            return NsgTrail(nsg.name, level, rule.access, rule.name, rule.priority, rule.log_name, tuple(examined))
    return None


def evaluate(policy: Any, flow: Flow) -> Verdict:
    """The admin stage, then every NSG of the direction in order: a deny ends it, an allow needs every present NSG.

    Admin rules: Deny and AlwaysAllow end the evaluation (the NSGs are not consulted); Allow hands the
    flow to the NSGs as if no admin rule had matched (it stays in the trail, and is reported when no
    NSG is present); no match goes to the NSGs.
    """
    trail: list[NsgTrail | AdminTrail] = []
    admin = evaluate_admin(policy, flow)
    if admin is not None:
        trail.append(admin)
        if admin.decided:
            access = "Deny" if admin.access == "Deny" else "Allow"
            return Verdict(access, admin.rule, admin.priority, admin.nsg, flow.direction, admin.log_rule, tuple(trail), layer="admin")
    last_allow: NsgTrail | None = None
    bypass = getattr(policy, "is_platform_flow", lambda f: False)(flow)
    for level, nsg in policy.levels(flow.direction):
        if bypass:
            t = _platform_only(policy, nsg, flow, level)
            if t is None:
                continue  # this NSG does not filter platform traffic
        else:
            t = evaluate_nsg(policy, nsg, flow, level)
        trail.append(t)
        if t.access == "Deny":
            return Verdict("Deny", t.rule, t.priority, t.nsg, flow.direction, t.log_rule, tuple(trail), layer="nsg")
        last_allow = t
    if last_allow is None:  # no NSG at any level (or platform traffic no AzurePlatform* rule filters): allowed
        if admin is not None and admin.access == "Allow":  # product decision: the admin Allow is the only rule matched
            return Verdict("Allow", admin.rule, admin.priority, admin.nsg, flow.direction, admin.log_rule, tuple(trail), layer="admin")
        return Verdict("Allow", "PlatformBypass" if bypass else None, None, None, flow.direction, None, tuple(trail))
    return Verdict(
        "Allow", last_allow.rule, last_allow.priority, last_allow.nsg, flow.direction, last_allow.log_rule, tuple(trail),
        layer="nsg",
    )

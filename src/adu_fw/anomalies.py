"""Rule anomalies, exact over the whole address/port/protocol space (``adu-fw lint --deep``).

Per NSG and direction, over the rules in evaluation order (defaults included, service tags
expanded from the chosen file):
- shadowed: no flow can reach the rule (earlier rules cover all of it); the covering rules are named;
- redundant: removing the rule changes no decision (every flow it decides would get the same
  access from the next matching rule);
- generalization / correlation: an earlier rule of the opposite action overlaps this one (the
  later rule contains the earlier one, or they only intersect), so the rule is partially shadowed.
Each finding carries a witness flow, which ``Policy.check`` on that NSG confirms.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .policy import Policy
from .rules import Rule
from .space import Box, Space

__all__ = ["Finding", "anomalies"]

MAX_BOXES_PER_RULE = 200_000


@dataclass
class Finding:
    kind: str  # shadowed | redundant | generalization | correlation
    nsg: str
    direction: str
    rule: str
    priority: int
    access: str
    related: list[dict[str, Any]]
    witness: dict[str, Any] | None
    explanation: str
    overlap: dict[str, Any] | None = None
    default: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "nsg": self.nsg,
            "direction": self.direction,
            "rule": self.rule,
            "priority": self.priority,
            "access": self.access,
            "default": self.default,
            "related": self.related,
            "witness": self.witness,
            "explanation": self.explanation,
            "overlap": self.overlap,
        }


def _lowest(x: int) -> int:
    return (x & -x).bit_length() - 1


def _ref(r: Rule) -> dict[str, Any]:
    return {"rule": r.name, "priority": r.priority, "access": r.access, "default": r.default}


def _witness(direction: str, box: Box) -> dict[str, Any]:
    w = box.witness()
    return {"direction": direction, **w}


def _flow_text(w: dict[str, Any]) -> str:
    names = {6: "tcp", 17: "udp", 1: "icmp", 50: "esp", 51: "ah"}
    return (f"{w['direction']} {names.get(w['protocol'], w['protocol'])} {_endpoint(w['src'], w['src_port'])} -> "
            f"{_endpoint(w['dst'], w['dst_port'])}")


def _endpoint(addr: Any, port: Any) -> str:
    """``addr:port``; an IPv6 address in brackets (``[2001:db8::1]:443``, RFC 3986) so the port reads apart."""
    text = str(addr)
    return f"[{text}]:{port}" if ":" in text else f"{text}:{port}"


def _overlaps(space: Space, a: int, b: int) -> bool:
    both = (1 << a) | (1 << b)
    if not any(bits & both == both for _, bits in space.protocols):
        return False
    ported_both = any(bits & both == both for (_, ported), bits in space.protocols if ported)
    unported_both = any(bits & both == both for (_, ported), bits in space.protocols if not ported)
    ports_ok = unported_both or (
        any(bits & both == both for _, bits in space.src_ports) and any(bits & both == both for _, bits in space.dst_ports)
    )
    if not (ported_both or unported_both) or not ports_ok:
        return False
    return any(
        any(bits & both == both for _, bits in space.src[f]) and any(bits & both == both for _, bits in space.dst[f])
        for f in (4, 6)
    )


def _contains(space: Space, outer: int, inner: int) -> bool:
    """Every value of every field that ``inner`` matches, ``outer`` matches too."""
    o, i = 1 << outer, 1 << inner
    fields = [space.protocols, space.src_ports, space.dst_ports] + [space.src[f] for f in (4, 6)] + [space.dst[f] for f in (4, 6)]
    return all(not (bits & i) or (bits & o) for items in fields for _, bits in items)


def _intersection(space: Space, a: int, b: int) -> dict[str, Any]:
    """Two rules are products of per-field sets, so their overlap is the product of the intersections."""
    from .space import _merge, _protocols_text, _ports_text, summarize_intervals

    both = (1 << a) | (1 << b)

    def spans(items: list[tuple[Any, int]]) -> tuple[tuple[int, int], ...]:
        return _merge([r for payload, bits in items if bits & both == both for r in payload])

    protos = sorted(p for (ps, _), bits in space.protocols if bits & both == both for p in ps)
    out: dict[str, Any] = {
        "protocols": _protocols_text(protos),
        "src_ports": _ports_text(spans(space.src_ports)),
        "dst_ports": _ports_text(spans(space.dst_ports)),
    }
    for f in (4, 6):
        src, dst = spans(space.src[f]), spans(space.dst[f])
        if src and dst:
            out[f"IPv{f}"] = {"src": summarize_intervals(f, src), "dst": summarize_intervals(f, dst),
                              "src_addresses": sum(y - x + 1 for x, y in src), "dst_addresses": sum(y - x + 1 for x, y in dst)}
    return out


def anomalies(policy: Policy) -> list[Finding]:
    """Every anomaly of every NSG of the policy, per direction."""
    out: list[Finding] = []
    seen: set[int] = set()
    for nsg in policy.nsgs:
        if id(nsg) in seen:
            continue
        seen.add(id(nsg))
        for direction in ("Inbound", "Outbound"):
            rules = nsg.evaluation_order(direction)
            space = Space(policy.match_rules(nsg, rules))
            out += _direction(space, rules, nsg.name, direction)
    return out


def _direction(space: Space, rules: list[Rule], nsg: str, direction: str) -> list[Finding]:
    findings: list[Finding] = []
    shadowed: set[int] = set()
    for r, rule in enumerate(rules):
        rbit, lower = 1 << r, (1 << r) - 1
        reach: Box | None = None
        differ: Box | None = None
        covering: dict[int, Box] = {}
        count = 0
        for box in space.boxes(space.full, keep=lambda ns: bool(ns & rbit)):
            count += 1
            low = box.state & lower
            if low:
                first = _lowest(low)
                covering.setdefault(first, box)
                continue
            reach = reach or box
            above = box.state >> (r + 1)
            nxt = r + 1 + _lowest(above) if above else None
            if nxt is None or rules[nxt].access != rule.access:
                differ = differ or box
            if (reach and differ) or count > MAX_BOXES_PER_RULE:
                break
        if reach is None and count <= MAX_BOXES_PER_RULE:
            shadowed.add(r)
            first_cov, box = next(iter(covering.items()))
            names = ", ".join(f"{rules[i].name} ({rules[i].priority})" for i in sorted(covering))
            w = _witness(direction, box)
            findings.append(Finding(
                "shadowed", nsg, direction, rule.name, rule.priority, rule.access,
                [_ref(rules[i]) for i in sorted(covering)], w,
                f"no flow can reach {rule.name} ({rule.priority}): every flow it matches is decided earlier, by {names}; "
                f"for example {_flow_text(w)} is decided by {rules[first_cov].name}",
                default=rule.default,
            ))
            continue
        if not rule.default and reach is not None and differ is None and count <= MAX_BOXES_PER_RULE:
            above = reach.state >> (r + 1)
            nxt = r + 1 + _lowest(above)
            w = _witness(direction, reach)
            findings.append(Finding(
                "redundant", nsg, direction, rule.name, rule.priority, rule.access, [_ref(rules[nxt])], w,
                f"removing {rule.name} ({rule.priority}) changes no decision: every flow it decides gets {rule.access} "
                f"from a later rule anyway; for example {_flow_text(w)} would be decided by {rules[nxt].name} "
                f"({rules[nxt].priority})",
            ))
    for r, rule in enumerate(rules):
        if r in shadowed or rule.default:
            continue
        for i in range(r):
            if rules[i].access == rule.access or i in shadowed or not _overlaps(space, i, r):
                continue
            kind = "generalization" if _contains(space, r, i) else "correlation"
            both = (1 << i) | (1 << r)
            box = next(iter(space.boxes(space.full, keep=lambda ns: ns & both == both)), None)
            if box is None:
                continue
            decider = _lowest(box.state)
            w = _witness(direction, box)
            what = ("contains all of" if kind == "generalization" else "overlaps")
            findings.append(Finding(
                kind, nsg, direction, rule.name, rule.priority, rule.access, [_ref(rules[i])], w,
                f"{rule.name} ({rule.priority}, {rule.access}) {what} earlier {rules[i].name} ({rules[i].priority}, "
                f"{rules[i].access}): it is partially shadowed, and flows in the overlap get {rules[decider].access}; "
                f"for example {_flow_text(w)} is decided by {rules[decider].name}",
                overlap=_intersection(space, i, r),
            ))
    return findings

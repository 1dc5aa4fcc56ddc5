"""What a source (the Internet by default) can reach inbound, exactly, over the whole flow space.

The inbound rules of every NSG a flow meets (one NSG, or the subnet NSG then the NIC NSG) go into
one rule list with two markers, "source is in SOURCE" and "destination is in TO", and the flow
space of that list is cut into boxes (``space.Space``) on which every rule either matches or not.
A box inside both markers is exposed when every NSG level allows it (a deny at any level ends the
flow, as in ``reference.evaluate``); exposed boxes are grouped by the rules that allow them and
merged into regions (protocol x source ports x destination ports x sources x destinations), each
with a witness flow inside it. AVNM security admin rules come first (``whatif._admin_section``): an
admin Deny removes a box, an AlwaysAllow exposes it whatever the NSGs say, an Allow hands it to the
NSGs (docs/semantics.md). Nothing is pattern-matched: a deny at a higher priority, port
ranges and lists, ``*``, the Internet tag versus 0.0.0.0/0 and a subnet+NIC pair all count exactly.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

from .compile import MatchRule
from .errors import AddressError, PolicyError
from .ip import parse_prefix
from .policy import HOST_VIP, Policy
from .rules import CONTEXT_TAGS, merge_ranges
from .space import Box, Space, _protocols_text
from .whatif import _admin_section, _merge_boxes, _sections

__all__ = ["HIGH_PORTS", "Exposure", "ExposureReport", "exposure", "source_prefixes"]

#: remote administration and database ports: reachable from the source means severity high
HIGH_PORTS = (22, 23, 135, 139, 445, 1433, 1521, 2375, 2376, 3306, 3389, 5432, 5985, 5986, 6379, 9200, 27017)
_ALL_PORTS = ((0, 65535),)
_PROTO_NAMES = {6: "TCP", 17: "UDP", 1: "ICMP", 50: "ESP", 51: "AH"}


def _cidrs(family: int, spans: Sequence[tuple[int, int]]) -> list[str]:
    """Every CIDR prefix of the spans, complete (machine output is never abbreviated)."""
    cls = ipaddress.IPv4Address if family == 4 else ipaddress.IPv6Address
    return [str(n) for a, b in spans for n in ipaddress.summarize_address_range(cls(a), cls(b))]


def _ports_list(ranges: Sequence[tuple[int, int]]) -> list[str]:
    return [str(a) if a == b else f"{a}-{b}" for a, b in ranges]


def _in_spans(value: int, spans: Sequence[tuple[int, int]]) -> bool:
    return any(a <= value <= b for a, b in spans)


@dataclass
class Exposure:
    """One exposed region, allowed by the same rule at every NSG level."""

    nsg: str
    rule: str
    priority: int
    family: int
    protocols: tuple[int, ...]
    ported: bool
    ports: tuple[tuple[int, int], ...]
    source_ports: tuple[tuple[int, int], ...]
    sources: tuple[tuple[int, int], ...]
    destinations: tuple[tuple[int, int], ...]
    allowed_by: list[dict[str, Any]]
    direction: str = "Inbound"
    severity: str = "medium"
    high_ports: list[int] = field(default_factory=list)
    witness: dict[str, Any] = field(default_factory=dict)

    @property
    def protocol(self) -> str:
        if len(self.protocols) == 1:
            return _PROTO_NAMES.get(self.protocols[0], str(self.protocols[0]))
        if len(self.protocols) == 254 and not self.ported:
            return "any but TCP/UDP"
        return _protocols_text(self.protocols)

    def contains(self, protocol: int, src: str, src_port: int, dst: str, dst_port: int) -> bool:
        """Whether the flow lies in this region."""
        s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
        if s.version != self.family or d.version != self.family or protocol not in self.protocols:
            return False
        if self.ported and not (_in_spans(dst_port, self.ports) and _in_spans(src_port, self.source_ports)):
            return False
        return _in_spans(int(s), self.sources) and _in_spans(int(d), self.destinations)

    def addresses(self) -> tuple[int, int]:
        return sum(b - a + 1 for a, b in self.sources), sum(b - a + 1 for a, b in self.destinations)

    def to_dict(self) -> dict[str, Any]:
        n_src, n_dst = self.addresses()
        return {
            "nsg": self.nsg,
            "direction": self.direction,
            "protocol": self.protocol,
            "protocols": list(self.protocols),
            "ports": _ports_list(self.ports) if self.ported else None,
            "source_ports": _ports_list(self.source_ports) if self.ported else None,
            "sources": _cidrs(self.family, self.sources),
            "destinations": _cidrs(self.family, self.destinations),
            "family": f"IPv{self.family}",
            "source_addresses": n_src,
            "destination_addresses": n_dst,
            "rule": self.rule,
            "priority": self.priority,
            "allowed_by": self.allowed_by,
            "severity": self.severity,
            "high_ports": self.high_ports,
            "witness": self.witness,
        }


@dataclass
class ExposureReport:
    source: str
    source_prefixes: tuple[str, ...] | None  # None: every address
    destinations: tuple[str, ...]
    exposures: list[Exposure]
    nsgs: list[dict[str, str]]
    notes: list[str] = field(default_factory=list)

    @property
    def high(self) -> list[Exposure]:
        return [e for e in self.exposures if e.severity == "high"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "exposures": [e.to_dict() for e in self.exposures],
            "summary": {
                "source": self.source,
                "source_prefixes": list(self.source_prefixes) if self.source_prefixes is not None else ["*"],
                "destinations": list(self.destinations),
                "nsgs": self.nsgs,
                "exposures": len(self.exposures),
                "high": len(self.high),
                "medium": len(self.exposures) - len(self.high),
                "rules": sorted({f"{e.nsg}/{e.rule}" for e in self.exposures}),
                "notes": self.notes,
            },
        }


def _prefixes(parts: Sequence[str], fld: str) -> tuple[str, ...]:
    """Address prefixes as given (host bits set: the network, as in rules)."""
    out = []
    for p in parts:
        try:
            parse_prefix(p)
        except AddressError as exc:
            if "host bits" not in str(exc):
                raise PolicyError(str(exc), field=fld, value=p) from None
            p = str(ipaddress.ip_network(p, strict=False))
        out.append(p)
    return tuple(out)


def _split(items: Sequence[str] | str) -> list[str]:
    return [p.strip() for item in ([items] if isinstance(items, str) else items) for p in str(item).split(",") if p.strip()]


def source_prefixes(policy: Policy, text: str) -> tuple[str, ...] | None:
    """``*`` (every address: None), address prefixes (comma-separated), or a tag in the policy's context."""
    t = text.strip()
    if t in ("*", "any", "Any"):
        return None
    parts = _split(t)
    if not parts:
        raise PolicyError("expected a service tag, a CIDR (or a comma-separated list) or *", field="--from", value=text)
    if all(any(c.isdigit() for c in p) and ("." in p or ":" in p) for p in parts):
        return _prefixes(parts, "--from")
    if len(parts) > 1:
        raise PolicyError("one service tag, or a list of CIDRs", field="--from", value=text)
    return policy.tag_prefixes(CONTEXT_TAGS.get(t.lower(), t))


def _to_prefixes(policy: Policy, to: Sequence[str] | str | None) -> tuple[str, ...]:
    if to is None or (not isinstance(to, str) and not list(to)):
        return tuple(p for p in policy.virtual_network if p != HOST_VIP)
    out = _prefixes(_split(to), "--to")
    if not out:
        raise PolicyError("no destination prefix", field="--to", value=to)
    return out


def _lowest(x: int) -> int:
    return (x & -x).bit_length() - 1


def exposure(policy: Policy, source: str = "Internet", to: Sequence[str] | str | None = None) -> ExposureReport:
    """The exact inbound regions from ``source`` to ``to`` (default: the VNet space) that every NSG allows."""
    src = source_prefixes(policy, source)
    dst = _to_prefixes(policy, to)
    notes: list[str] = []
    if policy.platform_bypass and (src is None or any(
            ipaddress.ip_address(HOST_VIP.split("/")[0]) in ipaddress.ip_network(p, strict=False) for p in src)):
        notes.append("--platform-bypass: traffic from 168.63.129.16 skips the NSGs; it is not part of these regions")
        src = _without(src, HOST_VIP)
    rules: list[MatchRule] = []
    meta: list[Any] = []
    admin = _admin_section(policy, "Inbound", 0, rules, meta)  # AVNM security admin rules come first
    sections = _sections(policy, "Inbound", 0, rules, meta)
    levels = policy.levels("Inbound")
    i_src, i_dst = len(rules), len(rules) + 1
    rules.append(MatchRule(None, src, _ALL_PORTS, None, _ALL_PORTS, False))
    rules.append(MatchRule(None, None, _ALL_PORTS, dst, _ALL_PORTS, False))
    need = (1 << i_src) | (1 << i_dst)
    space = Space(rules)
    groups: dict[tuple[Any, ...], list[Box]] = {}
    for box in space.boxes(space.full, keep=lambda ns: ns & need == need):
        decided = _admin_decides(box.state, admin, meta, bool(sections))
        if decided is not None:
            if decided >= 0:  # AlwaysAllow (or an Allow with no NSG after it): exposed by the admin rule
                groups.setdefault(("admin", decided), []).append(box)
            continue  # denied by an admin rule
        allowing = []
        for start, n in sections:
            g = start + _lowest((box.state >> start) & ((1 << n) - 1))
            rule = meta[g][1]
            if rule.access == "Deny":
                break
            allowing.append(g)
        else:
            groups.setdefault(tuple(allowing), []).append(box)
    out: list[Exposure] = []
    for key, boxes in groups.items():
        if key[:1] == ("admin",):
            r = meta[key[1]][1]
            allowed_by = [{"level": "admin", "nsg": r.label, "rule": r.name, "priority": r.priority, "default": False,
                           "access": r.access}]
        else:
            allowed_by = [
                {"level": lvl, "nsg": meta[g][0], "rule": meta[g][1].name, "priority": meta[g][1].priority,
                 "default": meta[g][1].default}
                for (lvl, _), g in zip(levels, key)
            ]
        # no NSG and no admin rule: allowed by no rule
        last = allowed_by[-1] if allowed_by else {"nsg": "", "rule": "(no NSG applies)", "priority": 0}
        for region in _merge_boxes(boxes):
            for protos in ([(p,) for p in region.protocols] if region.ported else [region.protocols]):
                out.append(_exposure(replace(region, protocols=protos), last, allowed_by))
    out.sort(key=lambda e: (e.severity != "high", e.family, e.protocols, e.ports, e.nsg, e.priority, e.sources))
    return ExposureReport(
        source=source, source_prefixes=src, destinations=dst, exposures=out,
        nsgs=[{"level": lvl, "nsg": n.name, "source": n.source or ""} for lvl, n in levels], notes=notes
        + ([f"security admin rules: {len(policy.admin_stage('Inbound'))} inbound rule(s) evaluated before the NSGs"]
           if policy.admin_stage("Inbound") else []),
    )


def _admin_decides(state: int, admin: list[tuple[int, int]], meta: list[Any], nsgs: bool) -> int | None:
    """The admin stage of a box: None (the NSGs decide), -1 (an admin Deny), or the AlwaysAllow rule's index
    (also an Allow when no NSG follows, which is then the reported rule, as in ``reference.evaluate``)."""
    if not admin:
        return None
    start, n = admin[0]
    bits = (state >> start) & ((1 << n) - 1)
    if not bits:
        return None
    g = start + _lowest(bits)
    access = meta[g][1].access
    if access == "Deny":
        return -1
    if access == "AlwaysAllow" or not nsgs:
        return g
    return None


def _without(src: tuple[str, ...] | None, prefix: str) -> tuple[str, ...]:
    hole = ipaddress.ip_network(prefix)
    out: list[str] = []
    for p in src if src is not None else ("0.0.0.0/0", "::/0"):
        net = ipaddress.ip_network(p, strict=False)
        if net.version == hole.version and hole.subnet_of(net):  # type: ignore[arg-type]
            out += [str(x) for x in net.address_exclude(hole)]  # type: ignore[arg-type]
        else:
            out.append(str(net))
    return tuple(out)


def _exposure(region: Box, last: dict[str, Any], allowed_by: list[dict[str, Any]]) -> Exposure:
    ports = region.dst_ports if region.ported else _ALL_PORTS
    high: list[int] = []
    severity = "medium"
    if region.ported:
        high = [p for p in HIGH_PORTS if _in_spans(p, ports)]
        if high or tuple(merge_ranges(ports)) == _ALL_PORTS:
            severity = "high"
    cls = ipaddress.IPv4Address if region.family == 4 else ipaddress.IPv6Address
    witness = {
        "direction": "Inbound",
        "protocol": region.protocols[0],
        "src": str(cls(region.src[0][0])),
        "src_port": region.src_ports[0][0] if region.ported else 0,
        "dst": str(cls(region.dst[0][0])),
        "dst_port": (high[0] if high else ports[0][0]) if region.ported else 0,
    }
    return Exposure(
        nsg=last["nsg"], rule=last["rule"], priority=last["priority"], family=region.family,
        protocols=region.protocols, ported=region.ported, ports=region.dst_ports if region.ported else _ALL_PORTS,
        source_ports=region.src_ports if region.ported else _ALL_PORTS, sources=region.src, destinations=region.dst,
        allowed_by=allowed_by, severity=severity, high_ports=high, witness=witness,
    )

"""NSG security rules as Azure defines them, and their validation.

A :class:`Rule` keeps what the definition said (prefix strings, tag or ASG names, port ranges)
with the fields already checked against Azure's rules (docs/azure-semantics.md §1.1, §1.10 and
edge cases 1, 13, 16). Expanding tags and ASGs into addresses needs context and happens in
``policy``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from .jsonio import shown, small_int
from .errors import AddressError, PolicyError
from .ip import parse_prefix

__all__ = [
    "Rule",
    "Side",
    "PROTOCOLS",
    "PROTOCOL_NUMBERS",
    "protocol_number",
    "DEFAULT_RULES",
    "default_rules",
    "rule_from_properties",
    "MAX_RULES",
    "MAX_PREFIXES_PER_SIDE",
    "MAX_ASGS_PER_SIDE",
    "PORTED",
]

#: ARM protocol enum -> IANA number (None: ``*``, every protocol; product decision 4).
PROTOCOLS: dict[str, int | None] = {"Tcp": 6, "Udp": 17, "Icmp": 1, "Esp": 50, "Ah": 51, "*": None}
PROTOCOL_NUMBERS = {v: k for k, v in PROTOCOLS.items() if v is not None}
#: protocols whose flows carry ports; for every other protocol port criteria pass (decision 5)
PORTED = frozenset({6, 17})
MAX_RULES = 1000
MAX_PREFIXES_PER_SIDE = 4000
MAX_ASGS_PER_SIDE = 10
_NAME = re.compile(r"^\w(?:[\w.-]{0,78}[\w_])?$")
_PORT = re.compile(r"^\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?$")
#: the built-in tags whose meaning comes from context, not from the service-tag file
CONTEXT_TAGS = {
    "virtualnetwork": "VirtualNetwork",
    "internet": "Internet",
    "azureloadbalancer": "AzureLoadBalancer",
    # NSG-only tags for platform services; not in the service-tag files (docs §1.8)
    "azureplatformdns": "AzurePlatformDNS",
    "azureplatformimds": "AzurePlatformIMDS",
    "azureplatformlkm": "AzurePlatformLKM",
}
PLATFORM_TAGS = frozenset({"AzurePlatformDNS", "AzurePlatformIMDS", "AzurePlatformLKM"})
_CLASSIC_TAGS = {"virtual_network": "VirtualNetwork", "internet": "Internet", "azure_loadbalancer": "AzureLoadBalancer"}


def protocol_number(text: str | int) -> int | None:
    """A flow's protocol: tcp/udp/icmp/esp/ah (any case), ``*``, or an IANA number 0-255."""
    if isinstance(text, int) and not isinstance(text, bool):
        if 0 <= text <= 255:
            return text
        raise PolicyError(f"protocol number {text} is outside 0-255", field="protocol")
    s = str(text).strip()
    if s.isdigit():
        number = small_int(s)
        if number is None:
            raise PolicyError(f"protocol number {shown(s)} is outside 0-255", field="protocol")
        return protocol_number(number)
    for name, num in PROTOCOLS.items():
        if s.lower() == name.lower() or (name == "*" and s.lower() in ("any", "all")):
            return num
    raise PolicyError(
        f"unknown protocol {shown(text)}; expected Tcp, Udp, Icmp, Esp, Ah, * or a number 0-255", field="protocol"
    )


@dataclass(frozen=True)
class Side:
    """One side (source or destination) of a rule: exactly one of any / prefixes / tag / ASGs."""

    any: bool = False
    prefixes: tuple[str, ...] = ()
    tag: str | None = None
    asgs: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.any:
            return "*"
        if self.tag:
            return self.tag
        if self.asgs:
            return "ASG " + ",".join(self.asgs)
        return ",".join(self.prefixes)

    @property
    def families(self) -> set[int]:
        fams = set()
        for p in self.prefixes:
            fams.add(6 if ":" in p else 4)
        return fams


@dataclass(frozen=True)
class Rule:
    """One security rule, validated. ``ports`` are inclusive (lo, hi) ranges; ``(0, 65535)`` is ``*``."""

    name: str
    priority: int
    direction: str  # "Inbound" | "Outbound"
    access: str  # "Allow" | "Deny"
    protocol: str  # ARM spelling: Tcp, Udp, Icmp, Esp, Ah, *
    source: Side
    source_ports: tuple[tuple[int, int], ...]
    destination: Side
    destination_ports: tuple[tuple[int, int], ...]
    default: bool = False
    description: str = ""
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @property
    def protocol_number(self) -> int | None:
        return PROTOCOLS[self.protocol]

    @property
    def log_name(self) -> str:
        """The name flow logs and NSG diagnostics use (``DefaultRule_`` / ``UserRule_``)."""
        return ("DefaultRule_" if self.default else "UserRule_") + self.name

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "priority": self.priority,
            "direction": self.direction,
            "access": self.access,
            "protocol": self.protocol,
            "source": self.source.describe(),
            "sourcePorts": _ports_text(self.source_ports),
            "destination": self.destination.describe(),
            "destinationPorts": _ports_text(self.destination_ports),
            "default": self.default,
        }


def _ports_text(ports: tuple[tuple[int, int], ...]) -> str:
    if ports == ((0, 65535),):
        return "*"
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ports)


def _any_side() -> Side:
    return Side(any=True)


def _mk_default(name: str, prio: int, direction: str, access: str, src: Side, dst: Side) -> Rule:
    allp = ((0, 65535),)
    return Rule(name, prio, direction, access, "*", src, allp, dst, allp, default=True)


#: The six default rules, exactly as ARM returns them (docs §1.3).
DEFAULT_RULES: tuple[Rule, ...] = (
    _mk_default("AllowVnetInBound", 65000, "Inbound", "Allow", Side(tag="VirtualNetwork"), Side(tag="VirtualNetwork")),
    _mk_default("AllowAzureLoadBalancerInBound", 65001, "Inbound", "Allow", Side(tag="AzureLoadBalancer"), _any_side()),
    _mk_default("DenyAllInBound", 65500, "Inbound", "Deny", _any_side(), _any_side()),
    _mk_default("AllowVnetOutBound", 65000, "Outbound", "Allow", Side(tag="VirtualNetwork"), Side(tag="VirtualNetwork")),
    _mk_default("AllowInternetOutBound", 65001, "Outbound", "Allow", _any_side(), Side(tag="Internet")),
    _mk_default("DenyAllOutBound", 65500, "Outbound", "Deny", _any_side(), _any_side()),
)


def default_rules(direction: str | None = None) -> list[Rule]:
    return [r for r in DEFAULT_RULES if direction is None or r.direction == direction]


# -- parsing one rule's properties ---------------------------------------------------------
class _Problems:
    """Collects every problem of one rule (lint wants them all; loading raises the first)."""

    def __init__(self, nsg: str, rule: str, source: str | None) -> None:
        self.nsg, self.rule, self.source = nsg, rule, source
        self.errors: list[PolicyError] = []
        self.warnings: list[str] = []

    def add(self, fld: str, message: str, value: Any = None) -> None:
        self.errors.append(
            PolicyError(message, file=self.source, record=f"NSG {self.nsg!r} rule {self.rule!r}", field=fld, value=value)
        )


def _get(props: dict[str, Any], key: str) -> Any:
    return props.get(key.lower())


def _listish(single: Any, plural: Any, fld: str, probs: _Problems) -> list[Any]:
    """Singular and plural forms are both legal; unused ones are "", [] or null (docs §3.1)."""
    items: list[Any] = []
    if single not in (None, ""):
        items.append(single)
    if plural not in (None, ""):
        if isinstance(plural, list):
            items.extend(x for x in plural if x not in (None, ""))
        else:
            probs.add(fld + "s", f"expected a list, got {shown(plural)}", plural)
    return items


def _parse_ports(items: list[Any], fld: str, probs: _Problems) -> tuple[tuple[int, int], ...]:
    if not items:
        probs.add(fld, "missing: give a port, a range such as 1024-65535, a list, or *")
        return ((0, 65535),)
    ranges: list[tuple[int, int]] = []
    for item in items:
        for part in str(item).split(","):
            part = part.strip()
            if part in ("*", "Any", "any"):
                ranges.append((0, 65535))
                continue
            m = _PORT.match(part)
            if not m:
                probs.add(fld, f"{shown(part)} is not a port, a range a-b, or *", item)
                continue
            lo = int(m.group(1))
            hi = int(m.group(2)) if m.group(2) is not None else lo
            if lo > 65535 or hi > 65535:
                probs.add(fld, f"{shown(part)}: ports are 0-65535", item)
            elif lo > hi:
                probs.add(fld, f"{shown(part)}: reversed range (start is above end)", item)
            else:
                ranges.append((lo, hi))
    return tuple(merge_ranges(ranges)) if ranges else ((0, 65535),)


def merge_ranges(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, joined inclusive integer ranges (touching ones join too)."""
    out: list[list[int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return [(a, b) for a, b in out]


def _asg_name(ref: Any) -> str | None:
    if isinstance(ref, dict):
        ref = {k.lower(): v for k, v in ref.items()}.get("id")
    if not isinstance(ref, str) or not ref.strip():
        return None
    return ref.rstrip("/").split("/")[-1]


def _parse_side(prefix_items: list[Any], asg_items: Any, fld: str, asg_fld: str, probs: _Problems) -> Side:
    asgs: list[str] = []
    if asg_items not in (None, "", []):
        if not isinstance(asg_items, list):
            probs.add(asg_fld, f"expected a list of {{'id': ...}} objects, got {shown(asg_items)}", asg_items)
        else:
            for ref in asg_items:
                name = _asg_name(ref)
                if name is None:
                    probs.add(asg_fld, f"an application security group reference needs an id, got {shown(ref)}", ref)
                else:
                    asgs.append(name)
    if asgs and prefix_items:
        probs.add(fld, "a side holds either address prefixes/tags or application security groups, not both")
    if asgs:
        if len(asgs) > MAX_ASGS_PER_SIDE:
            probs.add(asg_fld, f"{len(asgs)} ASGs; at most {MAX_ASGS_PER_SIDE} per rule side (Azure limit)")
        return Side(asgs=tuple(asgs))
    if not prefix_items:
        probs.add(fld, "missing: give an address, a CIDR, a service tag, an ASG, or *")
        return Side(any=True)
    texts = []
    for item in prefix_items:
        if not isinstance(item, str):
            probs.add(fld, f"expected a string, got {shown(item)}", item)
            continue
        texts.append(item.strip())
    if len(texts) == 1 and texts[0] in ("*", "Any", "any"):
        return Side(any=True)
    prefixes, tags = [], []
    for t in texts:
        if t == "*":
            probs.add(fld, "'*' cannot be combined with other prefixes", t)
            continue
        if _looks_like_address(t):
            try:
                fam, value, plen = parse_prefix(t)
            except AddressError as exc:
                if "host bits" in str(exc):
                    # docs are silent on how Azure treats 10.0.0.1/24; evaluate the network and warn
                    import ipaddress

                    net = ipaddress.ip_network(t, strict=False)
                    probs.warnings.append(f"{fld} {shown(t)} has host bits set; evaluated as {net}")
                    prefixes.append(str(net))
                else:
                    probs.add(fld, f"{shown(t)} is not a valid IP address or CIDR", t)
                continue
            prefixes.append(t)
        else:
            tags.append(CONTEXT_TAGS.get(t.lower()) or _CLASSIC_TAGS.get(t.lower()) or t)
    if tags and (len(tags) > 1 or prefixes):
        probs.add(fld, f"a rule side holds at most one service tag and nothing else with it; got {texts}", texts)
    if len(prefixes) > MAX_PREFIXES_PER_SIDE:
        probs.add(fld, f"{len(prefixes)} prefixes; at most {MAX_PREFIXES_PER_SIDE} per rule side (Azure limit)")
    if tags:
        return Side(tag=tags[0])
    return Side(prefixes=tuple(prefixes))


def _looks_like_address(text: str) -> bool:
    return bool(re.fullmatch(r"[0-9A-Fa-f:.]+(?:/\d*)?", text)) and any(c.isdigit() for c in text) and (
        "." in text or ":" in text
    )


def _enum(value: Any, allowed: dict[str, str], fld: str, probs: _Problems) -> str | None:
    if isinstance(value, str) and value.strip().lower() in allowed:
        return allowed[value.strip().lower()]
    probs.add(fld, f"{shown(value)} is not one of {', '.join(sorted(set(allowed.values())))}", value)
    return None


def rule_from_properties(
    name: Any, props: dict[str, Any], *, nsg: str, source: str | None = None, default: bool = False
) -> tuple[Rule | None, list[PolicyError], list[str]]:
    """Parse and validate one rule; returns (rule or None, errors, warnings)."""
    rname = name if isinstance(name, str) else repr(name)
    probs = _Problems(nsg, rname, source)
    props = {k.lower(): v for k, v in props.items()}
    if not isinstance(name, str) or not _NAME.match(name):
        probs.add(
            "name",
            "a rule name starts with a word character, holds word characters, '.', '-' or '_', "
            "ends with a word character or '_', and is at most 80 characters",
            name,
        )
    prio_raw = _get(props, "priority")
    priority = 0
    if small_int(prio_raw) is None or small_int(prio_raw) < 0:  # type: ignore[operator]
        probs.add("priority", f"expected an integer, got {shown(prio_raw)}", prio_raw)
    else:
        priority = small_int(prio_raw)  # type: ignore[assignment]
        lo, hi = (65000, 65500) if default else (100, 4096)
        if not lo <= priority <= hi:
            probs.add("priority", f"{priority} is outside {lo}-{hi}", prio_raw)
    direction = _enum(_get(props, "direction"), {"inbound": "Inbound", "outbound": "Outbound"}, "direction", probs)
    access = _enum(_get(props, "access"), {"allow": "Allow", "deny": "Deny"}, "access", probs)
    protocol = _enum(
        _get(props, "protocol"),
        {k.lower(): k for k in PROTOCOLS} | {"any": "*"},
        "protocol",
        probs,
    )
    src = _parse_side(
        _listish(_get(props, "sourceAddressPrefix"), _get(props, "sourceAddressPrefixes"), "sourceAddressPrefix", probs),
        _get(props, "sourceApplicationSecurityGroups"),
        "sourceAddressPrefix",
        "sourceApplicationSecurityGroups",
        probs,
    )
    dst = _parse_side(
        _listish(
            _get(props, "destinationAddressPrefix"), _get(props, "destinationAddressPrefixes"), "destinationAddressPrefix", probs
        ),
        _get(props, "destinationApplicationSecurityGroups"),
        "destinationAddressPrefix",
        "destinationApplicationSecurityGroups",
        probs,
    )
    if src.families | dst.families == {4, 6}:
        probs.add("addressPrefixes", "IPv4 and IPv6 prefixes cannot be mixed in one rule", None)
    sports = _parse_ports(_listish(_get(props, "sourcePortRange"), _get(props, "sourcePortRanges"), "sourcePortRange", probs), "sourcePortRange", probs)
    dports = _parse_ports(
        _listish(_get(props, "destinationPortRange"), _get(props, "destinationPortRanges"), "destinationPortRange", probs),
        "destinationPortRange",
        probs,
    )
    desc = _get(props, "description")
    if probs.errors or direction is None or access is None or protocol is None:
        return None, probs.errors, probs.warnings
    rule = Rule(
        name=name,
        priority=priority,
        direction=direction,
        access=access,
        protocol=protocol,
        source=src,
        source_ports=sports,
        destination=dst,
        destination_ports=dports,
        default=default,
        description=desc if isinstance(desc, str) else "",
        warnings=tuple(probs.warnings),
    )
    return rule, [], probs.warnings

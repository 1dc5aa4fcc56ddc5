"""A flow to evaluate and the verdict about it (what IP flow verify and NSG diagnostics answer)."""
from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import PolicyError
from .rules import PROTOCOL_NUMBERS, protocol_number

__all__ = ["Flow", "RuleTrail", "NsgTrail", "AdminTrail", "Verdict", "normalize_direction"]

_DIRECTIONS = {"inbound": "Inbound", "in": "Inbound", "i": "Inbound", "outbound": "Outbound", "out": "Outbound", "o": "Outbound"}


def normalize_direction(value: Any) -> str:
    d = _DIRECTIONS.get(str(value).strip().lower())
    if d is None:
        raise PolicyError(f"unknown direction {value!r}; expected inbound or outbound (I/O)", field="direction")
    return d


@dataclass(frozen=True)
class Flow:
    """One flow as NSGs see it: private addresses (after DNAT inbound, before SNAT outbound)."""

    direction: str
    protocol: int
    src: ipaddress.IPv4Address | ipaddress.IPv6Address
    src_port: int
    dst: ipaddress.IPv4Address | ipaddress.IPv6Address
    dst_port: int

    @classmethod
    def make(cls, direction: Any, protocol: Any, src: Any, src_port: Any, dst: Any, dst_port: Any) -> "Flow":
        d = normalize_direction(direction)
        proto = protocol_number(protocol)
        if proto is None:
            raise PolicyError("a flow has one protocol; '*' is for rules", field="protocol")
        addrs = []
        for fld, value in (("src", src), ("dst", dst)):
            try:
                a = ipaddress.ip_address(str(value).strip())
            except ValueError:
                raise PolicyError(f"not an IPv4 or IPv6 address: {value!r}", field=fld) from None
            if getattr(a, "scope_id", None):
                raise PolicyError(f"zone ids are not supported: {value!r}", field=fld)
            addrs.append(a)
        if addrs[0].version != addrs[1].version:
            raise PolicyError("source and destination must both be IPv4 or both IPv6", field="dst")
        ports = []
        for fld, value in (("src_port", src_port), ("dst_port", dst_port)):
            try:
                p = int(value)
            except (TypeError, ValueError):
                raise PolicyError(f"expected a port number 0-65535, got {value!r}", field=fld) from None
            if not 0 <= p <= 65535:
                raise PolicyError(f"port {p} is outside 0-65535", field=fld)
            ports.append(p)
        return cls(d, proto, addrs[0], ports[0], addrs[1], ports[1])

    @property
    def protocol_name(self) -> str:
        return PROTOCOL_NUMBERS.get(self.protocol, str(self.protocol))


@dataclass(frozen=True)
class RuleTrail:
    """One rule examined for a flow: which of the five fields matched (as NSG diagnostics reports)."""

    rule: str
    priority: int
    access: str
    protocol: bool
    source: bool
    source_port: bool
    destination: bool
    destination_port: bool
    #: admin rules only: the rule collection (``configuration/collection``) the rule belongs to
    collection: str | None = None

    @property
    def matched(self) -> bool:
        return self.protocol and self.source and self.source_port and self.destination and self.destination_port


@dataclass(frozen=True)
class NsgTrail:
    """One NSG evaluated for a flow: its level (subnet / nic / nsg), the matched rule, the rules examined."""

    nsg: str
    level: str
    access: str
    rule: str
    priority: int
    log_rule: str
    rules: tuple[RuleTrail, ...]


@dataclass(frozen=True)
class AdminTrail:
    """The security admin stage (AVNM) for a flow: the matched admin rule (if any) and the rules examined.

    ``access`` is the matched rule's action (``Allow``, ``AlwaysAllow``, ``Deny``) or ``None`` when no
    admin rule matched; ``decided`` says whether the stage ended the evaluation (Deny, AlwaysAllow).
    """

    nsg: str  # the rule collection of the matched rule, or "security admin rules" when none matched
    access: str | None
    rule: str | None
    priority: int | None
    log_rule: str | None
    rules: tuple[RuleTrail, ...]
    level: str = "admin"

    @property
    def decided(self) -> bool:
        return self.access in ("Deny", "AlwaysAllow")


@dataclass(frozen=True)
class Verdict:
    """The decision for one flow and the deciding rule (the deny, or for an allow the last NSG that allowed)."""

    access: str
    rule: str | None
    priority: int | None
    nsg: str | None
    direction: str
    log_rule: str | None = None
    trail: tuple[NsgTrail | AdminTrail, ...] = field(default=())
    #: what the answer rests on that could not be read (a rule set aside before the deciding one)
    notes: tuple[str, ...] = field(default=())
    #: which layer decided: "admin" (a security admin rule), "nsg", or None (no rule)
    layer: str | None = None

    @property
    def allowed(self) -> bool:
        return self.access == "Allow"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["trail"] = [
            {
                "nsg": t.nsg,
                "level": t.level,
                "access": t.access,
                "rule": t.rule,
                "priority": t.priority,
                "logRule": t.log_rule,
                "rules": [
                    {
                        "rule": r.rule,
                        "priority": r.priority,
                        "access": r.access,
                        "protocolMatched": r.protocol,
                        "sourceMatched": r.source,
                        "sourcePortMatched": r.source_port,
                        "destinationMatched": r.destination,
                        "destinationPortMatched": r.destination_port,
                        "matched": r.matched,
                        **({"collection": r.collection} if r.collection is not None else {}),
                    }
                    for r in t.rules
                ],
            }
            for t in self.trail
        ]
        d["logRule"] = d.pop("log_rule")
        d["notes"] = list(self.notes)
        return d

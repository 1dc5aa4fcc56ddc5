"""The flow space of a rule list, cut into boxes on which every rule either matches or not.

Built from the compiled matcher's equivalence classes (``compile.build_classifier``): per field
the classes and their rule bitsets (here as Python ints, bit i = rule i). A search walks the fields
(family, protocol, source port, destination port, source, destination), grouping the classes of a
field by the rule set they leave, so a box is a product of class groups and the walk visits each
distinct rule set once per parent box. Anomaly detection and what-if diffs are searches over it;
nothing here re-implements matching.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from .compile import PORTED_TCP_UDP, MatchRule, build_classifier
from .rules import merge_ranges

__all__ = ["Space", "Box", "summarize_intervals"]


def _bits(row: np.ndarray) -> int:
    return int.from_bytes(np.ascontiguousarray(row).astype("<u8").tobytes(), "little")


@dataclass
class Box:
    """A product of value sets, one per field, on which the rule set ``state`` is constant."""

    family: int
    protocols: tuple[int, ...]
    ported: bool
    src_ports: tuple[tuple[int, int], ...]
    dst_ports: tuple[tuple[int, int], ...]
    src: tuple[tuple[int, int], ...]
    dst: tuple[tuple[int, int], ...]
    state: int

    def witness(self) -> dict[str, Any]:
        """One concrete flow inside the box."""
        cls = ipaddress.IPv4Address if self.family == 4 else ipaddress.IPv6Address
        proto = self.protocols[0]
        return {
            "protocol": proto,
            "src": str(cls(self.src[0][0])),
            "src_port": self.src_ports[0][0] if self.ported else 0,
            "dst": str(cls(self.dst[0][0])),
            "dst_port": self.dst_ports[0][0] if self.ported else 0,
        }

    def addresses(self) -> tuple[int, int]:
        return sum(b - a + 1 for a, b in self.src), sum(b - a + 1 for a, b in self.dst)

    def describe(self) -> dict[str, Any]:
        return {
            "family": f"IPv{self.family}",
            "protocols": _protocols_text(self.protocols),
            "src": summarize_intervals(self.family, self.src),
            "src_ports": _ports_text(self.src_ports) if self.ported else "n/a",
            "dst": summarize_intervals(self.family, self.dst),
            "dst_ports": _ports_text(self.dst_ports) if self.ported else "n/a",
            "src_addresses": self.addresses()[0],
            "dst_addresses": self.addresses()[1],
        }


def _protocols_text(protos: Sequence[int]) -> str:
    names = {6: "TCP", 17: "UDP", 1: "ICMP", 50: "ESP", 51: "AH"}
    if len(protos) == 256:
        return "any"
    if len(protos) > 128:  # complete, and short: what is missing
        missing = sorted(set(range(256)) - set(protos))
        return "any except " + ", ".join(names.get(p, str(p)) for p in missing)
    return ", ".join(names.get(p, str(p)) for p in protos)


def _ports_text(ranges: Sequence[tuple[int, int]]) -> str:
    if list(ranges) == [(0, 65535)]:
        return "*"
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def _merge(spans: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    return tuple(merge_ranges(spans))


def summarize_intervals(family: int, spans: Sequence[tuple[int, int]], limit: int | None = None) -> list[str]:
    """CIDR prefixes covering the spans exactly: all of them (machine output is never abbreviated), or
    at most ``limit`` then a count of the rest (for text)."""
    cls = ipaddress.IPv4Address if family == 4 else ipaddress.IPv6Address
    top = (1 << (32 if family == 4 else 128)) - 1
    if list(spans) == [(0, top)]:
        return ["*"]
    out: list[str] = []
    total = 0
    for a, b in spans:
        for net in ipaddress.summarize_address_range(cls(a), cls(b)):
            total += 1
            if limit is None or len(out) < limit:
                out.append(str(net))
    if limit is not None and total > limit:
        out.append(f"... {total - limit} more prefixes")
    return out


@dataclass
class _Field:
    items: list[tuple[Any, int]] = field(default_factory=list)  # (payload, rule bits)


class Space:
    """Equivalence classes of an ordered rule list (first match wins), ready for searches."""

    def __init__(self, rules: Sequence[MatchRule]) -> None:
        self.rules = list(rules)
        self.n = len(self.rules)
        self.full = (1 << self.n) - 1
        c = build_classifier(self.rules, PORTED_TCP_UDP)
        pbits = [_bits(r) for r in c.bits[0]]
        sbits = [_bits(r) for r in c.bits[1]]
        spbits = [_bits(r) for r in c.bits[2]]
        dbits = [_bits(r) for r in c.bits[3]]
        dpbits = [_bits(r) for r in c.bits[4]]
        groups: dict[tuple[int, bool], list[int]] = {}
        for proto in range(256):
            groups.setdefault((int(c.proto_class[proto]), bool(PORTED_TCP_UDP[proto])), []).append(proto)
        self.protocols = [((tuple(ps), ported), pbits[cls]) for (cls, ported), ps in sorted(groups.items(), key=lambda kv: kv[1][0])]
        self.src_ports = self._port_items(c.sport_class, spbits)
        self.dst_ports = self._port_items(c.dport_class, dpbits)
        self.all_ports = self.full
        self.src = {4: self._v4_items(c.v4[0], sbits), 6: self._v6_items(c.v6[0], sbits)}
        self.dst = {4: self._v4_items(c.v4[1], dbits), 6: self._v6_items(c.v6[1], dbits)}

    @staticmethod
    def _port_items(table: np.ndarray, bits: list[int]) -> list[tuple[Any, int]]:
        change = np.flatnonzero(np.diff(table.astype(np.int64))) + 1
        starts = np.concatenate([[0], change])
        ends = np.concatenate([change - 1, [65535]])
        by_class: dict[int, list[tuple[int, int]]] = {}
        for a, b in zip(starts.tolist(), ends.tolist()):
            by_class.setdefault(int(table[a]), []).append((a, b))
        return [(tuple(spans), bits[cls]) for cls, spans in by_class.items()]

    @staticmethod
    def _v4_items(table: tuple[np.ndarray, np.ndarray], bits: list[int]) -> list[tuple[Any, int]]:
        starts, cls = table
        ends = np.append(starts[1:].astype(np.int64) - 1, (1 << 32) - 1)
        by_class: dict[int, list[tuple[int, int]]] = {}
        for a, b, k in zip(starts.tolist(), ends.tolist(), cls.tolist()):
            by_class.setdefault(k, []).append((a, b))
        return [(tuple(spans), bits[k]) for k, spans in by_class.items()]

    @staticmethod
    def _v6_items(table: tuple[np.ndarray, np.ndarray, np.ndarray], bits: list[int]) -> list[tuple[Any, int]]:
        hi, lo, cls = table
        starts = [(h << 64) | l for h, l in zip(hi.tolist(), lo.tolist())]
        ends = [s - 1 for s in starts[1:]] + [(1 << 128) - 1]
        by_class: dict[int, list[tuple[int, int]]] = {}
        for a, b, k in zip(starts, ends, cls.tolist()):
            by_class.setdefault(k, []).append((a, b))
        return [(tuple(spans), bits[k]) for k, spans in by_class.items()]

    # -- the search -------------------------------------------------------------------------
    def boxes(self, start: int, keep: Callable[[int], bool]) -> Iterator[Box]:
        """Every box (grouped per parent) whose rule set, restricted to ``start``, passes ``keep``.

        ``keep`` is asked at every level and must only reject states that no later field can
        bring back into interest (for example "rule r is no longer in the set").
        """

        def split(states: list[tuple[tuple[Any, ...], int]], items: list[tuple[Any, int]]) -> list[tuple[tuple[Any, ...], int]]:
            out = []
            for path, s in states:
                groups: dict[int, list[Any]] = {}
                for payload, bits in items:
                    ns = s & bits
                    if keep(ns):
                        groups.setdefault(ns, []).append(payload)
                out += [(path + (payloads,), ns) for ns, payloads in groups.items()]
            return out

        for family in (4, 6):
            for ported_group in (True, False):
                level = split([((), start)], [x for x in self.protocols if x[0][1] is ported_group])
                for path, s in level:
                    ported = ported_group
                    protos = tuple(p for payload in path[0] for p in payload[0])
                    if ported:
                        sub = split(split([(path, s)], self.src_ports), self.dst_ports)
                    else:
                        sub = [(path + ([((0, 65535),)], [((0, 65535),)]), s)]
                    sub = split(split(sub, self.src[family]), self.dst[family])
                    for p, st in sub:
                        yield Box(
                            family=family,
                            protocols=tuple(sorted(protos)),
                            ported=ported,
                            src_ports=_merge([r for payload in p[1] for r in payload]),
                            dst_ports=_merge([r for payload in p[2] for r in payload]),
                            src=_merge([r for payload in p[3] for r in payload]),
                            dst=_merge([r for payload in p[4] for r in payload]),
                            state=st,
                        )

"""ClassBench rule sets and traces: the field's standard packet-classification benchmark.

A rule list is first match in file order (NSG limits do not apply); the answer is the rule's
0-based index. Rule line: ``@SRC/LEN DST/LEN SPORT_LO : SPORT_HI DPORT_LO : DPORT_HI PROTO/MASK
[FLAGS/MASK]`` (flags are not part of the 5-tuple and are ignored). Trace line: ``SRC DST SPORT
DPORT PROTO FLAGS FILTER`` with addresses as unsigned 32-bit decimals; FILTER is the rule the
header was generated from, which matches but is not always the first match.
"""
from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from .compile import PORTED_ALL, CompiledPolicy, MatchRule, assemble, build_classifier
from .errors import PolicyError
from .jsonio import shown, small_int

__all__ = ["RuleList", "read_trace"]

_RULE = re.compile(
    r"^@(?P<src>\d+\.\d+\.\d+\.\d+/\d+)\s+(?P<dst>\d+\.\d+\.\d+\.\d+/\d+)\s+"
    r"(?P<slo>\d+)\s*:\s*(?P<shi>\d+)\s+(?P<dlo>\d+)\s*:\s*(?P<dhi>\d+)\s+"
    r"(?P<proto>0x[0-9A-Fa-f]+)/(?P<pmask>0x[0-9A-Fa-f]+)(?:\s+0x[0-9A-Fa-f]+/0x[0-9A-Fa-f]+)?\s*$"
)


class RuleList:
    """An ordered rule list (ClassBench): ``evaluate`` answers the first matching rule's index."""

    def __init__(self, rules: list[MatchRule], *, source: str = "<memory>") -> None:
        self.rules = rules
        self.source = source
        self._compiled: CompiledPolicy | None = None
        self._ref: dict[str, np.ndarray] | None = None

    @classmethod
    def load(cls, path: str | Path) -> "RuleList":
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyError(f"cannot read the rule file: {exc}", file=str(p)) from None
        rules = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            m = _RULE.match(line.strip())
            if not m:
                raise PolicyError(
                    "expected '@SRC/LEN DST/LEN LO : HI LO : HI PROTO/MASK'", file=str(p), record=f"line {lineno}", value=line
                )
            rules.append(_rule(m, str(p), lineno))
        return cls(rules, source=str(p))

    def compile(self) -> CompiledPolicy:
        if self._compiled is None:
            clf = build_classifier(self.rules, PORTED_ALL)
            n = len(self.rules)
            labels: dict[str, list[Any]] = {
                "rule": [f"rule{i}" for i in range(n)],
                "nsg": [Path(self.source).name] * n,
                "log_rule": [f"rule{i}" for i in range(n)],
                "priority": list(range(n)),
                "access": ["Allow"] * n,
                "direction": ["Inbound"] * n,
            }
            # one classifier for both directions: ClassBench headers carry no direction
            self._compiled = CompiledPolicy(assemble([clf], [[0], [0]], np.zeros(n, np.uint8)), labels)
        return self._compiled

    def evaluate(self, flows: Any, *, threads: int | None = None) -> pa.Table:
        from .evaluate import evaluate

        return evaluate(self.compile(), flows, threads=threads)

    def classify(self, trace: dict[str, np.ndarray], *, threads: int | None = None) -> np.ndarray:
        """First-match rule index per header (-1: none), through the compiled matcher."""
        from .evaluate import classify
        from .flowtable import flow_arrays

        rule, _ = classify(self.compile(), flow_arrays(trace), threads)
        return rule

    def reference(self, trace: dict[str, np.ndarray]) -> np.ndarray:
        """The same answer by a linear scan over the rules, one header at a time (numpy per header)."""
        if self._ref is None:
            cols: dict[str, list[int]] = {k: [] for k in ("snet", "smask", "dnet", "dmask", "slo", "shi", "dlo", "dhi", "proto", "pany")}
            for r in self.rules:
                for side, net_key, mask_key in (("src", "snet", "smask"), ("dst", "dnet", "dmask")):
                    net = ipaddress.IPv4Network(getattr(r, side)[0])
                    cols[net_key].append(int(net.network_address))
                    cols[mask_key].append(int(net.netmask))
                cols["slo"].append(r.src_ports[0][0])
                cols["shi"].append(r.src_ports[0][1])
                cols["dlo"].append(r.dst_ports[0][0])
                cols["dhi"].append(r.dst_ports[0][1])
                cols["pany"].append(r.protocols is None)
                cols["proto"].append(next(iter(r.protocols)) if r.protocols else 0)
            self._ref = {k: np.array(v, dtype=np.int64) for k, v in cols.items()}
        R = self._ref
        out = np.full(len(trace["src_ip"]), -1, np.int32)
        for i, (s, d, sp, dp, pr) in enumerate(
            zip(trace["src_ip"].tolist(), trace["dst_ip"].tolist(), trace["src_port"].tolist(),
                trace["dst_port"].tolist(), trace["protocol"].tolist())
        ):
            hit = (
                ((s & R["smask"]) == R["snet"])
                & ((d & R["dmask"]) == R["dnet"])
                & (R["slo"] <= sp) & (sp <= R["shi"])
                & (R["dlo"] <= dp) & (dp <= R["dhi"])
                & ((R["pany"] == 1) | (R["proto"] == pr))
            )
            if hit.any():
                out[i] = int(np.argmax(hit))
        return out


def _rule(m: re.Match[str], source: str, lineno: int) -> MatchRule:
    where = f"line {lineno}"
    nets = []
    for key in ("src", "dst"):
        try:
            nets.append(str(ipaddress.IPv4Network(m.group(key), strict=False)))
        except ValueError as exc:
            raise PolicyError(str(exc), file=source, record=where, field=key) from None
    ports = []
    for lo_key, hi_key in (("slo", "shi"), ("dlo", "dhi")):
        lo, hi = small_int(m.group(lo_key)), small_int(m.group(hi_key))
        if lo is None or hi is None or not 0 <= lo <= hi <= 65535:
            raise PolicyError(f"port range {shown(m.group(lo_key))} : {shown(m.group(hi_key))} is not within 0-65535 in order",
                              file=source, record=where)
        ports.append(((lo, hi),))
    if len(m.group("proto")) > 8 or len(m.group("pmask")) > 8:
        raise PolicyError(f"protocol {shown(m.group('proto'))}/{shown(m.group('pmask'))} is not 0x00-0xFF", file=source, record=where)
    proto, pmask = int(m.group("proto"), 16), int(m.group("pmask"), 16)
    if pmask == 0:
        protocols = None
    elif pmask == 0xFF and proto <= 255:
        protocols = frozenset({proto})
    else:
        raise PolicyError(f"protocol {m.group('proto')}/{m.group('pmask')}: only masks 0x00 and 0xFF are supported",
                          file=source, record=where, field="protocol")
    return MatchRule(protocols, (nets[0],), ports[0], (nets[1],), ports[1], deny=False)


def read_trace(path: str | Path) -> dict[str, np.ndarray]:
    """A trace as flow columns (``direction`` all inbound) plus ``filter``."""
    try:
        data = np.loadtxt(path, dtype=np.int64, ndmin=2)
    except (OSError, ValueError) as exc:
        raise PolicyError(f"cannot read the trace: {exc}", file=str(path)) from None
    if data.shape[1] < 7:
        raise PolicyError(f"expected 7 columns per line, got {data.shape[1]}", file=str(path))
    return {
        "direction": np.zeros(len(data), np.uint8),
        "src_ip": data[:, 0].astype(np.uint32),
        "dst_ip": data[:, 1].astype(np.uint32),
        "src_port": data[:, 2].astype(np.uint16),
        "dst_port": data[:, 3].astype(np.uint16),
        "protocol": data[:, 4].astype(np.uint8),
        "filter": data[:, 6].astype(np.int32),
    }

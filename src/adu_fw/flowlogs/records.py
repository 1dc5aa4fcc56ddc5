"""One record -> the tuple strings it holds, grouped by what they share (rule, MAC, ACL, resource).

A record is NSG flow log v1/v2 (``properties.flows[].flows[].flowTuples``) or VNet flow log v4
(``flowRecords.flows[].flowGroups[].flowTuples``), detected per record. Tuple strings stay where the
decoder left them: byte spans of the file (``TupleSpans``, from ``_scan``) or Python strings (from
the general decoder). A part of a record that is not what the format says is noted, never silent.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..jsonio import small_int
from .schema import FlowLogError, ReadStats

MAX_TUPLES_PER_RECORD = 10_000_000


class TupleSpans:
    """A ``flowTuples`` array left undecoded: ``count`` tuples from span ``first`` of its file."""

    __slots__ = ("first", "count")

    def __init__(self, first: int, count: int) -> None:
        self.first, self.count = first, count

    def __len__(self) -> int:
        return self.count


@dataclass
class SpanText:
    """The bytes of a file decoded by ``_scan`` and where its tuple strings are."""

    data: np.ndarray  # uint8 view of the file's bytes
    starts: np.ndarray  # int64, one per tuple string, in document order
    ends: np.ndarray

    def strings(self, spans: TupleSpans) -> list[str]:
        return [
            bytes(self.data[a:b]).decode("ascii")
            for a, b in zip(self.starts[spans.first : spans.first + spans.count].tolist(), self.ends[spans.first : spans.first + spans.count].tolist())
        ]



_TUPLE_TEXT = re.compile(r"\d{10,13},")


def tuple_count(value: Any, text: SpanText | None) -> int:
    """How many tuple strings a part of a document holds (for parts that cannot be read as the format says)."""
    return len(_TUPLE_TEXT.findall(json.dumps(value, default=text.strings if text else None)))


@dataclass
class RawTuples:
    """Tuple strings, and per group of tuples (one rule, one MAC) what they share."""

    tuples: list[str] = field(default_factory=list)  # from the general decoder
    spans: list[TupleSpans] = field(default_factory=list)  # from the fast decoder
    n: int = 0
    g_count: list[int] = field(default_factory=list)
    g_rule: list[str | None] = field(default_factory=list)
    g_mac: list[str | None] = field(default_factory=list)
    g_acl: list[str | None] = field(default_factory=list)
    g_rid: list[str | None] = field(default_factory=list)
    g_version: list[int] = field(default_factory=list)
    g_record: list[int] = field(default_factory=list)
    g_first: list[int] = field(default_factory=list)  # index of the group's first tuple in its record

    def __len__(self) -> int:
        return self.n

    def add_group(self, tuples: Any, rule: Any, mac: Any, acl: Any, rid: Any, version: int, record: int, first: int) -> int:
        if isinstance(tuples, TupleSpans):
            self.spans.append(tuples)
        elif isinstance(tuples, list):
            self.tuples.extend(tuples)  # non-strings are caught when the batch is built
        else:
            return 0
        if self.spans and self.tuples:
            raise AssertionError("one batch mixes decoders")  # one file, one decoder
        self.n += len(tuples)
        self.g_count.append(len(tuples))
        self.g_rule.append(rule if isinstance(rule, str) else None)
        self.g_mac.append(mac if isinstance(mac, str) else None)
        self.g_acl.append(acl if isinstance(acl, str) else None)
        self.g_rid.append(rid if isinstance(rid, str) else None)
        self.g_version.append(version)
        self.g_record.append(record)
        self.g_first.append(first)
        return len(tuples)


def record_tuples(
    rec: Any, index: int, where: str, raw: RawTuples, stats: ReadStats, default_mac: str | None, text: SpanText | None = None
) -> None:
    """Add a record's tuple groups to ``raw`` (``index`` numbers it in its file, ``where`` names it in messages)."""
    if not isinstance(rec, dict):
        stats.notes.append(f"{where}: not an object; skipped (it holds no tuples)")
        return
    props = rec.get("properties") if isinstance(rec.get("properties"), dict) else None
    version = None
    damaged: list[str] = []

    def items(value: Any, what: str) -> list[Any]:
        """A list as the format says; else nothing readable (noted, and any tuple text in it counted as rejected)."""
        if value is None or isinstance(value, (list, TupleSpans)):
            return value or []
        damaged.append(what)
        n = tuple_count(value, text)
        stats.tuples_read += n
        stats.reject("tuple in a malformed part of its record", n, [f"{where}: {what}"])
        return []

    flv = rec.get("flowLogVersion")
    if "flowRecords" in rec or flv is not None:
        version = 4 if flv in (None, 4) or flv == "4" else None
    elif props is not None:
        v = props.get("Version", props.get("version"))
        version = small_int(v) if not isinstance(v, str) or v.isdigit() else None
    rid = rec.get("resourceId") or rec.get("flowLogResourceID") or rec.get("targetResourceID")
    rmac = rec.get("macAddress") or default_mac
    count = 0
    if version == 4:
        fr = rec.get("flowRecords")
        flows = items(fr.get("flows"), "flowRecords.flows") if isinstance(fr, dict) else items(fr, "flowRecords")
        for f in flows:
            if not isinstance(f, dict):
                damaged.append("flows[]")
                continue
            for g in items(f.get("flowGroups"), "flowGroups"):
                if isinstance(g, dict):
                    count += raw.add_group(items(g.get("flowTuples"), "flowTuples"), g.get("rule"), rmac, f.get("aclID"), rid, 4, index, count)
                else:
                    damaged.append("flowGroups[]")
    elif version in (1, 2) and props is not None:
        for f in items(props.get("flows"), "properties.flows"):
            if not isinstance(f, dict):
                damaged.append("flows[]")
                continue
            for g in items(f.get("flows"), "flows[].flows"):
                if isinstance(g, dict):
                    count += raw.add_group(items(g.get("flowTuples"), "flowTuples"), f.get("rule"), g.get("mac") or rmac, None, rid, version, index, count)
                else:
                    damaged.append("flows[].flows[]")
    else:
        n = tuple_count(rec, text)
        stats.tuples_read += n
        stats.reject("record of an unknown flow-log version", n, [where])
        stats.versions["unknown"] += 1
        return
    stats.versions[version] += 1
    if damaged:
        stats.notes.append(f"{where}: malformed structure ({', '.join(sorted(set(damaged)))}): "
                           "those parts hold no readable tuple")
    if count > MAX_TUPLES_PER_RECORD:
        raise FlowLogError(f"{where}: {count} tuples; the limit per record is {MAX_TUPLES_PER_RECORD}")


"""What reading flow logs produces: batches of one schema, and the counts that reconcile them.

``ReadStats`` is per run or per file: each file's reading can keep its own and ``merge`` it into
the run's, so files can be read apart (in threads, processes or Spark tasks) and still reconcile.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable

import pyarrow as pa

from ..errors import AduFwError

EXAMPLES = 5  # locations kept per reason (the counts are always complete)


class FlowLogError(AduFwError):
    """A flow-log input that cannot be read at all (a missing path, an unreadable file, a limit)."""


SCHEMA = pa.schema(
    [
        ("time", pa.timestamp("ms", tz="UTC")),
        ("src_ip", pa.string()),
        ("dst_ip", pa.string()),
        ("src_port", pa.uint16()),
        ("dst_port", pa.uint16()),
        ("protocol", pa.uint8()),
        ("direction", pa.dictionary(pa.int32(), pa.string())),
        ("logged_decision", pa.dictionary(pa.int32(), pa.string())),
        ("flow_state", pa.dictionary(pa.int32(), pa.string())),
        ("encryption", pa.string()),
        ("packets_src_to_dst", pa.int64()),
        ("bytes_src_to_dst", pa.int64()),
        ("packets_dst_to_src", pa.int64()),
        ("bytes_dst_to_src", pa.int64()),
        ("logged_rule", pa.dictionary(pa.int32(), pa.string())),
        ("acl_id", pa.dictionary(pa.int32(), pa.string())),
        ("mac", pa.dictionary(pa.int32(), pa.string())),
        ("resource_id", pa.dictionary(pa.int32(), pa.string())),
        ("log_source", pa.dictionary(pa.int32(), pa.string())),  # the NSG (v1/v2) or flow-log resource (v4) name
        ("hour", pa.timestamp("s", tz="UTC")),
        ("flow_log_version", pa.int8()),
        ("source_file", pa.dictionary(pa.int32(), pa.string())),
        ("record_index", pa.int32()),
        ("tuple_index", pa.int32()),
    ]
)


def _keep(into: dict[str, list[str]], reason: str, where: Iterable[str]) -> None:
    ex = into.setdefault(reason, [])
    for w in where:
        if len(ex) >= EXAMPLES:
            break
        ex.append(w)


@dataclass
class ReadStats:
    """What was read, and what could not be, with reasons and locations (they reconcile).

    Files: ``files`` were read as flow logs (``files_read`` has each one's shape and counts);
    ``skipped_files`` are files that are not flow logs, each with why; ``files_skipped_by_time``
    were left unopened by ``since``/``until``. Elements: ``elements_rejected`` counts what stood where
    a record should be (a stray key, a string, text that is not JSON), by reason. Tuples:
    ``tuples_read == emitted + rejected_total`` always. ``nothing_read`` says why a run read nothing.
    """

    files: int = 0
    files_skipped_by_time: int = 0
    records: int = 0
    records_truncated: int = 0
    tuples_read: int = 0
    emitted: int = 0
    rejected: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    versions: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    shapes: Counter = field(default_factory=Counter)
    files_read: list[dict[str, Any]] = field(default_factory=list)
    skipped_files: list[dict[str, str]] = field(default_factory=list)
    elements_rejected: Counter = field(default_factory=Counter)
    element_examples: dict[str, list[str]] = field(default_factory=dict)

    def reject(self, reason: str, count: int, where: Iterable[str]) -> None:
        if count <= 0:
            return
        self.rejected[reason] += count
        _keep(self.examples, reason, where)

    def reject_element(self, reason: str, where: str) -> None:
        self.elements_rejected[reason] += 1
        _keep(self.element_examples, reason, [where])

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def reconciles(self) -> bool:
        return self.tuples_read == self.emitted + self.rejected_total

    def merge(self, other: "ReadStats") -> None:
        """Add another reading's counts (another file's, another worker's) to these."""
        for name in ("files", "files_skipped_by_time", "records", "records_truncated", "tuples_read", "emitted"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("rejected", "versions", "shapes", "elements_rejected"):
            getattr(self, name).update(getattr(other, name))
        for reason, where in other.examples.items():
            _keep(self.examples, reason, where)
        for reason, where in other.element_examples.items():
            _keep(self.element_examples, reason, where)
        self.notes += other.notes
        self.files_read += other.files_read
        self.skipped_files += other.skipped_files

    @property
    def nothing_read(self) -> str | None:
        """None when tuples were read; otherwise what was found instead (the flag of an empty run)."""
        if self.files and self.records and self.tuples_read:
            return None
        if not self.files:
            head = "no flow-log file was read"
        elif not self.records:
            head = f"no flow-log record was read ({self.files} file(s) read)"
        else:
            head = f"no flow-log tuple was read ({self.files} file(s), {self.records} record(s) read)"
        return head + ": " + self.found()

    def found(self) -> str:
        """One line: which files were read (with their shapes), skipped (with why), or left out by time."""
        parts = []
        if self.files:
            parts.append(f"{self.files} file(s) read as flow logs ({self.shapes_text()})")
        if self.skipped_files:
            listed = "; ".join(f"{s['path']}: {s['reason']}" for s in self.skipped_files)
            parts.append(f"{len(self.skipped_files)} file(s) that are not flow logs ({listed})")
        if self.files_skipped_by_time:
            parts.append(f"{self.files_skipped_by_time} file(s) outside --since/--until (by the hour in their path)")
        if self.elements_rejected:
            parts.append("rejected elements: " + ", ".join(f"{n} {r}" for r, n in self.elements_rejected.items()))
        if self.records_truncated:
            parts.append(f"{self.records_truncated} truncated record(s)")
        if not parts:
            return "no file found"
        return "; ".join(parts)

    def shapes_text(self) -> str:
        return ", ".join(f"{n} {shape}" for shape, n in sorted(self.shapes.items(), key=lambda kv: (-kv[1], kv[0])))

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "files_skipped_by_time": self.files_skipped_by_time,
            "records": self.records,
            "records_truncated": self.records_truncated,
            "tuples_read": self.tuples_read,
            "emitted": self.emitted,
            "rejected": dict(self.rejected),
            "rejected_total": self.rejected_total,
            "rejected_examples": self.examples,
            "versions": {str(k): v for k, v in self.versions.items()},
            "notes": list(self.notes),
            "shapes": dict(self.shapes),
            "files_read": [dict(f) for f in self.files_read],
            "skipped_files": [dict(s) for s in self.skipped_files],
            "elements_rejected": dict(self.elements_rejected),
            "elements_rejected_examples": self.element_examples,
            "nothing_read": self.nothing_read,
        }

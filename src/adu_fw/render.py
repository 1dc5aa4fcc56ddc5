"""Plain-text rendering for the CLI: aligned tables and JSON, nothing terminal-specific."""
from __future__ import annotations

import json
import sys
from typing import Any, Iterable, Sequence, TextIO


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, out: TextIO | None = None) -> None:
    """Print rows under headers, columns padded to their widest cell."""
    out = out or sys.stdout
    cells = [[("" if c is None else str(c)) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], len(c))
    fmt = "  ".join("{:<%d}" % w for w in widths)
    print(fmt.format(*headers).rstrip(), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for row in cells:
        print(fmt.format(*row).rstrip(), file=out)


def dump_json(doc: Any, *, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    json.dump(doc, out, indent=2, default=str)
    out.write("\n")


class Progress:
    """A one-line progress bar on stderr when it is a terminal; silent otherwise (logs, pipes, CI)."""

    def __init__(self, total: int | None, label: str, *, out: TextIO | None = None) -> None:
        self.total = total
        self.label = label
        self.out = out or sys.stderr
        self.done = 0
        self.enabled = hasattr(self.out, "isatty") and self.out.isatty()

    def update(self, n: int) -> None:
        self.done += n
        if not self.enabled:
            return
        if self.total:
            frac = min(1.0, self.done / self.total)
            bar = "#" * int(frac * 30)
            self.out.write(f"\r{self.label} [{bar:<30}] {frac:6.1%} {self.done:,}")
        else:
            self.out.write(f"\r{self.label} {self.done:,}")
        self.out.flush()

    def close(self) -> None:
        if self.enabled:
            self.out.write("\n")
            self.out.flush()

"""Every classify path over one compiled policy, for the differential tests."""
from __future__ import annotations

from typing import Any, Iterator

from adu_fw._match import Matcher
from adu_fw.compile import fast_tables


class Variant:
    """The compiled policy with another matcher over the same arrays (see ``matchers``)."""

    def __init__(self, compiled: Any, matcher: Matcher) -> None:
        self.arrays, self.labels, self._m = compiled.arrays, compiled.labels, matcher

    def matcher(self) -> Matcher:
        return self._m


def matchers(arrays: dict[str, Any]) -> Iterator[Matcher]:
    """The lanes (when the policy allows them) in AVX2 where the CPU has it and in scalar code, the
    cross tables without lanes, and the bitsets without cross tables."""
    lanes = fast_tables(arrays)
    yield Matcher(dict(arrays, **lanes))
    scalar = Matcher(dict(arrays, **lanes))
    scalar.simd = False
    yield scalar
    yield Matcher(arrays)
    yield Matcher({k: v for k, v in arrays.items() if not k.startswith("cross")})

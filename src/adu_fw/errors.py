"""The project's error types: every message names where (file, record or rule, field) and what was expected."""
from __future__ import annotations


class AduFwError(Exception):
    """Base of every error adu-fw raises on bad input; the CLI maps it to exit code 2."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        record: str | None = None,
        field: str | None = None,
        value: object = None,
    ) -> None:
        self.message = message
        self.file = file
        self.record = record
        self.field = field
        self.value = value
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.file:
            where.append(str(self.file))
        if self.record:
            where.append(self.record)
        if self.field:
            where.append(f"field {self.field!r}")
        prefix = ": ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class AddressError(AduFwError, ValueError):
    """An IP address or prefix that does not parse."""


class ServiceTagError(AduFwError):
    """A service-tag file that cannot be read as Azure service tags."""


class PolicyError(AduFwError):
    """An NSG / policy definition that violates Azure's rules or cannot be resolved."""

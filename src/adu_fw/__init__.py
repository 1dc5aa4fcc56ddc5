"""adu-fw: would this traffic be allowed by Azure, and by which rule? Answered offline, at flow-log scale."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import AddressError, AduFwError, PolicyError, ServiceTagError

if TYPE_CHECKING:
    from .policy import Policy
    from .servicetags import ServiceTags, ServiceTagsDiff, Tag, TagChange
    from .verdict import Verdict

__version__ = "0.1.0"

__all__ = [
    "AduFwError",
    "AddressError",
    "Policy",
    "PolicyError",
    "Verdict",
    "ServiceTagError",
    "ServiceTags",
    "ServiceTagsDiff",
    "Tag",
    "TagChange",
    "__version__",
]

# Imported on first use: `import adu_fw` (and so every `adu-fw` command) stays cheap until a
# command needs the policy machinery.
_LAZY = {
    "Policy": "policy",
    "ServiceTags": "servicetags",
    "ServiceTagsDiff": "servicetags",
    "Tag": "servicetags",
    "TagChange": "servicetags",
    "Verdict": "verdict",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'adu_fw' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

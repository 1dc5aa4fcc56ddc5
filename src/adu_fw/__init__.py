"""adu-fw: would this traffic be allowed by Azure, and by which rule? Answered offline, at flow-log scale."""
from .errors import AddressError, AduFwError, PolicyError, ServiceTagError
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

"""The deployment context: what a template reads from the deployment rather than from itself.

``resourceGroup()``, ``subscription()``, ``deployment()``, ``environment()``, ``tenant()`` and the
state of deployed resources (``reference()``, ``listKeys()``) exist only when Azure runs a
deployment. Offline, adu-fw answers them from a :class:`Deployment` the user fills in
(``--resource-group``, ``--location``, ``--subscription-id``, ``--reference``), and otherwise with
the documented stand-ins below (docs/semantics.md, "ARM templates offline"):

- names and ids get stand-ins, because no rule matches a flow by a resource group's or a
  subscription's name: subscription and tenant ``00000000-0000-0000-0000-000000000000``, resource
  group ``rg-offline``, deployment name the template file's stem (what ``az deployment group
  create`` uses), ``newGuid()`` the zero GUID, ``utcNow()`` 2000-01-01T00:00:00Z;
- the location has no stand-in: it can change what a rule means (``Storage.<location>``), so a
  value that needs it is unknown until ``--location`` is given;
- ``reference()`` / ``listKeys()`` are answered only from ``--reference``; anything else that
  reads a deployed resource is unknown, and the rule that needs it is named.

``uniqueString()`` and ``guid()`` are Azure's own algorithms (MurmurHash64 + base32, and UUID v5 in
ARM's namespace), so with the real subscription and resource group they give the real names.
"""
from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Mapping

from .values import Unresolved

__all__ = [
    "Deployment",
    "STANDIN_SUBSCRIPTION_ID",
    "STANDIN_TENANT_ID",
    "STANDIN_RESOURCE_GROUP",
    "STANDIN_TIME",
    "unique_string",
    "arm_guid",
    "parse_reference",
    "ENVIRONMENT_PUBLIC",
]

STANDIN_SUBSCRIPTION_ID = "00000000-0000-0000-0000-000000000000"
STANDIN_TENANT_ID = "00000000-0000-0000-0000-000000000000"
STANDIN_RESOURCE_GROUP = "rg-offline"
STANDIN_TIME = "2000-01-01T00:00:00Z"
#: UUID namespace ARM's guid() hashes its arguments in (UUID v5)
ARM_GUID_NAMESPACE = uuid.UUID("11fb06fb-712d-4ddd-98c7-e71bbd588830")

#: environment() in global Azure, as the ARM documentation prints it
ENVIRONMENT_PUBLIC: dict[str, Any] = {
    "name": "AzureCloud",
    "gallery": "https://gallery.azure.com/",
    "graph": "https://graph.windows.net/",
    "portal": "https://portal.azure.com",
    "graphAudience": "https://graph.windows.net/",
    "activeDirectoryDataLake": "https://datalake.azure.net/",
    "batch": "https://batch.core.windows.net/",
    "media": "https://rest.media.azure.net",
    "sqlManagement": "https://management.core.windows.net:8443/",
    "vmImageAliasDoc": "https://raw.githubusercontent.com/Azure/azure-rest-api-specs/master/arm-compute/quickstart-templates/aliases.json",
    "resourceManager": "https://management.azure.com/",
    "authentication": {
        "loginEndpoint": "https://login.microsoftonline.com/",
        "audiences": ["https://management.core.windows.net/", "https://management.azure.com/"],
        "tenant": "common",
        "identityProvider": "AAD",
    },
    "suffixes": {
        "acrLoginServer": ".azurecr.io",
        "azureDatalakeAnalyticsCatalogAndJob": "azuredatalakeanalytics.net",
        "azureDatalakeStoreFileSystem": "azuredatalakestore.net",
        "azureFrontDoorEndpointSuffix": "azurefd.net",
        "keyvaultDns": ".vault.azure.net",
        "sqlServerHostname": ".database.windows.net",
        "storage": "core.windows.net",
    },
}


@dataclass(frozen=True)
class Deployment:
    """Where a template is (as if) deployed, and the deployed resources' state it may read.

    Every field is optional: ``None`` means "not given", and the documented stand-in (or, for the
    location, "unknown") is used. ``references`` maps ``RESOURCE_OR_NAME.property.path`` (what
    ``--reference`` takes) to a value; the resource is matched by its resource id, its name, or its
    symbolic name, and the path is relative to what ``reference()`` returns (the resource's
    properties; a leading ``properties.`` is accepted too).
    """

    resource_group: str | None = None
    location: str | None = None
    subscription_id: str | None = None
    tenant_id: str | None = None
    name: str | None = None
    references: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, value: "Deployment | Mapping[str, Any] | None") -> "Deployment":
        if value is None:
            return cls()
        if isinstance(value, Deployment):
            return value
        return cls(**dict(value))

    def with_references(self, items: Mapping[str, Any]) -> "Deployment":
        refs = dict(self.references)
        refs.update(items)
        return Deployment(self.resource_group, self.location, self.subscription_id, self.tenant_id, self.name, refs)

    # -- reference() ----------------------------------------------------------------------------------
    def reference_for(self, candidates: list[str]) -> dict[str, Any] | None:
        """The object ``reference()`` returns for a resource known by any of ``candidates``."""
        found: dict[str, Any] | None = None
        for key, value in self.references.items():
            for cand in candidates:
                if not cand:
                    continue
                if key.lower().startswith(cand.lower() + ".") or key.lower().startswith(cand.lower() + "["):
                    path = key[len(cand):].lstrip(".")
                    if path.lower().startswith("properties.") or path.lower().startswith("properties["):
                        path = path[len("properties"):].lstrip(".")
                    found = found if found is not None else {}
                    _set_path(found, path, value, key)
                    break
        return found


_PATH = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _set_path(obj: dict[str, Any], path: str, value: Any, key: str) -> None:
    parts: list[Any] = []
    pos = 0
    while pos < len(path):
        if path[pos] == ".":
            pos += 1
            continue
        m = _PATH.match(path, pos)
        if not m:
            raise Unresolved(f"--reference {key}: cannot read the property path {path!r}")
        parts.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
        pos = m.end()
    if not parts:
        raise Unresolved(f"--reference {key}: give a property, e.g. NAME.ipAddress=VALUE")
    cur: Any = obj
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        nxt_container: Any = [] if (not last and isinstance(parts[i + 1], int)) else {}
        if isinstance(part, int):
            if not isinstance(cur, list):
                raise Unresolved(f"--reference {key}: [{part}] needs an array")
            while len(cur) <= part:
                cur.append(None)
            if last:
                cur[part] = value
            else:
                if cur[part] is None:
                    cur[part] = nxt_container
                cur = cur[part]
        else:
            if not isinstance(cur, dict):
                raise Unresolved(f"--reference {key}: .{part} needs an object")
            existing = next((k for k in cur if k.lower() == part.lower()), part)
            if last:
                cur[existing] = value
            else:
                cur.setdefault(existing, nxt_container)
                cur = cur[existing]


def parse_reference(item: str) -> tuple[str, Any]:
    """``NAME.property=VALUE`` (VALUE as JSON when it parses, else text) -> (key, value)."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or "." not in key.strip(".") and "[" not in key:
        raise ValueError(f"--reference expects RESOURCE_OR_NAME.property=VALUE, got {item!r}")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return key, value


# -- Azure's hashes -------------------------------------------------------------------------------------
_M32 = 0xFFFFFFFF


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _M32


def _murmur64(data: bytes, seed: int = 0) -> int:
    """The 64-bit MurmurHash variant behind ARM's uniqueString() (two 32-bit lanes)."""
    c1, c2, c3, c4, c5, c6 = 0x239B961B, 0xAB0E9789, 0x561CCD1B, 0x0BCAA747, 0x85EBCA6B, 0xC2B2AE35
    n = len(data)
    h1 = h2 = seed & _M32
    i = 0
    while i + 7 < n:
        k1 = int.from_bytes(data[i : i + 4], "little")
        k2 = int.from_bytes(data[i + 4 : i + 8], "little")
        k1 = (_rotl((k1 * c1) & _M32, 15) * c2) & _M32
        h1 = (((_rotl(h1 ^ k1, 19) + h2) * 5) + c3) & _M32
        k2 = (_rotl((k2 * c2) & _M32, 17) * c1) & _M32
        h2 = (((_rotl(h2 ^ k2, 13) + h1) * 5) + c4) & _M32
        i += 8
    tail = n - i
    if tail > 0:
        k1 = int.from_bytes(data[i : i + min(tail, 4)], "little")
        k1 = (_rotl((k1 * c1) & _M32, 15) * c2) & _M32
        h1 ^= k1
        if tail > 4:
            k2 = int.from_bytes(data[i + 4 : i + tail], "little")
            k2 = (_rotl((k2 * c2) & _M32, 17) * c1) & _M32
            h2 ^= k2
    h1 ^= n & _M32
    h2 ^= n & _M32
    h1 = (h1 + h2) & _M32
    h2 = (h2 + h1) & _M32

    def fmix(h: int) -> int:
        h ^= h >> 16
        h = (h * c5) & _M32
        h ^= h >> 13
        h = (h * c6) & _M32
        return h ^ (h >> 16)

    h1, h2 = fmix(h1), fmix(h2)
    h1 = (h1 + h2) & _M32
    h2 = (h2 + h1) & _M32
    return (h2 << 32) | h1


def unique_string(*parts: str) -> str:
    """ARM's uniqueString(): the arguments joined by '-', hashed, 13 base32 characters."""
    h = _murmur64("-".join(parts).encode("utf-8"))
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    out = []
    for _ in range(13):
        out.append(alphabet[h >> 59])
        h = (h << 5) & 0xFFFFFFFFFFFFFFFF
    return "".join(out)


def arm_guid(*parts: str) -> str:
    """ARM's guid(): a UUID v5 of the arguments joined by '-' in ARM's namespace."""
    return str(uuid.uuid5(ARM_GUID_NAMESPACE, "-".join(parts)))

"""Small builders for hand-made NSGs in tests (ARM rule objects, as users write them)."""
from __future__ import annotations

from typing import Any


def rule(
    name: str,
    priority: int,
    direction: str = "Inbound",
    access: str = "Allow",
    protocol: str = "*",
    src: Any = "*",
    dst: Any = "*",
    sport: Any = "*",
    dport: Any = "*",
    **extra: Any,
) -> dict[str, Any]:
    props: dict[str, Any] = {"priority": priority, "direction": direction, "access": access, "protocol": protocol}
    for key, value in (("sourceAddressPrefix", src), ("destinationAddressPrefix", dst)):
        if isinstance(value, list):
            props[key + "es"] = value
        else:
            props[key] = value
    for key, value in (("sourcePortRange", sport), ("destinationPortRange", dport)):
        if isinstance(value, list):
            props[key + "s"] = value
        else:
            props[key] = value
    props.update(extra)
    return {"name": name, "properties": props}


def nsg(name: str, *rules: dict[str, Any]) -> dict[str, Any]:
    """The REST GET shape: {"name", "properties": {"securityRules": [...]}}."""
    return {"name": name, "type": "Microsoft.Network/networkSecurityGroups", "properties": {"securityRules": list(rules)}}

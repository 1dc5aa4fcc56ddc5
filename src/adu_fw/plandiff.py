"""What a pull request changes: the exact flow-space diff of every NSG in a Terraform plan.

Each NSG's rules are built twice, from ``resource_changes[].change.before`` and from ``.after``
(inline ``security_rule`` blocks and the separate ``azurerm_network_security_rule`` resources of
that state), and ``whatif.diff`` gives the regions whose decision or deciding rule changes. An NSG
the plan creates is compared with an NSG holding only the default rules (what its custom rules
add), one it destroys the other way round; the change kind says which. Values unknown until apply
are an error naming address and attribute, or widened to ``*`` with ``assume_unknown="any"``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from .errors import PolicyError
from .nsg import NSG
from .policy import Policy
from .servicetags import ServiceTags
from .terraform import TerraformPlan
from .whatif import PolicyDiff, diff

__all__ = ["NsgChange", "PlanDiff", "plan_diff"]


@dataclass
class NsgChange:
    address: str
    name: str
    change: str  # created | deleted | updated | unchanged
    diff: PolicyDiff

    def to_dict(self) -> dict[str, Any]:
        d = self.diff.to_dict()
        return {"address": self.address, "nsg": self.name, "change": self.change, "regions": d["regions"],
                "region_count": d["region_count"]}


@dataclass
class PlanDiff:
    source: str | None
    nsgs: list[NsgChange] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any(c.diff for c in self.nsgs)

    def to_dict(self) -> dict[str, Any]:
        return {"plan": self.source, "nsgs": [c.to_dict() for c in self.nsgs],
                "region_count": sum(len(c.diff.changes) for c in self.nsgs), "warnings": self.warnings}


def plan_diff(plan: TerraformPlan | str | Path, *, name: str | None = None, virtual_network: Sequence[str] = (),
              old_service_tags: ServiceTags | str | None = None, new_service_tags: ServiceTags | str | None = None,
              asgs: Mapping[str, Sequence[str]] | None = None, assume_unknown: str | None = None) -> PlanDiff:
    """Per NSG of the plan (or the one ``name`` names: NSG name or address), before vs after."""
    if not isinstance(plan, TerraformPlan):
        plan = TerraformPlan.load(plan)
    before_state, after_state = plan.state("before"), plan.state("after")
    before, w1 = before_state.nsgs()
    after, w2 = after_state.nsgs(assume_unknown=assume_unknown)
    out = PlanDiff(plan.source, warnings=w2 + [w for w in w1 if w not in w2])
    b = {n.raw_name or n.name: n for n in before}
    a = {n.raw_name or n.name: n for n in after}
    keys = list(dict.fromkeys(list(b) + list(a)))
    if name is not None:
        keys = [k for k in keys if name.lower() in (k.lower(), (b.get(k) or a[k]).name.lower())]
        if not keys:
            raise PolicyError(f"no NSG named {name!r} in the plan; it changes "
                              + ", ".join(f"{(b.get(k) or a[k]).name} ({k})" for k in dict.fromkeys(list(b) + list(a))),
                              file=plan.source)
    if not keys:
        raise PolicyError("the plan changes no azurerm_network_security_group or azurerm_network_security_rule",
                          file=plan.source)
    common = dict(asgs=asgs)
    for key in keys:
        old, new = b.get(key), a.get(key)
        for n in (old, new):
            if n is not None:
                n.raise_first()
        kind = "created" if old is None else "deleted" if new is None else "updated"
        vnet = list(virtual_network) + [p for n in (old, new) if n is not None for p in n.vnet_prefixes]
        vnet = list(dict.fromkeys(vnet))
        old = old or _defaults_only(new)  # type: ignore[arg-type]
        new = new or _defaults_only(old)
        if not vnet:
            raise PolicyError(f"{key}: the VirtualNetwork tag needs the VNet space and the plan does not associate this "
                              "NSG with a subnet of a VNet it defines: pass --vnet CIDR", file=plan.source,
                              field="virtual_network (--vnet)")
        d = diff(Policy(single=old, virtual_network=vnet, service_tags=old_service_tags, **common),  # type: ignore[arg-type]
                 Policy(single=new, virtual_network=vnet, service_tags=new_service_tags, **common))  # type: ignore[arg-type]
        if kind == "updated" and not d and _same(old, new):
            kind = "unchanged"
        out.nsgs.append(NsgChange(key, new.name, kind, d))
    return out


def _defaults_only(like: NSG) -> NSG:
    return NSG(like.name, [], like.source, vnet_prefixes=list(like.vnet_prefixes), raw_name=like.raw_name)


def _same(a: NSG, b: NSG) -> bool:
    return sorted(map(repr, a.rules)) == sorted(map(repr, b.rules))

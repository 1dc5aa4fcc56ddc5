"""Policy sources beyond NSG files: Terraform plans and Azure's effective rules, behind one door.

``kind_of`` tells the three apart by content (a plan has ``format_version``; effective output has
``effectiveSecurityRules`` entries); ``read_nsgs_any`` returns NSGs with every problem recorded (for
``lint``); ``plan_policy`` builds the policy ``FILE[:NAME]`` names in a plan: one NSG, a subnet's NSG,
or a NIC's subnet NSG + NIC NSG pair, with the VNet space of the subnet's VNet.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from .errors import PolicyError
from .jsonpos import read_json
from .nsg import NSG, read_nsgs
from .policy import Policy

__all__ = ["kind_of", "read_nsgs_any", "plan_policy", "plan_firewall", "ASSUME_UNKNOWN"]

ASSUME_UNKNOWN = ("error", "any")


def kind_of(doc: Any) -> str:
    """``plan``, ``effective`` or ``nsg``."""
    from .terraform import is_plan

    if is_plan(doc):
        return "plan"
    probe = doc
    if isinstance(probe, dict):
        low = {k.lower(): v for k, v in probe.items() if isinstance(k, str)}
        if isinstance(low.get("responses"), dict):
            return "effective" if "effectivesecurityrules" in str(low["responses"])[:20000].lower() else "nsg"
        probe = low.get("value", probe)
    if isinstance(probe, list) and probe and isinstance(probe[0], dict) and any(
            k.lower() == "effectivesecurityrules" for k in probe[0]):
        return "effective"
    if isinstance(probe, dict) and any(k.lower() == "effectivesecurityrules" for k in probe):
        return "effective"
    return "nsg"


def read_nsgs_any(path: str | Path, *, params: Mapping[str, Any] | None = None,
                  assume_unknown: str | None = None, deployment: Any = None) -> tuple[list[NSG], list[str], str]:
    """Every NSG of a file of any kind, with problems recorded, warnings, and the kind
    (``deployment``: the ARM deployment context, see ``adu_fw.arm.Deployment``)."""
    doc = read_json(path)
    kind = kind_of(doc)
    if kind == "plan":
        from .terraform import TerraformPlan

        nsgs, warnings = TerraformPlan(doc, str(path)).state("planned").nsgs(assume_unknown=_assume(assume_unknown))
        return nsgs, warnings, kind
    if kind == "effective":
        from .effective import read_effective

        eff = read_effective(doc, source_name=str(path))
        return list(eff), [], kind
    return read_nsgs(path, params=params, deployment=deployment), [], kind


def _assume(value: str | None) -> str | None:
    if value in (None, "error"):
        return None
    if value != "any":
        raise PolicyError(f"expected one of {', '.join(ASSUME_UNKNOWN)}", field="--assume-unknown", value=value)
    return value


def plan_policy(ref: str, *, assume_unknown: str | None = None, state: str = "planned",
                virtual_network: Any = (), **kwargs: Any) -> Policy:
    """The policy ``FILE[:NAME]`` names in a Terraform plan (see ``terraform.select``)."""
    from .terraform import TerraformPlan, select, split_plan_ref

    path, name = split_plan_ref(ref)
    plan = TerraformPlan.load(path)
    st = plan.state(state)
    nsgs, warnings = st.nsgs(assume_unknown=_assume(assume_unknown))
    att = select(st, nsgs, name)
    by_addr = {n.raw_name: n for n in nsgs}
    vnet = list(virtual_network) + [p for p in att.vnet if p not in virtual_network]
    if att.kind == "nic":
        policy = Policy(subnet=by_addr.get(att.subnet_nsg), nic=by_addr.get(att.nic_nsg), virtual_network=vnet, **kwargs)
    else:
        policy = Policy(single=by_addr[att.subnet_nsg or att.address], virtual_network=vnet, **kwargs)
    policy.warnings[:0] = [w for w in warnings if _concerns(w, policy)]
    return policy


def _concerns(warning: str, policy: Policy) -> bool:
    """Warnings about the selected NSGs (or the whole plan) only."""
    addrs = [n.raw_name or n.name for n in policy.nsgs]
    head = warning.split(":", 1)[0]
    return not head.startswith(("azurerm_", "module.")) or any(head.startswith(a) for a in addrs) or any(
        a in warning for a in addrs)


def plan_firewall(ref: str, *, assume_unknown: str | None = None, ip_groups: Mapping[str, Any] | None = None,
                  **kwargs: Any) -> Any:
    """The firewall policy ``FILE[:NAME]`` names in a plan (rule collection groups, parents first)."""
    from .firewall import FirewallPolicy
    from .terraform import TerraformPlan, split_plan_ref

    path, name = split_plan_ref(ref)
    plan = TerraformPlan.load(path)
    docs, fw_name, warnings, known_groups = plan.state("planned").firewall_documents(name, assume_unknown=_assume(assume_unknown))
    groups = dict(known_groups)
    groups.update({k.lower(): list(v) for k, v in (ip_groups or {}).items()})
    fw = FirewallPolicy.load(docs[-1], parents=docs[:-1], ip_groups=groups, **kwargs)
    fw.name = fw_name
    fw.source = path
    fw.notes[:0] = warnings
    return fw

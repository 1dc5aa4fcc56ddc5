"""Terraform plans (``terraform show -json``) as NSGs, subnet+NIC pairs and firewall policies.

What is read (azurerm provider): ``azurerm_network_security_group`` with inline ``security_rule``
blocks; ``azurerm_network_security_rule`` joined to its NSG by ``network_security_group_name`` and
``resource_group_name`` (or, when the name is computed, by the reference in ``configuration``);
``azurerm_application_security_group`` references in rules (their names, membership from
``--asg``); ``azurerm_subnet_network_security_group_association`` and
``azurerm_network_interface_security_group_association`` (and the older ``network_security_group_id``
attribute of subnets and NICs), which give subnet+NIC pairs and, through the subnet's VNet, the
VirtualNetwork space; ``azurerm_firewall_policy_rule_collection_group`` into the firewall model.

Which values: ``planned_values`` by default (the state after apply; a value unknown until apply
is found in ``resource_changes[].change.after_unknown``); ``before`` and ``after`` of every
``resource_changes`` entry for the diff of a plan. IDs computed at apply (an association's
``network_security_group_id``, an ASG id in a rule) are followed through the references recorded in
``configuration`` (across modules: ``var.x`` to the module call, ``module.m.out`` to the output). A
rule value unknown until apply is an error naming the resource address and attribute; with
``assume_unknown="any"`` it is widened to ``*`` with a warning (a widened Deny hides flows: the
warning says so).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from .arm import ArmContext
from .errors import PolicyError
from .nsg import NSG, _Reader

__all__ = ["TerraformPlan", "PlanState", "is_plan", "load_plan", "split_plan_ref"]

NSG_T = "azurerm_network_security_group"
RULE_T = "azurerm_network_security_rule"
ASG_T = "azurerm_application_security_group"
SUBNET_ASSOC_T = "azurerm_subnet_network_security_group_association"
NIC_ASSOC_T = "azurerm_network_interface_security_group_association"
SUBNET_T = "azurerm_subnet"
NIC_T = "azurerm_network_interface"
VNET_T = "azurerm_virtual_network"
RCG_T = "azurerm_firewall_policy_rule_collection_group"
FWP_T = "azurerm_firewall_policy"
IPG_T = "azurerm_ip_group"

#: Terraform attribute -> ARM property of a security rule
RULE_ATTRS = {
    "access": "access",
    "direction": "direction",
    "priority": "priority",
    "protocol": "protocol",
    "description": "description",
    "source_address_prefix": "sourceAddressPrefix",
    "source_address_prefixes": "sourceAddressPrefixes",
    "destination_address_prefix": "destinationAddressPrefix",
    "destination_address_prefixes": "destinationAddressPrefixes",
    "source_port_range": "sourcePortRange",
    "source_port_ranges": "sourcePortRanges",
    "destination_port_range": "destinationPortRange",
    "destination_port_ranges": "destinationPortRanges",
    "source_application_security_group_ids": "sourceApplicationSecurityGroups",
    "destination_application_security_group_ids": "destinationApplicationSecurityGroups",
}
ARM_TO_TF = {v.lower(): k for k, v in RULE_ATTRS.items()}
ARM_TO_TF["addressprefixes"] = "source/destination_address_prefix(es)"
#: attributes that may be widened to "*", and the rule side (ARM property) each belongs to
_SIDES = {
    "source_address_prefix": "sourceAddressPrefix", "source_address_prefixes": "sourceAddressPrefix",
    "source_application_security_group_ids": "sourceAddressPrefix",
    "destination_address_prefix": "destinationAddressPrefix", "destination_address_prefixes": "destinationAddressPrefix",
    "destination_application_security_group_ids": "destinationAddressPrefix",
    "source_port_range": "sourcePortRange", "source_port_ranges": "sourcePortRange",
    "destination_port_range": "destinationPortRange", "destination_port_ranges": "destinationPortRange",
    "protocol": "protocol",
}
_SIDE_KEYS = {
    "sourceAddressPrefix": ("sourceAddressPrefixes", "sourceApplicationSecurityGroups"),
    "destinationAddressPrefix": ("destinationAddressPrefixes", "destinationApplicationSecurityGroups"),
    "sourcePortRange": ("sourcePortRanges",), "destinationPortRange": ("destinationPortRanges",), "protocol": (),
}


def is_plan(doc: Any) -> bool:
    """A ``terraform show -json`` plan (or a trimmed one with only resource_changes)."""
    return isinstance(doc, dict) and "format_version" in doc and (
        "planned_values" in doc or "resource_changes" in doc or "prior_state" in doc)


def split_plan_ref(ref: str) -> tuple[str, str | None]:
    """``FILE`` or ``FILE:NAME`` (NAME may itself hold ``[..]`` and dots; a drive letter is not a name)."""
    if Path(ref).exists():
        return ref, None
    path, sep, name = ref.partition(":") if not re.match(r"^[A-Za-z]:[\\/]", ref) else (ref, "", "")
    if sep and len(path) == 1 and path.isalpha():
        rest, sep2, name2 = name.partition(":")
        return path + ":" + rest, name2 or None
    return (path, name or None) if sep else (ref, None)


# -- addresses ----------------------------------------------------------------------------------
_SEG = re.compile(r'\.?([A-Za-z_][A-Za-z0-9_-]*)(\[(?:"(?:[^"\\]|\\.)*"|\d{1,18})\])?')  # an index Python converts


def _parse_address(address: str) -> tuple[tuple[tuple[str, Any], ...], str, str, Any]:
    """``module.a[0].module.b.TYPE.NAME["k"]`` -> (((a, 0), (b, None)), TYPE, NAME, "k"); data. kept in TYPE."""
    parts: list[tuple[str, Any]] = []
    pos = 0
    while pos < len(address):
        m = _SEG.match(address, pos)
        if not m or m.end() == pos:
            raise PolicyError(f"cannot parse resource address {address!r}")
        key = m.group(2)
        idx: Any = None
        if key:
            inner = key[1:-1]
            idx = json.loads(inner) if inner.startswith('"') else int(inner)
        parts.append((m.group(1), idx))
        pos = m.end()
    modules = []
    i = 0
    while i + 1 < len(parts) and parts[i][0] == "module":
        modules.append((parts[i + 1][0], parts[i + 1][1]))
        i += 2
    rest = parts[i:]
    if rest and rest[0][0] == "data" and len(rest) >= 3:
        return tuple(modules), "data." + rest[1][0], rest[2][0], rest[2][1]
    if len(rest) < 2:
        raise PolicyError(f"not a resource address: {address!r}")
    return tuple(modules), rest[0][0], rest[1][0], rest[1][1]


def _module_prefix(modules: Sequence[tuple[str, Any]]) -> str:
    return "".join(f"module.{n}{'' if i is None else json.dumps([i])}." for n, i in modules)


@dataclass
class TfResource:
    address: str
    type: str
    name: str
    index: Any
    modules: tuple[tuple[str, Any], ...]
    values: dict[str, Any]
    unknown: Any  # the after_unknown structure (True = unknown until apply)
    action: str = "planned"

    def is_unknown(self, *path: Any) -> bool:
        node = self.unknown
        for key in path:
            if node is True:
                return True
            if isinstance(node, dict):
                node = node.get(key)
            elif isinstance(node, list) and isinstance(key, int):
                node = node[key] if key < len(node) else None
            else:
                return False
        return node is True or (isinstance(node, (dict, list)) and _any_true(node))


def _any_true(node: Any) -> bool:
    if node is True:
        return True
    if isinstance(node, dict):
        return any(_any_true(v) for v in node.values())
    if isinstance(node, list):
        return any(_any_true(v) for v in node)
    return False


def _last(rid: Any) -> str | None:
    return rid.rstrip("/").split("/")[-1] if isinstance(rid, str) and rid.strip() else None


def _rg_of(rid: Any) -> str | None:
    m = re.search(r"/resourceGroups/([^/]+)/", rid or "", re.I) if isinstance(rid, str) else None
    return m.group(1).lower() if m else None


# -- the plan ---------------------------------------------------------------------------------------
class TerraformPlan:
    """A parsed plan: its resources in the planned / before / after states, and its configuration."""

    def __init__(self, doc: Mapping[str, Any], source: str | None = None) -> None:
        if not is_plan(doc):
            raise PolicyError("not a Terraform plan: expected `terraform show -json` output "
                              "(format_version with planned_values / resource_changes)", file=source)
        self.doc = doc
        self.source = source
        self.changes: dict[str, dict[str, Any]] = {}
        for rc in _l(doc.get("resource_changes")):
            if isinstance(rc, dict) and isinstance(rc.get("address"), str):
                self.changes[rc["address"]] = rc
        self._config = self._index_config()

    @classmethod
    def load(cls, path: str | Path) -> "TerraformPlan":
        from .jsonpos import read_json

        return cls(read_json(path), str(path))

    # -- states ----------------------------------------------------------------------------------
    def state(self, which: str = "planned") -> "PlanState":
        """``planned`` (planned_values, or every change's after when absent), ``before`` or ``after``."""
        notes: list[str] = []
        res: list[TfResource] = []
        if which == "planned" and isinstance(self.doc.get("planned_values"), dict):
            for r in _walk_modules(_d(_d(self.doc["planned_values"]).get("root_module"))):
                addr = r.get("address")
                if not isinstance(addr, str):
                    continue
                ch = _d(_d(self.changes.get(addr)).get("change"))
                res.append(self._resource(addr, r.get("type"), r.get("values"), ch.get("after_unknown"), "planned"))
            # data sources read during apply are not in planned_values: take their change
            for addr, rc in self.changes.items():
                if rc.get("mode") == "data" and not any(x.address == addr for x in res):
                    ch = _d(rc.get("change"))
                    if isinstance(ch.get("after"), dict):
                        res.append(self._resource(addr, rc.get("type"), ch["after"], ch.get("after_unknown"), "planned"))
        else:
            if which == "planned":
                notes.append("the plan has no planned_values: read from resource_changes[].change.after")
                which_ = "after"
            else:
                which_ = which
            if which_ not in ("before", "after"):
                raise PolicyError(f"unknown plan state {which!r}")
            for addr, rc in self.changes.items():
                ch = _d(rc.get("change"))
                vals = ch.get(which_)
                if not isinstance(vals, dict):
                    continue
                res.append(self._resource(addr, rc.get("type"), vals,
                                          ch.get("after_unknown") if which_ == "after" else None, which_))
        return PlanState(self, res, which, notes)

    def _resource(self, addr: str, rtype: Any, values: Any, unknown: Any, action: str) -> TfResource:
        modules, t, name, idx = _parse_address(addr)
        return TfResource(addr, str(rtype or t).replace("data.", ""), name, idx, modules,
                          values if isinstance(values, dict) else {}, unknown if unknown is not None else {}, action)

    # -- configuration references ----------------------------------------------------------------
    def _index_config(self) -> dict[tuple[str, ...], dict[str, Any]]:
        out: dict[tuple[str, ...], dict[str, Any]] = {}

        def walk(mod: Any, path: tuple[str, ...]) -> None:
            if not isinstance(mod, dict):
                return
            resources = {}
            for r in _l(mod.get("resources")):
                if isinstance(r, dict) and isinstance(r.get("address"), str):
                    resources[r["address"]] = r
            calls = mod.get("module_calls") or {}
            out[path] = {"resources": resources, "calls": calls, "outputs": _d(mod.get("outputs"))}
            for name, call in calls.items():
                if isinstance(call, dict):
                    walk(call.get("module"), path + (name,))

        walk(_d(self.doc.get("configuration")).get("root_module"), ())
        return out

    def config_of(self, r: TfResource) -> dict[str, Any] | None:
        scope = self._config.get(tuple(n for n, _ in r.modules))
        if scope is None:
            return None
        local = r.address[len(_module_prefix(r.modules)):]
        local = re.sub(r'\[(?:"(?:[^"\\]|\\.)*"|\d+)\]$', "", local)
        return scope["resources"].get(local)

    def reference(self, r: TfResource, path: Sequence[Any], state: "PlanState") -> TfResource | None:
        """The resource that ``r``'s attribute at ``path`` refers to in the configuration (or None)."""
        cfg = self.config_of(r)
        if cfg is None:
            return None
        expr: Any = _d(cfg.get("expressions"))
        for key in path:
            if isinstance(key, int):
                if isinstance(expr, list):
                    expr = expr[key] if key < len(expr) else (expr[0] if len(expr) == 1 else None)
                continue
            if isinstance(expr, list):
                expr = expr[0] if len(expr) == 1 else None
            expr = expr.get(key) if isinstance(expr, dict) else None
        if not isinstance(expr, dict):
            return None
        return self._follow(_l(expr.get("references")), r.modules, r.index, state, 0)

    def _follow(self, refs: Sequence[str], modules: tuple[tuple[str, Any], ...], index: Any,
                state: "PlanState", depth: int) -> TfResource | None:
        if depth > 32:
            return None
        for ref in refs:
            if not isinstance(ref, str) or ref.startswith(("count.", "each.", "local.", "path.", "terraform.", "self.")):
                continue
            parts = ref.split(".")
            if parts[0] == "var" and len(parts) >= 2 and modules:
                parent = modules[:-1]
                scope = self._config.get(tuple(n for n, _ in parent)) or {}
                call = _d(_d(scope.get("calls")).get(modules[-1][0]))
                arg = _d(_d(call.get("expressions")).get(parts[1]))
                found = self._follow(_l(arg.get("references")), parent, modules[-1][1], state, depth + 1)
                if found:
                    return found
                continue
            if parts[0] == "module" and len(parts) >= 3:
                m = re.match(r"^([A-Za-z0-9_-]+)(?:\[(\d{1,18}|\"[^\"]*\")\])?$", parts[1])
                if not m:
                    continue
                child_idx = json.loads(m.group(2)) if m.group(2) and m.group(2).startswith('"') else (
                    int(m.group(2)) if m.group(2) else None)
                child = modules + ((m.group(1), child_idx),)
                scope = self._config.get(tuple(n for n, _ in child)) or {}
                out = _d(_d(_d(scope.get("outputs")).get(parts[2])).get("expression"))
                found = self._follow(_l(out.get("references")), child, None, state, depth + 1)
                if found:
                    return found
                continue
            if parts[0] == "data" and len(parts) >= 3:
                rtype, rname = "data." + parts[1], parts[2]
            elif len(parts) >= 2:
                rtype, rname = parts[0], parts[1]
            else:
                continue
            m = re.match(r"^([A-Za-z0-9_-]+)(?:\[(\d{1,18}|\"[^\"]*\")\])?$", rname)
            if not m:
                continue
            explicit = m.group(2)
            want = (json.loads(explicit) if explicit.startswith('"') else int(explicit)) if explicit else None
            found = state.find(modules, rtype, m.group(1), want, index, refs)
            if found:
                return found
        return None


def _walk_modules(mod: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for r in _l(mod.get("resources")):
        if isinstance(r, dict):
            yield r
    for child in _l(mod.get("child_modules")):
        if isinstance(child, dict):
            yield from _walk_modules(child)


# -- one state ------------------------------------------------------------------------------------
@dataclass
class Attachment:
    """Where NSGs apply: a NIC (subnet NSG + NIC NSG), a subnet, or an NSG on its own."""

    kind: str  # nic | subnet | nsg
    address: str
    name: str
    subnet_nsg: str | None = None  # NSG resource addresses
    nic_nsg: str | None = None
    vnet: list[str] = field(default_factory=list)


class PlanState:
    """The resources of one state of a plan, with NSGs, pairs and firewall policies built from them."""

    def __init__(self, plan: TerraformPlan, resources: list[TfResource], which: str, notes: list[str]) -> None:
        self.plan = plan
        self.which = which
        self.resources = resources
        self.notes = notes
        self.by_address = {r.address: r for r in resources}

    def of_type(self, t: str) -> list[TfResource]:
        return [r for r in self.resources if r.type == t]

    def find(self, modules: tuple[tuple[str, Any], ...], rtype: str, name: str, want: Any, index: Any,
             refs: Sequence[str]) -> TfResource | None:
        """The instance of ``rtype.name`` in the module instance ``modules`` a reference means."""
        prefix = _module_prefix(modules) + rtype + "." + name
        cands = [r for r in self.resources if r.address == prefix or r.address.startswith(prefix + "[")]
        if not cands:
            # the module instance key may be unknown to the referrer (e.g. var.x from a counted module)
            bare = [(n, None) for n, _ in modules]
            pat = re.compile("^" + "".join(rf"module\.{re.escape(n)}(?:\[[^\]]+\])?\." for n, _ in bare)
                             + re.escape(rtype + "." + name) + r"(?:\[[^\]]+\])?$")
            cands = [r for r in self.resources if pat.match(r.address)]
        if want is not None:
            cands = [r for r in cands if r.index == want]
        elif len(cands) > 1 and any(x in ("count.index", "each.key", "each.value") for x in refs):
            cands = [r for r in cands if r.index == index]
        return cands[0] if len(cands) == 1 else None

    def _id_target(self, holder: TfResource, attr: Sequence[Any], value: Any, rtype: str) -> TfResource | None:
        """The resource an ``..._id`` attribute points at: by the known ID's name, else by reference."""
        name = _last(value)
        if name and not holder.is_unknown(*attr):
            rg = _rg_of(value)
            hits = [r for r in self.of_type(rtype) if str(r.values.get("name", "")).lower() == name.lower()
                    and (rg is None or str(r.values.get("resource_group_name", rg)).lower() == rg)]
            if len(hits) == 1:
                return hits[0]
        found = self.plan.reference(holder, [a for a in attr], self)
        return found if found is not None and found.type == rtype else None

    # -- NSGs ---------------------------------------------------------------------------------------
    def nsgs(self, *, assume_unknown: str | None = None) -> tuple[list[NSG], list[str]]:
        """Every NSG with its rules (inline and separate), errors naming address and attribute, and warnings."""
        warnings: list[str] = list(self.notes)
        src = self.plan.source
        reader = _Reader(src, {})
        ctx = _Literal()
        out: list[NSG] = []
        by_key: dict[tuple[str, str | None], NSG] = {}
        by_addr: dict[str, NSG] = {}
        inline: dict[str, TfResource] = {}
        for r in self.of_type(NSG_T):
            name = r.values.get("name")
            if not isinstance(name, str) or r.is_unknown("name"):
                warnings.append(f"{r.address}: name unknown until apply; the NSG is named by its address")
                name = r.address
            nsg = NSG(name, [], src, raw_name=r.address)
            out.append(nsg)
            by_addr[r.address] = nsg
            by_key[(name.lower(), _lower_or_none(r.values.get("resource_group_name")))] = nsg
            inline[r.address] = r
        separate: dict[str, list[TfResource]] = {}
        for r in self.of_type(RULE_T):
            nsg_name = r.values.get("network_security_group_name")
            target = None
            if isinstance(nsg_name, str) and not r.is_unknown("network_security_group_name"):
                rg = _lower_or_none(r.values.get("resource_group_name"))
                target = by_key.get((nsg_name.lower(), rg)) or next(
                    (n for (k, _), n in by_key.items() if k == nsg_name.lower()
                     and sum(1 for (k2, _) in by_key if k2 == k) == 1), None)
            if target is None:
                ref = self.plan.reference(r, ["network_security_group_name"], self)
                if ref is not None and ref.type == NSG_T:
                    target = by_addr.get(ref.address)
            if target is None:
                if not isinstance(nsg_name, str) or r.is_unknown("network_security_group_name"):
                    err = PolicyError("the NSG this rule belongs to is unknown until apply and not found through the "
                                      "configuration's references", file=src, record=r.address,
                                      field="network_security_group_name")
                    holder = NSG(r.address, [], src, raw_name=r.address)
                    holder.errors.append(err)
                    out.append(holder)
                    continue
                warnings.append(f"{r.address}: NSG {nsg_name!r} is not in the plan; its other rules are unknown")
                target = NSG(nsg_name, [], src, raw_name=nsg_name)
                out.append(target)
                by_key[(nsg_name.lower(), _lower_or_none(r.values.get("resource_group_name")))] = target
                by_addr[nsg_name] = target
            separate.setdefault(target.raw_name or target.name, []).append(r)
        for addr, nsg in by_addr.items():
            own = separate.get(addr, [])
            names = {str(x.values.get("name", "")).lower() for x in own}
            r = inline.get(addr)
            rules = r.values.get("security_rule") if r is not None else None
            if r is not None and r.is_unknown("security_rule") and not isinstance(rules, list):
                # Optional+Computed, not set in the configuration: a new NSG starts with no inline rules
                # and receives the separate azurerm_network_security_rule resources
                rules = []
            mirrored = 0
            for i, rule in enumerate(rules if isinstance(rules, list) else []):
                if own and isinstance(rule, dict) and str(rule.get("name", "")).lower() in names:
                    mirrored += 1  # the computed security_rule repeats a separate rule resource: read that one
                    continue
                self._add_rule(reader, ctx, nsg, r, ("security_rule", i), rule, warnings, assume_unknown)
            if own and isinstance(rules, list) and len(rules) > mirrored:
                warnings.append(f"{addr}: security_rule holds {len(rules) - mirrored} rule(s) beside the separate "
                                "azurerm_network_security_rule resources (rules created outside this configuration, "
                                "or inline rules): both are evaluated")
            for x in own:
                self._add_rule(reader, ctx, nsg, x, (), x.values, warnings, assume_unknown)
        for nsg in out:
            reader._check_nsg(nsg)
        for a in self.attachments():
            for addr in (a.subnet_nsg, a.nic_nsg):
                if addr in by_addr:
                    for p in a.vnet:
                        if p not in by_addr[addr].vnet_prefixes:
                            by_addr[addr].vnet_prefixes.append(p)
        return out, warnings

    def _add_rule(self, reader: _Reader, ctx: ArmContext, nsg: NSG, r: TfResource, base: tuple[Any, ...],
                  rule: Any, warnings: list[str], assume_unknown: str | None) -> None:
        where = r.address + "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in base)
        if not isinstance(rule, dict):
            nsg.errors.append(PolicyError(f"expected a security rule object, got {rule!r}", file=nsg.source, record=where))
            return
        props: dict[str, Any] = {}
        name = rule.get("name")
        if r.is_unknown(*base, "name") or not isinstance(name, str):
            nsg.errors.append(PolicyError("value unknown until apply", file=nsg.source, record=where, field=_attr(base, "name")))
            return
        failed = False
        widened: set[str] = set()
        for attr, arm in RULE_ATTRS.items():
            value = rule.get(attr)
            if r.is_unknown(*base, attr):
                if attr.endswith("application_security_group_ids"):
                    named = self._asg_names(r, base, attr)
                    if named is not None:
                        props[arm] = named
                        continue
                side = _SIDES.get(attr)
                if assume_unknown == "any" and side is not None:
                    widened.add(side)
                    warnings.append(f"{where}: {attr} is unknown until apply; widened to * (--assume-unknown any)"
                                    + ("; a widened Deny denies more than the real rule may: flows it would not "
                                       "deny can be missing from the results" if str(rule.get("access")).lower() == "deny" else ""))
                    continue
                nsg.errors.append(PolicyError(
                    "value unknown until apply (computed from another resource); pass --assume-unknown any to widen it "
                    "to *", file=nsg.source, record=where, field=_attr(base, attr)))
                failed = True
                continue
            if value is None or value == "" or value == []:
                continue
            if attr.endswith("application_security_group_ids"):
                names = [_last(v) for v in value] if isinstance(value, list) else None
                if not names or any(n is None for n in names):
                    nsg.errors.append(PolicyError(f"expected a list of ASG IDs, got {value!r}", file=nsg.source,
                                                  record=where, field=_attr(base, attr)))
                    failed = True
                    continue
                value = [{"id": n} for n in names]
            props[arm] = value
        if failed:
            return
        for side in widened:
            for key in _SIDE_KEYS[side]:
                props.pop(key, None)
            props[side] = "*"
        before = len(nsg.errors)
        reader._add_rules(nsg, [{"name": name, "properties": props}], ctx)
        for e in nsg.errors[before:]:
            e.record = where + f" (rule {name!r})"
            e.field = _attr(base, ARM_TO_TF.get((e.field or "").lower(), e.field or ""))
            e.args = (e._render(),)

    def _asg_names(self, r: TfResource, base: tuple[Any, ...], attr: str) -> list[dict[str, str]] | None:
        """ASG IDs computed at apply, named through the configuration's references."""
        cfg = self.plan.config_of(r)
        if cfg is None:
            return None
        expr: Any = _d(cfg.get("expressions"))
        if base:  # an inline block: match it by rule name
            blocks = expr.get(base[0]) if isinstance(expr, dict) else None
            rule_name = (r.values.get(base[0]) or [{}])[base[1]].get("name") if isinstance(r.values.get(base[0]), list) else None
            chosen = None
            for b in blocks if isinstance(blocks, list) else []:
                if isinstance(b, dict) and _d(b.get("name")).get("constant_value") == rule_name:
                    chosen = b
            if chosen is None and isinstance(blocks, list) and len(blocks) == 1:
                chosen = blocks[0]
            expr = chosen or {}
        refs = _l(_d(expr.get(attr) if isinstance(expr, dict) else None).get("references"))
        names = []
        for ref in refs:
            parts = ref.split(".")
            if len(parts) >= 2 and parts[0] == ASG_T and not any(n for n in names if n == parts[1]):
                target = self.find(r.modules, ASG_T, re.sub(r"\[.*$", "", parts[1]), None, r.index, refs)
                if target is None:
                    continue
                nm = target.values.get("name")
                names.append(nm if isinstance(nm, str) and not target.is_unknown("name") else target.address)
        return [{"id": n} for n in dict.fromkeys(names)] if names else None

    # -- where NSGs apply ------------------------------------------------------------------------
    def _vnet_space(self) -> dict[tuple[str, str | None], list[str]]:
        out: dict[tuple[str, str | None], list[str]] = {}
        for v in self.of_type(VNET_T):
            space = v.values.get("address_space")
            if isinstance(space, list) and isinstance(v.values.get("name"), str):
                out[(v.values["name"].lower(), _lower_or_none(v.values.get("resource_group_name")))] = [
                    s for s in space if isinstance(s, str)]
        return out

    def _subnet_vnet(self, subnet: TfResource, vnets: dict[tuple[str, str | None], list[str]]) -> list[str]:
        name = subnet.values.get("virtual_network_name")
        if isinstance(name, str) and not subnet.is_unknown("virtual_network_name"):
            rg = _lower_or_none(subnet.values.get("resource_group_name"))
            return vnets.get((name.lower(), rg)) or next((s for (n, _), s in vnets.items() if n == name.lower()), [])
        ref = self.plan.reference(subnet, ["virtual_network_name"], self)
        if ref is not None and ref.type == VNET_T:
            return [s for s in _l(ref.values.get("address_space")) if isinstance(s, str)]
        return []

    def attachments(self) -> list[Attachment]:
        """NICs (with their subnet's NSG), subnets and NSGs, from the associations in the plan."""
        vnets = self._vnet_space()
        subnet_nsg: dict[str, str] = {}
        for a in self.of_type(SUBNET_ASSOC_T):
            sn = self._id_target(a, ["subnet_id"], a.values.get("subnet_id"), SUBNET_T)
            ng = self._id_target(a, ["network_security_group_id"], a.values.get("network_security_group_id"), NSG_T)
            if sn is not None and ng is not None:
                subnet_nsg[sn.address] = ng.address
        for sn in self.of_type(SUBNET_T):
            if sn.values.get("network_security_group_id") or sn.is_unknown("network_security_group_id"):
                ng = self._id_target(sn, ["network_security_group_id"], sn.values.get("network_security_group_id"), NSG_T)
                if ng is not None:
                    subnet_nsg.setdefault(sn.address, ng.address)
        nic_nsg: dict[str, str] = {}
        for a in self.of_type(NIC_ASSOC_T):
            nic = self._id_target(a, ["network_interface_id"], a.values.get("network_interface_id"), NIC_T)
            ng = self._id_target(a, ["network_security_group_id"], a.values.get("network_security_group_id"), NSG_T)
            if nic is not None and ng is not None:
                nic_nsg[nic.address] = ng.address
        out: list[Attachment] = []
        covered: set[str] = set()
        for nic in self.of_type(NIC_T):
            if nic.values.get("network_security_group_id") and nic.address not in nic_nsg:
                ng = self._id_target(nic, ["network_security_group_id"], nic.values.get("network_security_group_id"), NSG_T)
                if ng is not None:
                    nic_nsg[nic.address] = ng.address
            subnets = []
            for i, ipc in enumerate(_l(nic.values.get("ip_configuration"))):
                if isinstance(ipc, dict):
                    sn = self._id_target(nic, ["ip_configuration", i, "subnet_id"], ipc.get("subnet_id"), SUBNET_T)
                    if sn is not None and sn not in subnets:
                        subnets.append(sn)
            sub = next((s for s in subnets if s.address in subnet_nsg), subnets[0] if subnets else None)
            s_nsg = subnet_nsg.get(sub.address) if sub is not None else None
            n_nsg = nic_nsg.get(nic.address)
            if s_nsg is None and n_nsg is None:
                continue
            name = nic.values.get("name") if isinstance(nic.values.get("name"), str) else nic.address
            out.append(Attachment("nic", nic.address, name, s_nsg, n_nsg,
                                  self._subnet_vnet(sub, vnets) if sub is not None else []))
            covered |= {x for x in (s_nsg, n_nsg) if x}
        for sn_addr, ng in subnet_nsg.items():
            sn = self.by_address[sn_addr]
            name = sn.values.get("name") if isinstance(sn.values.get("name"), str) else sn_addr
            out.append(Attachment("subnet", sn_addr, name, ng, None, self._subnet_vnet(sn, vnets)))
            covered.add(ng)
        for r in self.of_type(NSG_T):
            if r.address not in covered:
                out.append(Attachment("nsg", r.address, str(r.values.get("name") or r.address), None, None, []))
        return out

    # -- firewall ------------------------------------------------------------------------------------
    def firewall_documents(self, name: str | None = None, *,
                           assume_unknown: str | None = None) -> tuple[list[list[dict[str, Any]]], str, list[str], dict[str, list[str]]]:
        """The rule collection groups of one firewall policy (parents first) in the REST shape, its name,
        warnings, and IP Group members known from the plan."""
        policies = self.of_type(FWP_T)
        groups = self.of_type(RCG_T)
        if not groups:
            raise PolicyError("the plan holds no azurerm_firewall_policy_rule_collection_group", file=self.plan.source)
        owner: dict[str, str] = {}
        for g in groups:
            p = self._id_target(g, ["firewall_policy_id"], g.values.get("firewall_policy_id"), FWP_T)
            owner[g.address] = p.address if p is not None else "(unknown policy)"
        names = {p.address: (p.values.get("name") if isinstance(p.values.get("name"), str) and not p.is_unknown("name")
                             else p.address) for p in policies}
        chosen = sorted(set(owner.values()))
        if name is not None:
            chosen = [a for a in chosen if a.lower() == name.lower() or str(names.get(a, "")).lower() == name.lower()]
            if not chosen:
                raise PolicyError(f"no firewall policy named {name!r}; the plan holds "
                                  + ", ".join(f"{names.get(a, a)} ({a})" for a in sorted(set(owner.values()))),
                                  file=self.plan.source)
        if len(chosen) != 1:
            raise PolicyError("the plan holds " + ", ".join(f"{names.get(a, a)} ({a})" for a in chosen)
                              + ": choose one with FILE:NAME (name or address)", file=self.plan.source)
        chain = [chosen[0]]
        while True:
            pol = self.by_address.get(chain[0])
            base = self._id_target(pol, ["base_policy_id"], pol.values.get("base_policy_id"), FWP_T) if pol and (
                pol.values.get("base_policy_id") or pol.is_unknown("base_policy_id")) else None
            if base is None or base.address in chain:
                break
            chain.insert(0, base.address)
        warnings: list[str] = []
        ip_groups = {}
        for ig in self.of_type(IPG_T):
            nm = ig.values.get("name")
            if isinstance(nm, str) and isinstance(ig.values.get("cidrs"), list) and not ig.is_unknown("cidrs"):
                ip_groups[nm.lower()] = [str(c) for c in ig.values["cidrs"]]
        docs = [[self._group_doc(g, warnings, assume_unknown) for g in groups if owner[g.address] == a] for a in chain]
        return docs, str(names.get(chain[-1], chain[-1])), warnings, ip_groups

    def _group_doc(self, g: TfResource, warnings: list[str], assume_unknown: str | None) -> dict[str, Any]:
        src = self.plan.source
        kinds = (("nat_rule_collection", "FirewallPolicyNatRuleCollection", "NatRule"),
                 ("network_rule_collection", "FirewallPolicyFilterRuleCollection", "NetworkRule"),
                 ("application_rule_collection", "FirewallPolicyFilterRuleCollection", "ApplicationRule"))
        collections = []
        for key, ctype, rtype in kinds:
            for ci, c in enumerate(_l(g.values.get(key))):
                where = f"{g.address}.{key}[{ci}]"
                if not isinstance(c, dict):
                    raise PolicyError(f"expected a rule collection block, got {c!r}"[:200], file=src, record=where)
                _typed(c.get("name"), str, src, where, "name")
                _typed(c.get("priority"), int, src, where, "priority")
                _typed(c.get("action") or "Allow", str, src, where, "action")
                rules = []
                for ri, r in enumerate(_l(c.get("rule"))):
                    rules.append(self._fw_rule(g, (key, ci, "rule", ri), r, rtype, warnings, assume_unknown))
                collections.append({"ruleCollectionType": ctype, "name": c.get("name"), "priority": c.get("priority"),
                                    "action": {"type": c.get("action") or "Allow"}, "rules": rules})
        if g.is_unknown("priority"):
            raise PolicyError("value unknown until apply", file=src, record=g.address, field="priority")
        _typed(g.values.get("priority"), int, src, g.address, "priority")
        return {"name": str(g.values.get("name") or g.address), "properties": {"priority": g.values.get("priority"),
                                                                                "ruleCollections": collections}}

    def _fw_rule(self, g: TfResource, base: tuple[Any, ...], r: Any, rtype: str, warnings: list[str],
                 assume_unknown: str | None) -> dict[str, Any]:
        where = g.address + "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in base)
        if not isinstance(r, dict):
            raise PolicyError(f"expected a rule object, got {r!r}", file=self.plan.source, record=where)
        keys = {"name": "name", "source_addresses": "sourceAddresses", "source_ip_groups": "sourceIpGroups",
                "destination_addresses": "destinationAddresses", "destination_ip_groups": "destinationIpGroups",
                "destination_fqdns": "destinationFqdns" if rtype == "NetworkRule" else "targetFqdns",
                "destination_ports": "destinationPorts", "destination_fqdn_tags": "fqdnTags",
                "destination_address": "destinationAddresses", "translated_address": "translatedAddress",
                "translated_port": "translatedPort", "translated_fqdn": "translatedFqdn"}
        out: dict[str, Any] = {"ruleType": rtype}
        for attr, arm in keys.items():
            if attr not in r and not g.is_unknown(*base, attr):
                continue
            value = r.get(attr)
            if g.is_unknown(*base, attr):
                if assume_unknown == "any" and attr in ("source_addresses", "destination_addresses", "destination_address",
                                                        "destination_ports"):
                    warnings.append(f"{where}: {attr} is unknown until apply; widened to * (--assume-unknown any)")
                    value = ["*"]
                else:
                    raise PolicyError("value unknown until apply; pass --assume-unknown any to widen addresses and "
                                      "ports to *", file=self.plan.source, record=where, field=attr)
            if value is None:
                continue
            if attr == "destination_address" and not isinstance(value, list):
                value = [value]
            if attr.endswith("ip_groups") and isinstance(value, list):
                value = [_last(v) or v for v in value]
            if attr in ("name", "translated_address", "translated_fqdn"):
                _typed(value, str, self.plan.source, where, attr)
            elif attr == "translated_port":
                _typed(value, (int, str), self.plan.source, where, attr)
            else:
                _typed(value, list, self.plan.source, where, attr)
                for x in value:
                    _typed(x, str, self.plan.source, where, attr)
            out[arm] = value
        protos = r.get("protocols")
        if rtype == "ApplicationRule":
            out["protocols"] = []
            for p in _l(protos):
                _typed(p, dict, self.plan.source, where, "protocols")
                _typed(p.get("type"), str, self.plan.source, where, "protocols.type")
                _typed(p.get("port"), int, self.plan.source, where, "protocols.port")
                out["protocols"].append({"protocolType": p.get("type"), "port": p.get("port")})
            for extra in ("destination_urls", "web_categories"):
                if r.get(extra):
                    warnings.append(f"{where}: {extra} is not modelled (application rules match FQDNs only)")
        else:
            if protos is not None:
                _typed(protos, list, self.plan.source, where, "protocols")
                for x in protos:
                    _typed(x, str, self.plan.source, where, "protocols")
            out["ipProtocols"] = protos or ["Any"]
        return out


def _typed(value: Any, kind: Any, source: str | None, where: str, attr: str) -> None:
    """A firewall attribute of the expected JSON type (bool is not an int), else an error naming it."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) or not isinstance(value, kinds):
        want = " or ".join({str: "a string", int: "an integer", list: "a list", dict: "an object"}[k] for k in kinds)
        raise PolicyError(f"expected {want}, got {value!r}"[:200], file=source, record=where, field=attr)


def _d(x: Any) -> dict[str, Any]:
    return x if isinstance(x, dict) else {}


def _l(x: Any) -> list[Any]:
    return x if isinstance(x, list) else []


def _attr(base: tuple[Any, ...], attr: str) -> str:
    return "".join(f"[{k}]" if isinstance(k, int) else (f".{k}" if i else k) for i, k in enumerate(base + (attr,)))


def _lower_or_none(v: Any) -> str | None:
    return v.lower() if isinstance(v, str) else None


class _Literal(ArmContext):
    """Terraform values are literal: a string such as "[x]" is not an ARM expression."""

    def resolve(self, value: Any) -> Any:
        return value


def load_plan(path: str | Path) -> TerraformPlan:
    return TerraformPlan.load(path)


def select(state: PlanState, nsgs: list[NSG], name: str | None) -> Attachment:
    """What ``FILE:NAME`` names: an NSG (name or address), a NIC or subnet (name or address) with its NSGs."""
    atts = state.attachments()
    if name is None:
        if len(nsgs) == 1:
            n = nsgs[0]
            return next((a for a in atts if n.raw_name in (a.subnet_nsg, a.nic_nsg) and a.kind != "nic"),
                        Attachment("nsg", n.raw_name or n.name, n.name))
        raise PolicyError(f"the plan holds {len(nsgs)} NSGs; choose one with FILE:NAME (an NSG, NIC or subnet name or "
                          "address): " + describe(atts), file=state.plan.source)
    low = name.lower()
    for n in nsgs:
        if low in (n.name.lower(), (n.raw_name or "").lower()):
            att = next((a for a in atts if a.kind == "subnet" and a.subnet_nsg == n.raw_name), None)
            return att or Attachment("nsg", n.raw_name or n.name, n.name, vnet=[])
    for a in atts:
        if a.kind in ("nic", "subnet") and low in (a.address.lower(), a.name.lower()):
            return a
    raise PolicyError(f"nothing named {name!r} in the plan: " + describe(atts), file=state.plan.source)


def describe(atts: Iterable[Attachment]) -> str:
    parts = []
    for a in atts:
        if a.kind == "nic":
            parts.append(f"NIC {a.name} ({a.address}: subnet NSG {a.subnet_nsg or '-'}, NIC NSG {a.nic_nsg or '-'})")
        elif a.kind == "subnet":
            parts.append(f"subnet {a.name} ({a.address}: NSG {a.subnet_nsg})")
        else:
            parts.append(f"NSG {a.name} ({a.address})")
    return "; ".join(parts) or "nothing"

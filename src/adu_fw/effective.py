"""Azure's own expansion: effective security rules of a NIC as a policy.

Input: ``az network nic list-effective-nsg`` output, the REST body of
``NetworkInterfaces_ListEffectiveNetworkSecurityGroups`` (``{"value": [...]}``), the REST example
file that wraps it (``responses.200.body``), a bare list, or PowerShell's
``Get-AzEffectiveNetworkSecurityGroup`` (PascalCase keys). Each entry is one NSG with its
``association`` and ``effectiveSecurityRules``; a rule's ``expandedSourceAddressPrefix`` /
``expandedDestinationAddressPrefix`` (what Azure expanded a tag to) replaces the tag, so flows are
checked against what Azure computed rather than against a service-tag file.

Decisions (docs/semantics.md, "Effective rules"):
- an entry associated with a subnet is the subnet level, one associated with a network interface
  the NIC level; inbound evaluates subnet then NIC, outbound NIC then subnet, as for templates. The
  order of the entries in the list carries no meaning. An entry naming both (the REST example
  does) is resolved by elimination against the other entry, or, alone, evaluated as the NIC's only
  NSG (a missing level allows, so the two readings agree). An entry associated only with a network
  manager (AVNM admin rules) is refused: admin rules are not NSG rules.
- ``0.0.0.0/0`` in an effective rule is Azure's rendering of ``*`` (the default rules and rules
  written with ``*`` are shown that way), so it matches IPv4 and IPv6.
- ``securityRules/NAME`` are custom rules, ``defaultSecurityRules/NAME`` default rules (legacy
  ``DefaultInboundDenyAll`` / ``DefaultOutboundDenyAll`` are DenyAllInBound / DenyAllOutBound); a
  default rule missing from the list is taken from Azure's documented defaults, with a warning.
- VirtualNetwork is the expansion Azure gave for AllowVnetInBound/OutBound (``--vnet`` adds to it);
  a tag without an expansion is expanded from ``tagMap`` when present, else from the context.
"""
from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from .errors import PolicyError
from .jsonpos import read_json
from .nsg import NSG
from .rules import DEFAULT_RULES, Rule, Side, rule_from_properties

__all__ = ["EffectiveNSG", "read_effective", "effective_policy"]

_LEGACY = {"defaultinbounddenyall": "DenyAllInBound", "defaultoutbounddenyall": "DenyAllOutBound",
           "defaultinboundallowvnet": "AllowVnetInBound", "defaultoutboundallowvnet": "AllowVnetOutBound"}
_DEFAULT_NAMES = {r.name.lower(): r.name for r in DEFAULT_RULES}
_ANY = ("*", "0.0.0.0/0", "any", "internet/0")


@dataclass
class EffectiveNSG(NSG):
    """An NSG as Azure reported it: custom rules in ``rules``, default rules (with expansions) in ``defaults``."""

    defaults: list[Rule] = field(default_factory=list)
    level: str = "nsg"
    association: str = ""

    def evaluation_order(self, direction: str) -> list[Rule]:
        custom = sorted((r for r in self.rules if r.direction == direction), key=lambda r: r.priority)
        return custom + sorted((r for r in self.defaults if r.direction == direction), key=lambda r: r.priority)


def _lower(d: Any) -> dict[str, Any]:
    return {k.lower(): v for k, v in d.items() if isinstance(k, str)} if isinstance(d, Mapping) else {}


def _entries(doc: Any, source: str | None) -> list[dict[str, Any]]:
    if isinstance(doc, list):
        return [_lower(e) for e in doc if isinstance(e, dict)]
    if not isinstance(doc, dict):
        raise PolicyError("expected effective NSG output (an object with value, or a list)", file=source)
    low = _lower(doc)
    if isinstance(low.get("responses"), dict):  # the REST example file
        body = ((_lower(low["responses"]).get("200") or {}) if isinstance(low["responses"], dict) else {})
        return _entries(_lower(body).get("body"), source)
    for key in ("value", "effectivenetworksecuritygroups", "networksecuritygroups"):
        if isinstance(low.get(key), list):
            return [_lower(e) for e in low[key] if isinstance(e, dict)]
    if "effectivesecurityrules" in low:
        return [low]
    raise PolicyError("not effective NSG output: expected value[] entries with effectiveSecurityRules "
                      "(az network nic list-effective-nsg)", file=source)


def _id_of(ref: Any) -> str | None:
    if isinstance(ref, dict):
        v = _lower(ref).get("id")
        return v if isinstance(v, str) else None
    return ref if isinstance(ref, str) else None


def read_effective(source: str | Path | Any, *, source_name: str | None = None) -> list[EffectiveNSG]:
    """Every NSG of an effective-rules document, each with its level (subnet / nic / nsg)."""
    src = str(source) if isinstance(source, (str, Path)) else source_name
    doc = read_json(source) if isinstance(source, (str, Path)) else source
    entries = _entries(doc, src)
    if not entries:
        raise PolicyError("no effective NSG entry (value is empty): the NIC has no NSG", file=src)
    out: list[EffectiveNSG] = []
    for i, e in enumerate(entries):
        assoc = _lower(e.get("association") or {})
        has_subnet = bool(_id_of(assoc.get("subnet")))
        has_nic = bool(_id_of(assoc.get("networkinterface")))
        if not has_subnet and not has_nic and assoc.get("networkmanager"):
            raise PolicyError("this entry is associated with a network manager only (AVNM security admin rules): "
                              "admin rules are not NSG rules and are not read from effective output",
                              file=src, record=f"value[{i}]", field="association")
        nsg_id = _id_of(e.get("networksecuritygroup")) or f"entry{i}"
        name = nsg_id.rstrip("/").split("/")[-1]
        level = "subnet" if has_subnet and not has_nic else "nic" if has_nic and not has_subnet else "ambiguous"
        nsg = EffectiveNSG(name, [], src, raw_name=nsg_id, level=level,
                           association=(_id_of(assoc.get("subnet")) or _id_of(assoc.get("networkinterface")) or ""))
        tag_map = _tag_map(e.get("tagmap"))
        rules = e.get("effectivesecurityrules")
        if not isinstance(rules, list):
            raise PolicyError(f"expected a list of rules, got {rules!r}"[:200], file=src, record=f"value[{i}]",
                              field="effectiveSecurityRules")
        for j, r in enumerate(rules):
            _add(nsg, r, f"value[{i}].effectiveSecurityRules[{j}]", tag_map)
        present = {r.name.lower() for r in nsg.defaults}
        missing = [r for r in DEFAULT_RULES if r.name.lower() not in present]
        if missing:
            nsg.warnings.append("default rules not in the effective list, taken from Azure's documented defaults: "
                                + ", ".join(r.name for r in missing))
            nsg.defaults += missing
        for r in nsg.defaults:
            if r.name in ("AllowVnetInBound", "AllowVnetOutBound") and r.source.prefixes:
                for p in r.source.prefixes:
                    if p not in nsg.vnet_prefixes:
                        nsg.vnet_prefixes.append(p)
        out.append(nsg)
    levels = [n.level for n in out]
    if len(out) > 2:
        raise PolicyError(f"{len(out)} NSG entries: a NIC has at most a subnet NSG and a NIC NSG", file=src)
    if len(out) == 2:
        if levels.count("ambiguous") == 2 or levels.count("subnet") == 2 or levels.count("nic") == 2:
            raise PolicyError("cannot tell the subnet NSG from the NIC NSG: each entry's association must name "
                              "either a subnet or a network interface", file=src, field="association")
        for n, other in ((out[0], out[1]), (out[1], out[0])):
            if n.level == "ambiguous":
                n.level = "subnet" if other.level == "nic" else "nic"
    elif out[0].level == "ambiguous":
        out[0].level = "nsg"
        out[0].warnings.append("the association names both a subnet and a network interface: evaluated as the "
                               "NIC's only NSG")
    return out


def _tag_map(raw: Any) -> dict[str, tuple[str, ...]]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return {}
    if not isinstance(raw, dict):
        return {}
    return {str(k).lower(): tuple(str(p) for p in v) for k, v in raw.items() if isinstance(v, list)}


def _add(nsg: EffectiveNSG, raw: Any, where: str, tag_map: Mapping[str, tuple[str, ...]]) -> None:
    if not isinstance(raw, dict):
        nsg.errors.append(PolicyError(f"expected a rule object, got {raw!r}", file=nsg.source, record=where))
        return
    r = _lower(raw)
    full = str(r.get("name") or "")
    prefix, _, short = full.rpartition("/")
    short = short or full
    prio = r.get("priority")
    default = prefix.lower() == "defaultsecurityrules" or short.lower() in _LEGACY or (
        short.lower() in _DEFAULT_NAMES and isinstance(prio, int) and prio >= 65000)
    name = _LEGACY.get(short.lower(), _DEFAULT_NAMES.get(short.lower(), short) if default else short)
    props = {k: v for k, v in r.items() if not k.startswith("expanded")}
    if str(props.get("protocol", "")).lower() == "all":
        props["protocol"] = "*"
    sides: dict[str, Side | None] = {}
    for side in ("source", "destination"):
        single, plural = props.get(f"{side}addressprefix"), props.get(f"{side}addressprefixes")
        texts = [t for t in ([single] if single not in (None, "") else []) + (plural if isinstance(plural, list) else [])
                 if isinstance(t, str) and t]
        texts = list(dict.fromkeys(texts))
        raw_exp = r.get(f"expanded{side}addressprefix")
        expanded = [p for p in (raw_exp if isinstance(raw_exp, list) else []) if isinstance(p, str) and p.strip()]
        if texts and all(t.strip().lower() in _ANY for t in texts):
            sides[side] = Side(any=True)
            props[f"{side}addressprefix"], props[f"{side}addressprefixes"] = "*", None
        elif expanded:
            sides[side] = _prefix_side(expanded, nsg, where, side)
            props[f"{side}addressprefix"], props[f"{side}addressprefixes"] = "*", None  # validated as expanded
        elif len(texts) == 1 and texts[0].lower() in tag_map:
            sides[side] = _prefix_side(list(tag_map[texts[0].lower()]), nsg, where, side)
            props[f"{side}addressprefix"], props[f"{side}addressprefixes"] = "*", None
        else:
            sides[side] = None  # as written: CIDRs, or a tag resolved by the context
            props[f"{side}addressprefix"], props[f"{side}addressprefixes"] = (texts[0], None) if len(texts) == 1 else (None, texts)
    rule, errors, warnings = rule_from_properties(name, props, nsg=nsg.name, source=nsg.source, default=default)
    for e in errors:
        e.record = f"{where} (rule {full!r})"
        e.args = (e._render(),)
    nsg.errors += errors
    nsg.warnings += [f"rule {name!r}: {w}" for w in warnings]
    if rule is None:
        return
    rule = replace(rule, source=sides["source"] or rule.source, destination=sides["destination"] or rule.destination)
    for side, s in (("source", rule.source), ("destination", rule.destination)):
        if s.tag:
            nsg.warnings.append(f"rule {name!r}: Azure gave no expansion of {side} tag {s.tag!r}: expanded from the context")
    (nsg.defaults if default else nsg.rules).append(rule)
    nsg.identities.append((name, rule.direction, rule.priority))


def _prefix_side(prefixes: list[str], nsg: NSG, where: str, side: str) -> Side:
    out = []
    for p in prefixes:
        try:
            out.append(str(ipaddress.ip_network(p.strip(), strict=False)))
        except ValueError:
            nsg.errors.append(PolicyError(f"{p!r} is not an IP prefix", file=nsg.source, record=where,
                                          field=f"expanded{side.capitalize()}AddressPrefix", value=p))
    return Side(prefixes=tuple(dict.fromkeys(out)))


def effective_policy(source: str | Path | Any, **kwargs: Any) -> Any:
    """A ``Policy`` of the effective NSGs (subnet and/or NIC level); kwargs as for ``Policy``."""
    from .policy import Policy

    nsgs = read_effective(source)
    if len(nsgs) == 1 and nsgs[0].level == "nsg":
        return Policy(single=nsgs[0], **kwargs)
    by = {n.level: n for n in nsgs}
    return Policy(subnet=by.get("subnet"), nic=by.get("nic"), **kwargs)

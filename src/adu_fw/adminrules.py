"""Azure Virtual Network Manager security admin rules: reading, validation, evaluation order.

Shapes read (docs/semantics.md, "Security admin rules"): ARM templates (``networkManagers`` /
``securityAdminConfigurations`` / ``ruleCollections`` / ``rules`` as nested child resources or as
top-level resources named ``manager/config/collection/rule``, symbolic-name ``resources`` objects,
ARM expressions through :mod:`adu_fw.arm`), REST bodies (one rule, a ``value`` list, the effective
and active admin-rule lists of a VNet, and the REST specification's example files with their
``responses``), ``az network manager security-admin-config rule-collection rule`` output (flattened
properties) and PowerShell's (capitalised keys). Keys are matched case-insensitively.

Every rule is either parsed or reported: an error names the file, the rule
(``configuration/collection/rule``), the field and the value. Evaluation order: configurations in
the order they were given (the first is the network manager with the highest scope, whose
configuration wins a conflict), then ascending priority, then document order.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .arm import ArmContext, Unresolved
from .errors import AddressError, PolicyError
from .ip import parse_prefix
from .rules import CONTEXT_TAGS, PROTOCOLS, _parse_ports, _ports_text

__all__ = [
    "AddressItem",
    "AdminRule",
    "AdminRules",
    "load_admin_rules",
    "read_admin_rules",
    "admin_rules_of",
    "split_admin_ref",
    "strip_log_suffix",
    "ACCESS",
    "MAX_RULES_PER_CONFIGURATION",
    "MAX_PREFIXES_PER_CONFIGURATION",
]

#: Azure's enum (SecurityConfigurationRuleAccess) -> the spelling adu-fw reports
ACCESS = {"allow": "Allow", "deny": "Deny", "alwaysallow": "AlwaysAllow"}
#: AVNM protocols (SecurityConfigurationRuleProtocol) -> the NSG spelling used inside adu-fw
_PROTOCOLS = {"tcp": "Tcp", "udp": "Udp", "icmp": "Icmp", "esp": "Esp", "ah": "Ah", "any": "*", "*": "*"}
_ADDRESS_TYPES = {"ipprefix": "IPPrefix", "servicetag": "ServiceTag", "networkgroup": "NetworkGroup"}
#: Azure's documented limits (concept-limitations): reported as warnings, Azure raises them over time
MAX_RULES_PER_CONFIGURATION = 100
MAX_PREFIXES_PER_CONFIGURATION = 1000
MAX_DEPTH = 64
_GUID_SUFFIX = re.compile(r"_[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_ID = re.compile(
    r"/networkManagers?/(?P<m>[^/]+)/securityAdminConfigurations/(?P<c>[^/]+)"
    r"(?:/ruleCollections/(?P<k>[^/]+)(?:/rules/(?P<r>[^/]+))?)?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class AddressItem:
    """One entry of ``sources`` / ``destinations``: an IP prefix, a service tag or a network group."""

    kind: str  # IPPrefix | ServiceTag | NetworkGroup
    value: str

    def describe(self) -> str:
        return self.value if self.kind == "IPPrefix" else f"{self.kind}:{self.value}"


@dataclass(frozen=True)
class AdminRule:
    """One security admin rule, validated. An empty side means any address; ports are inclusive ranges."""

    name: str
    priority: int
    direction: str  # Inbound | Outbound
    access: str  # Allow | Deny | AlwaysAllow
    protocol: str  # Tcp, Udp, Icmp, Esp, Ah, * (Any)
    sources: tuple[AddressItem, ...]
    source_ports: tuple[tuple[int, int], ...]
    destinations: tuple[AddressItem, ...]
    destination_ports: tuple[tuple[int, int], ...]
    collection: str = ""
    configuration: str = ""
    network_manager: str | None = None
    applies_to: tuple[str, ...] = ()
    kind: str = "Custom"
    flag: str | None = None
    description: str = ""
    resource_guid: str | None = None
    source: str | None = None
    #: evaluation order: (configuration layer, priority, position in the input)
    order: tuple[int, int, int] = (0, 0, 0)

    @property
    def protocol_number(self) -> int | None:
        return PROTOCOLS[self.protocol]

    @property
    def log_name(self) -> str:
        """The name VNet flow logs record (they may add ``_<guid>``; see :func:`strip_log_suffix`)."""
        return self.name

    @property
    def label(self) -> str:
        """Where the rule lives: ``configuration/collection`` (the "NSG" column of reports)."""
        return f"{self.configuration or '?'}/{self.collection or '?'}"

    @property
    def path(self) -> str:
        return f"{self.label}/{self.name}"

    def side(self, which: str) -> tuple[AddressItem, ...]:
        return self.sources if which == "source" else self.destinations

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "priority": self.priority,
            "direction": self.direction,
            "access": self.access,
            "protocol": "Any" if self.protocol == "*" else self.protocol,
            "sources": [i.describe() for i in self.sources] or ["*"],
            "sourcePorts": _ports_text(self.source_ports),
            "destinations": [i.describe() for i in self.destinations] or ["*"],
            "destinationPorts": _ports_text(self.destination_ports),
            "collection": self.collection,
            "configuration": self.configuration,
            "networkManager": self.network_manager,
            "appliesToGroups": list(self.applies_to),
        }


def strip_log_suffix(logged: str) -> str:
    """A VNet flow log's admin-rule name without the ``_<guid>`` real logs append (docs samples have none)."""
    return _GUID_SUFFIX.sub("", logged)


@dataclass
class AdminRules:
    """The security admin rules a VNet's flows meet, in evaluation order, with what reading found."""

    rules: list[AdminRule] = field(default_factory=list)
    errors: list[PolicyError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    @property
    def source(self) -> str | None:
        """The file of the first input (errors about tags name it)."""
        return self.sources[0] if self.sources else None

    def evaluation_order(self, direction: str) -> list[AdminRule]:
        """Rules of one direction as Azure processes them: configuration, then ascending priority."""
        return sorted((r for r in self.rules if r.direction == direction), key=lambda r: r.order)

    def collections(self) -> list[dict[str, Any]]:
        seen: dict[str, dict[str, Any]] = {}
        for r in sorted(self.rules, key=lambda r: r.order):
            c = seen.setdefault(r.label, {"configuration": r.configuration, "collection": r.collection,
                                          "networkManager": r.network_manager, "appliesToGroups": list(r.applies_to),
                                          "rules": 0})
            c["rules"] += 1
        return list(seen.values())

    def names(self) -> set[str]:
        return {r.log_name.lower() for r in self.rules}

    def raise_first(self) -> None:
        if self.errors:
            first = self.errors[0]
            if len(self.errors) > 1:
                first.message += f" (and {len(self.errors) - 1} more problem(s))"
                first.args = (first._render(),)
            raise first

    def __bool__(self) -> bool:
        return bool(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    @classmethod
    def combine(cls, parts: Iterable["AdminRules"]) -> "AdminRules":
        """Several inputs as one stage: configurations keep the order in which they first appear."""
        out = cls()
        layers: dict[tuple[str | None, str], int] = {}
        position = 0
        for part in parts:
            out.errors += part.errors
            out.warnings += part.warnings
            out.sources += [s for s in part.sources if s not in out.sources]
            for r in sorted(part.rules, key=lambda r: r.order):
                key = ((r.network_manager or "").lower(), r.configuration.lower())
                layer = layers.setdefault(key, len(layers))
                out.rules.append(_with_order(r, (layer, r.priority, position)))
                position += 1
        out._check()
        return out

    def _check(self) -> None:
        """Configuration-wide findings: repeated priorities and names, Azure's limits (warnings)."""
        by_config: dict[str, list[AdminRule]] = {}
        for r in self.rules:
            by_config.setdefault(r.configuration or "?", []).append(r)
        for config, rules in by_config.items():
            seen: dict[tuple[str, int], AdminRule] = {}
            for r in sorted(rules, key=lambda r: r.order):
                other = seen.setdefault((r.direction, r.priority), r)
                if other is not r:
                    msg = (f"admin rules {other.path!r} and {r.path!r} share priority {r.priority} ({r.direction}); "
                           "Azure does not document the tie: adu-fw evaluates them in input order")
                    if msg not in self.warnings:
                        self.warnings.append(msg)
            if len(rules) > MAX_RULES_PER_CONFIGURATION:
                self.warnings.append(f"configuration {config!r}: {len(rules)} admin rules; Azure's documented limit is "
                                     f"{MAX_RULES_PER_CONFIGURATION} per level")
            prefixes = sum(1 for r in rules for i in r.sources + r.destinations if i.kind == "IPPrefix")
            if prefixes > MAX_PREFIXES_PER_CONFIGURATION:
                self.warnings.append(f"configuration {config!r}: {prefixes} IP prefixes in admin rules; Azure's documented "
                                     f"limit is {MAX_PREFIXES_PER_CONFIGURATION} in all rules combined")


def _with_order(r: AdminRule, order: tuple[int, int, int]) -> AdminRule:
    from dataclasses import replace

    return replace(r, order=order)


# -- reading --------------------------------------------------------------------------------------
def split_admin_ref(ref: str) -> tuple[str, str | None]:
    """``FILE`` or ``FILE:COLLECTION`` (a Windows drive letter is not a selector)."""
    if ":" in ref and not Path(ref).exists():
        path, _, sel = ref.rpartition(":")
        if path and not (len(path) == 1 and path.isalpha()):
            return path, sel or None
    return ref, None


def _lower(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k.lower(): v for k, v in d.items() if isinstance(k, str)}


def _read_json(path: Path) -> Any:
    from .nsg import _read_json as read_policy_json  # the same limit (MAX_FILE_BYTES) and errors as NSG files

    return read_policy_json(path, "an admin-rule file")


@dataclass
class _Where:
    manager: str | None = None
    configuration: str = ""
    collection: str = ""
    applies_to: tuple[str, ...] = ()

    def child(self, **kw: Any) -> "_Where":
        from dataclasses import replace

        return replace(self, **kw)


def _tail(ref: Any) -> str | None:
    if isinstance(ref, dict):
        ref = _lower(ref).get("id") or _lower(ref).get("networkgroupid")
    if not isinstance(ref, str) or not ref.strip():
        return None
    return ref.rstrip("/").split("/")[-1]


def _groups(items: Any) -> tuple[str, ...]:
    out = []
    for g in items if isinstance(items, list) else []:
        name = _tail(_lower(g).get("networkgroupid") if isinstance(g, dict) else g)
        if name:
            out.append(name)
    return tuple(out)


class _Reader:
    def __init__(self, source: str | None, params: Mapping[str, Any], deployment: Any = None) -> None:
        self.source = source
        self.params = params
        self.deployment = deployment  # resourceGroup(), subscription(), ... (adu_fw.arm.Deployment)
        self.out = AdminRules(sources=[source] if source else [])
        self.position = 0

    # -- document shapes -----------------------------------------------------------------------------
    def read(self, doc: Any, where: _Where, depth: int = 0) -> None:
        if depth > MAX_DEPTH:
            raise PolicyError("JSON nesting is too deep", file=self.source)
        ctx = ArmContext(values=self.params, deployment=self.deployment)
        if isinstance(doc, list):
            for item in doc:
                if isinstance(item, dict) and _looks_like_rule(_lower(item)):
                    self._rule(_lower(item), where, ctx)
                else:
                    self.read(item, where, depth + 1)
            return
        if not isinstance(doc, dict):
            raise PolicyError(f"expected a JSON object or list, got {type(doc).__name__}", file=self.source)
        top = _lower(doc)
        if isinstance(top.get("responses"), dict):  # a REST specification example: the 200 body, else the request
            responses = _lower(top["responses"])
            body = next((_lower(r).get("body") for code, r in sorted(responses.items()) if isinstance(r, dict)
                         and code.startswith("2") and _lower(r).get("body") is not None), None)
            if body is None:
                params = _lower(top.get("parameters") or {})
                body = params.get("adminrule")
            if body is None:
                raise PolicyError("a REST example without a 2xx body or an adminRule request", file=self.source)
            self.read(body, where, depth + 1)
            return
        if isinstance(top.get("resources"), (list, dict)):
            self._template(top)
            return
        if isinstance(top.get("value"), list):
            self.read(top["value"], where, depth + 1)
            return
        if _looks_like_rule(top):
            self._rule(top, where, ctx)
            return
        t = str(top.get("type") or "").lower()
        if t.endswith(("securityadminconfigurations", "rulecollections")):
            raise PolicyError(
                f"a {top.get('type')} resource holds no rules itself: give its rules (the rule list of each rule "
                "collection, the VNet's effective admin rules, or the ARM template with the rules)", file=self.source)
        raise PolicyError(
            "not security admin rules: expected an ARM template (networkManagers/securityAdminConfigurations/"
            "ruleCollections/rules), a REST body (one rule, a value list, effective or active admin rules) or az output",
            file=self.source,
        )

    def _template(self, top: dict[str, Any]) -> None:
        ctx = ArmContext(*(top.get(k) if isinstance(top.get(k), dict) else {} for k in ("parameters", "variables")),
                         self.params, deployment=self.deployment)
        applies: dict[tuple[str, str], tuple[str, ...]] = {}
        found: list[tuple[dict[str, Any], _Where]] = []

        def resources(value: Any) -> list[Any]:
            if isinstance(value, dict):  # languageVersion 2.0: symbolic names
                return list(value.values())
            return value if isinstance(value, list) else []

        def resolve_name(raw: Any, what: str) -> list[str]:
            try:
                name = ctx.resolve(raw)
            except Unresolved as exc:
                raise PolicyError(f"{raw} cannot be resolved offline: {exc}", file=self.source, record=what,
                                  field="name", value=raw) from None
            return str(name).split("/")

        def walk(items: Any, parent: str, where: _Where, depth: int) -> None:
            if depth > MAX_DEPTH:
                return
            for res in resources(items):
                if not isinstance(res, dict):
                    continue
                low = _lower(res)
                t = str(low.get("type") or "").lower()
                # nested resources spell their type relative to the parent ("rules")
                full = t if t.startswith("microsoft.") or not parent else f"{parent}/{t}"
                if "condition" in low:
                    try:
                        deployed = ctx.resolve(low["condition"])
                    except Unresolved as exc:
                        raise PolicyError(f"condition cannot be resolved offline: {exc}", file=self.source,
                                          record=str(low.get("name")), field="condition") from None
                    if not deployed:
                        self.out.warnings.append(f"resource {low.get('name')}: condition is false, not deployed: skipped")
                        continue
                props = _lower(low["properties"]) if isinstance(low.get("properties"), dict) else {}
                here = where
                if full.endswith("microsoft.network/networkmanagers"):
                    here = where.child(manager=resolve_name(low.get("name"), "network manager")[-1])
                elif full.endswith("networkmanagers/securityadminconfigurations"):
                    parts = resolve_name(low.get("name"), "security admin configuration")
                    here = where.child(configuration=parts[-1], manager=parts[-2] if len(parts) > 1 else where.manager)
                elif full.endswith("securityadminconfigurations/rulecollections"):
                    parts = resolve_name(low.get("name"), "rule collection")
                    try:
                        groups = _groups(ctx.resolve(props.get("appliestogroups")))
                    except Unresolved:
                        groups = ()
                    here = where.child(collection=parts[-1], applies_to=groups,
                                       configuration=parts[-2] if len(parts) > 1 else where.configuration,
                                       manager=parts[-3] if len(parts) > 2 else where.manager)
                    applies[(here.configuration.lower(), here.collection.lower())] = groups
                elif full.endswith("rulecollections/rules"):
                    parts = resolve_name(low.get("name"), "admin rule")
                    rw = where.child(collection=parts[-2] if len(parts) > 1 else where.collection,
                                     configuration=parts[-3] if len(parts) > 2 else where.configuration,
                                     manager=parts[-4] if len(parts) > 3 else where.manager)
                    item = dict(low)
                    item["name"] = parts[-1]
                    found.append((item, rw))
                    continue
                walk(low.get("resources"), full, here, depth + 1)

        walk(top["resources"], "", _Where(), 0)
        if not found:
            raise PolicyError(
                "the template defines no Microsoft.Network/networkManagers/securityAdminConfigurations/ruleCollections/rules "
                "resource", file=self.source)
        for item, where in found:  # a top-level rule gets its collection's network groups
            groups = applies.get((where.configuration.lower(), where.collection.lower()), ())
            self._rule(item, where.child(applies_to=groups), ctx)

    # -- one rule ------------------------------------------------------------------------------------
    def _rule(self, low: dict[str, Any], where: _Where, ctx: ArmContext) -> None:
        props = low.get("properties") if isinstance(low.get("properties"), dict) else low
        props = _lower(props)
        ident = _ID.search(str(low.get("id") or ""))
        name = low.get("name")
        if ident:
            where = where.child(manager=ident.group("m"), configuration=ident.group("c"),
                                collection=ident.group("k") or where.collection)
            if not isinstance(name, str) or not name:
                name = ident.group("r")
        if not isinstance(name, str) or not name:
            name = props.get("displayname") if isinstance(props.get("displayname"), str) else None
        groups = _groups(low.get("rulecollectionappliestogroups"))
        if groups:
            where = where.child(applies_to=groups)
        try:
            name = ctx.resolve(name)
        except Unresolved as exc:
            self._error(where, repr(name), "name", f"cannot be resolved offline: {exc}", name)
            return
        rname = name if isinstance(name, str) and name else f"#{self.position}"
        resolved: dict[str, Any] = {}
        for key, value in props.items():
            try:
                resolved[key] = ctx.resolve(value)
            except Unresolved as exc:
                self._error(where, rname, key, f"{value} cannot be resolved offline: {exc}", value)
                return
        kind = str(low.get("kind") or "Custom")
        rule = self._parse(rname, resolved, kind, where)
        if rule is not None:
            self.out.rules.append(rule)
        self.position += 1

    def _error(self, where: _Where, name: str, fld: str | None, message: str, value: Any = None) -> None:
        self.out.errors.append(PolicyError(message, file=self.source, record=f"admin rule {where.configuration or '?'}/"
                                           f"{where.collection or '?'}/{name}", field=fld, value=value))

    def _parse(self, name: str, p: dict[str, Any], kind: str, where: _Where) -> AdminRule | None:
        n_err = len(self.out.errors)

        def bad(fld: str, message: str, value: Any = None) -> None:
            if value is not None and repr(value) not in message:
                message += f", got {value!r}"
            self._error(where, name, fld, message, value)

        if kind.lower() not in ("custom", "default"):
            bad("kind", f"{kind!r} is not Custom or Default", kind)
        flag = p.get("flag") if isinstance(p.get("flag"), str) else None
        if kind.lower() == "default" and p.get("access") is None:
            bad("flag", f"a Default admin rule ({flag!r}) without its expanded fields: give the effective or active "
                        "admin-rule list, which carries access, priority, sources and ports", flag)
            return None
        access = _enum(p.get("access"), ACCESS)
        if access is None:
            bad("access", "expected Allow, Deny or AlwaysAllow", p.get("access"))
        direction = _enum(p.get("direction"), {"inbound": "Inbound", "outbound": "Outbound"})
        if direction is None:
            bad("direction", "expected Inbound or Outbound", p.get("direction"))
        protocol = _enum(p.get("protocol"), _PROTOCOLS)
        if protocol is None:
            bad("protocol", "expected Tcp, Udp, Icmp, Esp, Ah or Any", p.get("protocol"))
        raw_prio = p.get("priority")
        priority = 0
        if isinstance(raw_prio, bool) or not isinstance(raw_prio, (int, str)) or not str(raw_prio).strip().isdigit():
            bad("priority", "expected an integer 1-4096", raw_prio)
        elif len(str(raw_prio).strip()) > 9:  # a number past any priority (and past what int() converts)
            bad("priority", "outside 1-4096", raw_prio)
        else:
            priority = int(raw_prio)
            if not 1 <= priority <= 4096:
                bad("priority", f"{priority} is outside 1-4096", raw_prio)
        sources = self._side(p.get("sources"), "sources", bad)
        destinations = self._side(p.get("destinations"), "destinations", bad)
        sports = _ports(p.get("sourceportranges"), "sourcePortRanges", bad)
        dports = _ports(p.get("destinationportranges"), "destinationPortRanges", bad)
        if len(self.out.errors) > n_err or access is None or direction is None or protocol is None:
            return None
        desc = p.get("description")
        guid = p.get("resourceguid")
        return AdminRule(
            name=name, priority=priority, direction=direction, access=access, protocol=protocol,
            sources=sources, source_ports=sports, destinations=destinations, destination_ports=dports,
            collection=where.collection, configuration=where.configuration, network_manager=where.manager,
            applies_to=where.applies_to, kind="Default" if kind.lower() == "default" else "Custom", flag=flag,
            description=desc if isinstance(desc, str) else "", resource_guid=guid if isinstance(guid, str) else None,
            source=self.source, order=(0, priority, self.position),
        )

    def _side(self, items: Any, fld: str, bad: Any) -> tuple[AddressItem, ...]:
        """Address items; an empty list (or a ``*`` IP prefix) is any address."""
        if items in (None, ""):
            return ()
        if not isinstance(items, list):
            bad(fld, "expected a list of {addressPrefix, addressPrefixType} objects", items)
            return ()
        out: list[AddressItem] = []
        any_ = False
        for item in items:
            if not isinstance(item, dict):
                bad(fld, "expected an {addressPrefix, addressPrefixType} object", item)
                continue
            low = _lower(item)
            kind = _enum(low.get("addressprefixtype"), _ADDRESS_TYPES)
            value = low.get("addressprefix")
            if kind is None:
                bad(f"{fld}.addressPrefixType", "expected IPPrefix, ServiceTag or NetworkGroup", low.get("addressprefixtype"))
                continue
            if not isinstance(value, str) or not value.strip():
                bad(f"{fld}.addressPrefix", "expected a non-empty string", value)
                continue
            value = value.strip()
            if kind == "IPPrefix":
                if value in ("*", "Any", "any"):
                    any_ = True
                    continue
                try:
                    parse_prefix(value)
                except AddressError as exc:
                    if "host bits" in str(exc):  # as for NSG rules (product decision 8): the network, with a warning
                        net = ipaddress.ip_network(value, strict=False)
                        self.out.warnings.append(f"{fld} {value!r} has host bits set; evaluated as {net}")
                        value = str(net)
                    else:
                        bad(f"{fld}.addressPrefix", f"{value!r} is not a valid IP address or CIDR", value)
                        continue
            elif kind == "ServiceTag":
                value = CONTEXT_TAGS.get(value.lower(), value)
            else:
                value = _tail(value) or value
            out.append(AddressItem(kind, value))
        return () if any_ else tuple(out)


def _enum(value: Any, allowed: Mapping[str, str]) -> str | None:
    if isinstance(value, str):
        return allowed.get(value.strip().lower().replace(" ", ""))
    return None


class _Bad:
    """``rules._parse_ports`` reports through ``.add(field, message, value)``: hand it to the rule's ``bad``."""

    def __init__(self, bad: Any) -> None:
        self.add = bad


def _ports(items: Any, fld: str, bad: Any) -> tuple[tuple[int, int], ...]:
    """Port ranges as NSG rules take them (rules._parse_ports); missing or empty is any port."""
    if items in (None, "", []):
        return ((0, 65535),)
    if isinstance(items, str):
        items = [items]
    if not isinstance(items, list):
        bad(fld, "expected a list of ports or ranges", items)
        return ((0, 65535),)
    return _parse_ports(items, fld, _Bad(bad))  # type: ignore[arg-type]


def _looks_like_rule(low: dict[str, Any]) -> bool:
    props = low.get("properties")
    keys = set(_lower(props)) if isinstance(props, dict) else set(low)
    t = str(low.get("type") or "").lower()
    return t.endswith("rulecollections/rules") or ({"access", "priority", "direction"} <= keys) or \
        (str(low.get("kind") or "").lower() == "default" and "flag" in keys)


def read_admin_rules(
    source: str | Path | Any, *, collection: str | None = None, params: Mapping[str, Any] | None = None,
    source_name: str | None = None, deployment: Any = None,
) -> AdminRules:
    """Every admin rule of one input (errors and warnings collected), optionally one collection of it."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        doc = _read_json(path)
        src: str | None = str(path)
    else:
        doc, src = source, source_name
    reader = _Reader(src, params or {}, deployment)
    reader.read(doc, _Where())
    out = reader.out
    if collection is not None:
        out = _select(out, collection, src)
    return AdminRules.combine([out])


def _select(rules: AdminRules, selector: str, source: str | None) -> AdminRules:
    """``COLLECTION``, ``CONFIGURATION/COLLECTION`` or ``CONFIGURATION/*`` (case-insensitive)."""
    sel = selector.strip().lower()
    config, _, coll = sel.rpartition("/")

    def hit(r: AdminRule) -> bool:
        if config and r.configuration.lower() != config:
            return False
        return coll == "*" or r.collection.lower() == coll

    chosen = [r for r in rules.rules if hit(r)]
    if not chosen:
        have = sorted({r.label for r in rules.rules})
        raise PolicyError(f"no rule collection {selector!r}; the input holds {', '.join(have) or 'no admin rules'}",
                          file=source, field="--admin-rules FILE:COLLECTION", value=selector)
    return AdminRules(rules=chosen, errors=rules.errors, warnings=rules.warnings, sources=rules.sources)


def load_admin_rules(source: str | Path | Any, *, collection: str | None = None,
                     params: Mapping[str, Any] | None = None, deployment: Any = None) -> AdminRules:
    """Read and validate; raises the first error (with a count of the others)."""
    if isinstance(source, str) and collection is None:
        source, collection = split_admin_ref(source)
    out = read_admin_rules(source, collection=collection, params=params, deployment=deployment)
    out.raise_first()
    if not out.rules:
        raise PolicyError("no security admin rule found", file=str(source) if isinstance(source, (str, Path)) else None)
    return out


AdminSource = Any  # AdminRules, "FILE[:COLLECTION]", a Path, a parsed document, or a list of these


def admin_rules_of(source: AdminSource, params: Mapping[str, Any] | None = None, deployment: Any = None) -> AdminRules | None:
    """``Policy(admin_rules=...)``: one input or several (configurations in the order given)."""
    if source is None:
        return None
    if isinstance(source, AdminRules):
        return source
    items: Sequence[Any] = source if isinstance(source, (list, tuple)) and not _is_rule_list(source) else [source]
    parts = [s if isinstance(s, AdminRules) else load_admin_rules(s, params=params, deployment=deployment) for s in items]
    out = AdminRules.combine(parts)
    out.raise_first()
    return out


def _is_rule_list(value: Sequence[Any]) -> bool:
    return bool(value) and all(isinstance(x, dict) for x in value)



# -- flow-log names --------------------------------------------------------------------------------
def admin_names(labels: Mapping[str, Sequence[Any]]) -> frozenset[str]:
    """The (lower-cased) flow-log names of the admin rules in a compiled policy's labels."""
    layer = labels.get("layer")
    if not layer:
        return frozenset()
    return frozenset(str(n).lower() for n, l in zip(labels["log_rule"], layer) if l == "admin")


#: logged rule names that are neither NSG nor admin rules (platform traffic, encryption drops, no rule)
NOT_RULES = frozenset({"", "unspecified", "platformrule"})


def logged_admin_rule(logged: str, names: frozenset[str]) -> bool:
    """Whether a logged rule name (lower-cased) is compared with the admin rules of a policy that has some.

    With admin rules given, every logged name that is not an NSG name (``UserRule_``/``DefaultRule_``,
    checked by the caller), ``PlatformRule`` or ``unspecified`` is an admin rule's: one the policy does
    not have is a rule disagreement, not an unknown.
    """
    return bool(names) and logged not in NOT_RULES


class AdminMatches:
    """Flows each admin rule matched first in the admin stage, whatever its action.

    An Allow admin rule hands its flows to the NSGs, which report them, so hits per deciding rule
    never show it; replay reports count these matches beside the hits (``matched``).
    """

    def __init__(self, policy: Any, labels: Mapping[str, Sequence[Any]]) -> None:
        self.compiled = policy.compile_admin_stage()
        index = {(n, r, d): i for i, (n, r, d, l) in enumerate(zip(labels["nsg"], labels["rule"], labels["direction"],
                                                                    labels.get("layer") or [None] * len(labels["rule"])))
                 if l == "admin"}
        a = self.compiled.labels
        self.to_full = [index[(n, r, d)] for n, r, d in zip(a["nsg"], a["rule"], a["direction"])] + [-1]
        self.counts: dict[int, int] = {}

    @classmethod
    def of(cls, policy: Any, labels: Mapping[str, Sequence[Any]]) -> "AdminMatches | None":
        """None when no admin rule is an Allow (then hits already count every match)."""
        rules = getattr(policy, "admin_rules", None)
        if rules is None or not any(r.access == "Allow" for r in rules.rules):
            return None
        return cls(policy, labels)

    def add(self, flows: Any, ok: Any, threads: int | None = None) -> None:
        import numpy as np

        from .evaluate import classify

        rule, _ = classify(self.compiled, flows, threads)
        rule = np.where(np.asarray(ok, bool) & (rule >= 0), rule, len(self.to_full) - 1)
        for r, n in zip(*np.unique(rule, return_counts=True)):
            full = self.to_full[int(r)]
            if full >= 0:
                self.counts[full] = self.counts.get(full, 0) + int(n)


def lint(ref: str, tags: Any, params: Mapping[str, Any] | None = None, deployment: Any = None) -> dict[str, Any]:
    """Every problem of one admin-rule input (``adu-fw lint --admin-rules``): errors, unknown tags, warnings."""
    path, selector = split_admin_ref(ref)
    rules = read_admin_rules(path, collection=selector, params=params, deployment=deployment)
    problems = [{"record": e.record, "field": e.field, "message": e.message, "text": str(e)} for e in rules.errors]
    for r in rules.rules:
        for fld, side in (("sources", r.sources), ("destinations", r.destinations)):
            for item in side:
                if item.kind == "ServiceTag" and item.value.lower() not in CONTEXT_TAGS and item.value not in tags:
                    rec, msg = f"admin rule {r.path}", f"unknown service tag {item.value!r} (not in {tags.source})"
                    problems.append({"record": rec, "field": fld, "message": msg, "text": f"{path}: {rec}: field {fld!r}: {msg}"})
    return {"file": path, "rules": len(rules.rules), "collections": rules.collections(), "problems": problems,
            "warnings": list(rules.warnings)}

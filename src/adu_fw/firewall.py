"""Azure Firewall policies: reading, Azure's rule order, a reference evaluator and bulk evaluation.

Semantics (docs/azure-semantics.md §3): DNAT rules, then network rules, then application rules,
whatever the groups' numbers; within a type, parent-policy rule collection groups before the
child's, then group priority, collection priority, rules top-down; default deny. A DNAT match is
translated and allowed. Network rules: TCP / UDP / ICMP / Any (Any with explicit ports is TCP+UDP,
Any with ``*`` ports every protocol); addresses are IPs, CIDRs, ``a-b`` ranges, IP Groups (an empty
group skips the rule), service tags (destination only) and FQDNs resolved through a DNS map the
user gives (unresolved ones are reported and match nothing). Application rules match flows that
carry an ``fqdn`` (HTTP Host / TLS SNI) on their protocol's port, by exact name or ``*.`` wildcard;
flows without one cannot match them. The infrastructure rule collection is not modelled.
"""
from __future__ import annotations

import fnmatch
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pyarrow as pa

from . import jsonio
from .arm import Deployment, Unknown, Unresolved, expand
from .arm.expr import name_handles
from .arm.scope import Context, Scope, placeholder_name
from .arm.values import first_unknown
from .compile import PORTED_TCP_UDP, CompiledPolicy, MatchRule, assemble, build_classifier
from .errors import PolicyError
from .jsonpos import read_json
from .servicetags import ServiceTags, load_cached

__all__ = ["FirewallRule", "FirewallPolicy", "FirewallVerdict", "rule_order"]

KINDS = ("nat", "network", "application")
_PROTO = {"tcp": 6, "udp": 17, "icmp": 1}
APP_PORTS = {"http": 80, "https": 443, "mssql": 1433}


@dataclass
class FirewallRule:
    kind: str  # nat | network | application
    name: str
    collection: str
    group: str
    depth: int  # 0 = the root parent policy; children have higher depth and come later
    group_priority: int
    collection_priority: int
    position: int  # top-down order inside the collection
    action: str  # Allow | Deny | Dnat
    protocols: frozenset[int] | None  # None = any
    sources: list[str] = field(default_factory=list)  # prefixes after IP Groups / ranges
    destinations: list[str] | None = None  # None = any; prefixes (tags and FQDNs expanded)
    ports: tuple[tuple[int, int], ...] = ((0, 65535),)
    app_protocols: list[tuple[str, int]] = field(default_factory=list)
    target_fqdns: list[str] = field(default_factory=list)
    translated: str | None = None
    skipped: str | None = None  # why the rule can never match (an empty IP Group) or was not read
    any_source: bool = False
    #: the rule could not be read offline (reference(), a missing parameter...): set aside, named in notes
    unread: bool = False

    @property
    def key(self) -> tuple[int, int, int, int, int]:
        return (KINDS.index(self.kind), self.depth, self.group_priority, self.collection_priority, self.position)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "collection": self.collection, "group": self.group,
                "action": self.action, "skipped": self.skipped}


@dataclass
class FirewallVerdict:
    access: str
    rule: str | None
    collection: str | None
    group: str | None
    kind: str | None
    translated: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        return self.access == "Allow"

    def to_dict(self) -> dict[str, Any]:
        return {"access": self.access, "rule": self.rule, "collection": self.collection, "group": self.group,
                "kind": self.kind, "translated": self.translated, "notes": self.notes}


def rule_order(rules: Sequence[FirewallRule]) -> list[FirewallRule]:
    """Azure's processing order."""
    return sorted(rules, key=lambda r: r.key)


def _lower(d: Any) -> dict[str, Any]:
    """Keys lower-cased; anything not an object reads as an empty one (absent properties)."""
    return {k.lower(): v for k, v in d.items() if isinstance(k, str)} if isinstance(d, Mapping) else {}


def _seq(value: Any, source: str | None, where: str, field_: str) -> list[Any]:
    """A list field: absent is empty; anything else but a list is an error naming the field."""
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return value
    raise PolicyError(f"expected a list, got {value!r}", file=source, record=where, field=field_)


def _ports(values: Any, where: str, source: str | None) -> tuple[tuple[int, int], ...]:
    if not values:
        return ((0, 65535),)
    out = []
    for v in values if isinstance(values, list) else [values]:
        text = str(v).strip()
        if text in ("*", "Any"):
            return ((0, 65535),)
        lo, _, hi = text.partition("-")
        try:
            a, b = int(lo), int(hi or lo)
        except ValueError:
            raise PolicyError(f"{jsonio.shown(text)} is not a port or range", file=source, record=where, field="destinationPorts") from None
        if not 0 <= a <= b <= 65535:
            raise PolicyError(f"{text!r}: ports are 0-65535, ranges in order", file=source, record=where, field="destinationPorts")
        out.append((a, b))
    return tuple(sorted(out))


class FirewallPolicy:
    """A firewall policy (with its parents), ready to check single flows and evaluate many."""

    def __init__(self, rules: list[FirewallRule], *, service_tags: ServiceTags, notes: list[str], source: str | None = None,
                 name: str = "firewall") -> None:
        self.rules = rule_order(rules)
        self.service_tags = service_tags
        self.notes = notes
        self.source = source
        self.name = name
        self._compiled: CompiledPolicy | None = None

    # -- reading ------------------------------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        source: str | Path | Any,
        *,
        name: str | None = None,
        ip_groups: Mapping[str, Sequence[str]] | None = None,
        dns: Mapping[str, Sequence[str] | str] | None = None,
        service_tags: ServiceTags | str | Path | None = None,
        params: Mapping[str, Any] | None = None,
        parents: Sequence[str | Path | Any] = (),
        deployment: Deployment | Mapping[str, Any] | None = None,
    ) -> "FirewallPolicy":
        """Read a policy (ARM template, REST/az output, or a classic azureFirewalls resource).

        ``parents`` are parent policies (outermost first) when they live in other files; in one
        template, ``basePolicy`` references are followed. A template holding several policies needs
        ``name`` (or ``"FILE:NAME"``): a policy's or a firewall's name, symbolic name, or ``#N``.
        IP Groups the template defines (``Microsoft.Network/ipGroups``) are read; ``ip_groups``
        overrides them. ``params`` and ``deployment`` (:class:`adu_fw.arm.Deployment`) are as for NSGs;
        a rule that still cannot be read offline is set aside and named in ``notes``.
        """
        from .nsg import split_ref

        if isinstance(source, str) and name is None:
            source, name = split_ref(source)
        tags = service_tags if isinstance(service_tags, ServiceTags) else load_cached(service_tags)
        reader = _Reader(tags, {k.lower(): list(v) for k, v in (ip_groups or {}).items()},
                         {k.lower().rstrip("."): ([v] if isinstance(v, str) else list(v)) for k, v in (dns or {}).items()},
                         dict(params or {}), Deployment.of(deployment))
        docs = [(_load_doc(p), str(p) if isinstance(p, (str, Path)) else None) for p in parents]
        docs.append((_load_doc(source), str(source) if isinstance(source, (str, Path)) else None))
        for depth, (doc, src) in enumerate(docs):
            reader.read(doc, src, depth * 16, name if depth == len(docs) - 1 else None)
        fw = cls(reader.rules, service_tags=tags, notes=reader.notes,
                 source=str(source) if isinstance(source, (str, Path)) else None, name=reader.name or "firewall")
        return fw

    @property
    def unread(self) -> list[FirewallRule]:
        """Rules set aside because they could not be read offline (named in ``notes``)."""
        return [r for r in self.rules if r.unread]

    # -- one flow -------------------------------------------------------------------------------------------
    def check(self, protocol: str | int, src: str, src_port: int, dst: str, dst_port: int, *, fqdn: str | None = None) -> FirewallVerdict:
        """The reference evaluator: the rules in Azure's order, first match wins, default deny."""
        from .rules import protocol_number

        proto = protocol_number(protocol)
        if proto is None:
            raise PolicyError("a flow has one protocol", field="protocol")
        try:
            s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
        except ValueError as exc:
            raise PolicyError(str(exc), field="src/dst") from None
        notes: list[str] = []
        unread: list[FirewallRule] = []

        def verdict(v: FirewallVerdict) -> FirewallVerdict:
            if unread:  # a rule before the deciding one was not read: it might have decided instead
                names = ", ".join(f"{r.kind} rule {r.group}/{r.collection}/{r.name}" for r in unread[:5])
                more = f" and {len(unread) - 5} more" if len(unread) > 5 else ""
                v.notes.append(f"uncertain: {names}{more} come(s) before the deciding rule and could not be read offline "
                               "(see the notes); this answer assumes they do not match")
            return v

        for r in self.rules:
            if r.unread:
                unread.append(r)
                continue
            if r.skipped:
                continue
            if r.kind in ("nat", "network"):
                if _rule_matches(r, proto, s, dst_port, d):
                    if r.kind == "nat":
                        return verdict(FirewallVerdict("Allow", r.name, r.collection, r.group, "nat", r.translated))
                    return verdict(FirewallVerdict(r.action, r.name, r.collection, r.group, "network"))
            else:
                if fqdn is None:
                    continue
                if proto == 6 and any(port == dst_port for _, port in r.app_protocols) and _in(r.sources, s, r.any_source) \
                        and any(_fqdn_match(p, fqdn) for p in r.target_fqdns):
                    return verdict(FirewallVerdict(r.action, r.name, r.collection, r.group, "application"))
        if fqdn is None and any(r.kind == "application" and not r.skipped for r in self.rules):
            notes.append("the flow carries no FQDN: application rules could not match it")
        return verdict(FirewallVerdict("Deny", None, None, None, None, notes=notes))

    # -- bulk ----------------------------------------------------------------------------------------------------
    def compile(self) -> CompiledPolicy:
        """DNAT and network rules through the compiled matcher (application rules need FQDNs: see evaluate)."""
        if self._compiled is None:
            active = [r for r in self.rules if r.kind in ("nat", "network") and not r.skipped and not r.unread]
            mrules = [MatchRule(r.protocols, None if r.any_source else tuple(r.sources), ((0, 65535),),
                                None if r.destinations is None else tuple(r.destinations), r.ports, r.action == "Deny")
                      for r in active]
            clf = build_classifier(mrules, PORTED_TCP_UDP)
            labels = {"rule": [r.name for r in active], "nsg": [r.collection for r in active],
                      "log_rule": [f"{r.kind}:{r.group}/{r.collection}/{r.name}" for r in active],
                      "priority": [r.collection_priority for r in active],
                      "access": ["Allow" if r.kind == "nat" else r.action for r in active], "direction": ["Any"] * len(active)}
            deny = np.array([r.action == "Deny" and r.kind != "nat" for r in active], np.uint8)
            self._compiled = CompiledPolicy(assemble([clf], [[0], [0]], deny), labels)
        return self._compiled

    def evaluate(self, flows: Any, *, threads: int | None = None) -> pa.Table:
        """Every flow: DNAT/network rules compiled; flows no such rule matched go to application rules
        (when the flows carry ``fqdn``), then to the default deny. ``direction`` is optional."""
        from .evaluate import classify
        from .flowtable import columns_of, flow_arrays

        cols = dict(columns_of(flows))
        n = len(next(iter(cols.values()))) if cols else 0
        if "direction" not in cols:
            cols["direction"] = np.zeros(n, np.uint8)
        fa = flow_arrays(cols)
        compiled = self.compile()
        rule_idx, allow = classify(compiled, fa, threads) if compiled.n_rules else (np.full(n, -1, np.int32), np.zeros(n, np.uint8))
        names = np.array(compiled.labels["rule"] + [None], dtype=object)
        access = np.where(allow == 1, "Allow", "Deny").astype(object)
        rule = names[np.where(rule_idx >= 0, rule_idx, len(names) - 1)]
        kind = np.array([("nat" if l.startswith("nat:") else "network") for l in compiled.labels["log_rule"]] + [None], dtype=object)[
            np.where(rule_idx >= 0, rule_idx, len(names) - 1)]
        unmatched = rule_idx == -1
        app_rules = [r for r in self.rules if r.kind == "application" and not r.skipped]
        fqdn_col = cols.get("fqdn", cols.get("sni", cols.get("host")))
        no_fqdn = 0
        if unmatched.any() and app_rules:
            fq = np.asarray(pa.array(fqdn_col).to_pylist() if fqdn_col is not None else [None] * n, dtype=object)
            for i in np.flatnonzero(unmatched).tolist():
                if fq[i] is None:
                    no_fqdn += 1
                    continue
                src, _ = fa.addresses()
                s = ipaddress.ip_address((int(src.hi[i]) << 64 | int(src.lo[i])) if src.family[i] == 6 else int(src.lo[i]))
                for r in app_rules:
                    if fa.protocol[i] == 6 and any(p == fa.dst_port[i] for _, p in r.app_protocols) and _in(r.sources, s, r.any_source) \
                            and any(_fqdn_match(p, fq[i]) for p in r.target_fqdns):
                        access[i], rule[i], kind[i] = r.action, r.name, "application"
                        break
        rejected = rule_idx == -2
        access[rejected] = None
        reasons = fa.reasons()
        labels = compiled.labels
        idx = np.where(rule_idx >= 0, rule_idx, len(labels["rule"]))
        collection = np.array(labels["nsg"] + [None], dtype=object)[idx]
        log_rule = np.array(labels["log_rule"] + [None], dtype=object)[idx]
        app = kind == "application"
        if app.any():  # application rules are decided outside the matcher: label them here
            by_name = {(r.name, r.kind): r for r in self.rules if r.kind == "application"}
            for i in np.flatnonzero(app).tolist():
                r = by_name.get((rule[i], "application"))
                if r is not None:
                    collection[i] = r.collection
                    log_rule[i] = f"application:{r.group}/{r.collection}/{r.name}"
        allowed = np.array([a == "Allow" if a is not None else None for a in access], dtype=object)
        return pa.table({
            "access": pa.array(access, pa.string()),
            "allowed": pa.array(allowed, pa.bool_()),
            "rule": pa.array(rule, pa.string()),
            "rule_index": pa.array(rule_idx),
            "nsg": pa.array(collection, pa.string()),
            "log_rule": pa.array(log_rule, pa.string()),
            "kind": pa.array(kind, pa.string()),
            "reject_reason": pa.array(reasons, pa.string()) if reasons is not None else pa.nulls(n, pa.string()),
        }).replace_schema_metadata({"flows_without_fqdn_unmatched": str(no_fqdn)})


def _in(prefixes: list[str], addr: Any, any_: bool) -> bool:
    if any_:
        return True
    return any(ipaddress.ip_network(p, strict=False).version == addr.version and addr in ipaddress.ip_network(p, strict=False)
               for p in prefixes)


def _rule_matches(r: FirewallRule, proto: int, s: Any, dport: int, d: Any) -> bool:
    if r.protocols is not None and proto not in r.protocols:
        return False
    if proto in (6, 17) and not any(a <= dport <= b for a, b in r.ports):
        return False
    if not _in(r.sources, s, r.any_source):
        return False
    return r.destinations is None or _in(r.destinations, d, False)


def _fqdn_match(pattern: str, fqdn: str) -> bool:
    p, f = pattern.lower().rstrip("."), fqdn.lower().rstrip(".")
    if p == "*":
        return True
    if p.startswith("*."):
        return f.endswith(p[1:]) or fnmatch.fnmatchcase(f, p)
    return p == f


def _priority(value: Any, source: str | None, where: str) -> int:
    """A priority as an int (absent: 0); anything else is an error naming where it is."""
    if value is None or value == "":
        return 0
    number = jsonio.small_int(value)
    if number is None:
        raise PolicyError(f"expected an integer, got {jsonio.shown(value)}", file=source, record=where, field="priority")
    return number


def _load_doc(source: Any) -> Any:
    """A parsed document as given, or a file read as templates are (``jsonpos.read_json``)."""
    return read_json(source) if isinstance(source, (str, Path)) else source


FP = "microsoft.network/firewallpolicies"
FP_RCG = FP + "/rulecollectiongroups"
FP_RG2019 = FP + "/rulegroups"
AZFW = "microsoft.network/azurefirewalls"
IPGROUPS = "microsoft.network/ipgroups"
_RULE_FIELDS = ("name", "ruletype", "ipprotocols", "protocols", "sourceaddresses", "sourceipgroups", "destinationaddresses",
                "destinationipgroups", "destinationfqdns", "destinationports", "targetfqdns", "fqdntags", "translatedaddress",
                "translatedfqdn", "translatedport", "ruleconditiontype")


def _action(value: Any, where: str, source: str | None) -> str:
    """An action in Azure's casing (``Allow``/``Deny``/``Dnat``), whatever the document wrote."""
    text = str(value or "Allow").strip().lower()
    for canon in ("Allow", "Deny", "Dnat"):
        if text == canon.lower():
            return canon
    raise PolicyError(f"{value!r} is not Allow, Deny or Dnat", file=source, record=where, field="action")


@dataclass
class _Unit:
    """A firewall policy (or a classic firewall's own rules) found in a template."""

    kind: str  # "policy" | "classic"
    name: str
    resource: Any
    handles: list[str] = field(default_factory=list)
    base: str | None = None
    groups: list[Any] = field(default_factory=list)
    policy_ref: str | None = None  # a firewall using a policy


class _Reader:
    def __init__(self, tags: ServiceTags, ip_groups: dict[str, list[str]], dns: dict[str, list[str]], params: dict[str, Any],
                 deployment: Deployment) -> None:
        self.tags, self.ip_groups, self.dns, self.params, self.deployment = tags, ip_groups, dns, params, deployment
        self.template_groups: dict[str, list[str]] = {}
        self.rules: list[FirewallRule] = []
        self.notes: list[str] = []
        self.name: str | None = None
        self.source: str | None = None

    def _flat(self, value: Any) -> Any:
        scope = Scope({}, Context(self.deployment), given=dict(self.params), user_given=True)
        return scope.resolve(value)

    def read(self, doc: Any, source: str | None, depth: int, name: str | None = None) -> None:
        self.source = source
        if isinstance(doc, list):  # az network firewall policy rule-collection-group list
            for g in doc:
                if isinstance(g, dict):
                    gl = _lower(self._flat(g))
                    self._group(gl.get("properties"), str(gl.get("name", "group")).split("/")[-1], source, depth)
            return
        if not isinstance(doc, dict):
            raise PolicyError("expected a JSON object or list", file=source)
        top = _lower(doc)
        if isinstance(top.get("resources"), (list, dict)):
            self._template(doc, source, depth, name)
            return
        props = _lower(top.get("properties") or top) if isinstance(top.get("properties") or top, dict) else {}
        if "rulecollections" in props:
            self._group(self._flat(top.get("properties") or top), str(top.get("name", "group")).split("/")[-1], source, depth)
        elif isinstance(props.get("rulecollectiongroups"), list) and props["rulecollectiongroups"] \
                and isinstance(props["rulecollectiongroups"][0], dict) and "properties" in _lower(props["rulecollectiongroups"][0]):
            for g in props["rulecollectiongroups"]:
                gl = _lower(self._flat(g))
                self._group(gl.get("properties"), str(gl.get("name", "group")).split("/")[-1], source, depth)
        elif any(k in props for k in ("networkrulecollections", "applicationrulecollections", "natrulecollections")):
            self._classic(self._flat(top.get("properties") or top), source)
        else:
            raise PolicyError("not a firewall policy: expected rule collection groups, a template, or classic rule collections", file=source)

    # -- templates ------------------------------------------------------------------------------------------------
    def _template(self, doc: dict[str, Any], source: str | None, depth: int, want: str | None) -> None:
        stem = Path(source).stem if source else None
        exp = expand(doc, [FP, FP_RCG, FP_RG2019, AZFW, IPGROUPS], params=self.params, deployment=self.deployment,
                     source=source, default_name=stem)
        for p in exp.problems:
            self.notes.append(str(p))
        for r in exp.resources:
            if r.type_lower == IPGROUPS:
                gname = r.full_name()
                props = r.get("properties")
                addrs = _lower(props).get("ipaddresses") if isinstance(props, dict) else None
                if isinstance(gname, str):
                    unknown = addrs if isinstance(addrs, Unknown) else first_unknown(addrs)
                    if isinstance(addrs, list) and unknown is None:
                        bad = [a for a in addrs if not _is_address_item(a)]
                        if bad:  # a sample's placeholder ("xx.xx.xx.xx"): the document cannot say, so set its rules aside
                            self.template_groups.setdefault(gname.lower(), _SetAside(
                                f"IP Group {gname!r} as the template defines it holds {bad[0]!r}, which is not an IP, CIDR or "
                                f"a-b range; give its members with --ip-group {gname}=IP,..."))
                        else:
                            self.template_groups.setdefault(gname.lower(), [str(a) for a in addrs])
                    elif unknown is not None:
                        self.template_groups.setdefault(gname.lower(), unknown)
                    else:
                        self.template_groups.setdefault(gname.lower(), _SetAside(
                            f"IP Group {gname!r} lists no ipAddresses in the template; give them with --ip-group {gname}=IP,..."))
        units: list[_Unit] = []
        by_resource: dict[int, _Unit] = {}
        for r in exp.resources:
            if r.type_lower not in (FP, AZFW):
                continue
            name, handles, warn = _resource_name(r, "firewall policy" if r.type_lower == FP else "firewall")
            if warn:
                self.notes.append(warn)
            props = r.get("properties")
            pl = _lower(props) if isinstance(props, dict) else {}
            if r.type_lower == FP:
                base = _lower(pl.get("basepolicy")).get("id") if isinstance(pl.get("basepolicy"), dict) else None
                unit = _Unit("policy", name, r, handles, base=_last_segment(base))
            else:
                ref = _lower(pl.get("firewallpolicy")).get("id") if isinstance(pl.get("firewallpolicy"), dict) else None
                classic = any(pl.get(k) for k in ("networkrulecollections", "applicationrulecollections", "natrulecollections"))
                unit = _Unit("classic" if classic and not ref else "firewall", name, r, handles, policy_ref=_last_segment(ref))
            units.append(unit)
            by_resource[id(r)] = unit
        for r in exp.resources:
            if r.type_lower not in (FP_RCG, FP_RG2019):
                continue
            owner = by_resource.get(id(r.parent)) if r.parent is not None else None
            full = r.full_name()
            if owner is None:
                if not isinstance(full, str):
                    policies_here = [u for u in units if u.kind == "policy"]
                    if len(policies_here) == 1:  # the template's only policy: the group is its, whatever its name
                        policies_here[0].groups.append(r)
                        continue
                    reason = full.error if isinstance(full, Unknown) else "not text"
                    raise PolicyError(f"rule collection group {r.raw_name}: its name cannot be resolved offline ({reason}), "
                                      "so the policy it belongs to is not known", file=source)
                pname = full.split("/")[0].lower()
                owner = next((u for u in units if u.kind == "policy" and pname in [u.name.lower()] + [h.lower() for h in u.handles]), None)
                if owner is None:
                    owner = _Unit("policy", full.split("/")[0], None)
                    units.append(owner)
            owner.groups.append(r)
        self._choose(units, want, source, depth)

    def _choose(self, units: list[_Unit], want: str | None, source: str | None, depth: int) -> None:
        policies = {u.name.lower(): u for u in units if u.kind == "policy"}
        bases = {u.base for u in units if u.kind == "policy" and u.base}
        candidates = [u for u in units if (u.kind == "policy" and u.name.lower() not in bases) or u.kind == "classic"]
        if want is not None:
            w = want.lower()
            if w.startswith("#") and w[1:].isdigit() and 1 <= int(w[1:]) <= len(candidates):
                chosen = candidates[int(w[1:]) - 1]
            else:
                found = [u for u in units if w in [u.name.lower()] + [h.lower() for h in u.handles]]
                if not found:
                    raise PolicyError(f"no firewall policy or firewall named {want!r}; the file holds {_unit_list(units)}", file=source)
                chosen = found[0]
            if chosen.kind == "firewall":
                ref = chosen.policy_ref
                if ref is None or ref not in policies:
                    raise PolicyError(f"firewall {chosen.name!r} uses policy {ref!r}, which the file does not define", file=source)
                chosen = policies[ref]
        else:
            if not candidates:
                why = "; ".join(self.notes)
                raise PolicyError("the template defines no firewall policy (firewallPolicies) or classic firewall rule "
                                  "collections (azureFirewalls) that can be read" + (f": {why}" if why else ""), file=source)
            if len(candidates) > 1:
                raise PolicyError(f"the file holds {len(candidates)} firewall policies ({_unit_list(candidates)}); choose one "
                                  "with FILE:NAME (a base policy is read with the policy that uses it)", file=source)
            chosen = candidates[0]
        self.name = chosen.name
        if chosen.kind == "classic":
            props = chosen.resource.get("properties")
            self._classic(props, source)
            return
        chain = [chosen]
        while chain[0].base and chain[0].base in policies and len(chain) < 16:
            chain.insert(0, policies[chain[0].base])
        if chain[0].base and chain[0].base not in policies:
            self.notes.append(f"policy {chain[0].name!r} has base policy {chain[0].base!r}, which this file does not define: "
                              "give it with parents=[...] (its rules come first in Azure)")
        for level, unit in enumerate(chain):
            if not unit.groups:
                self.notes.append(f"firewall policy {unit.name!r} has no rule collection groups in this file")
            for g in unit.groups:
                gname = g.full_name()
                if not isinstance(gname, str):
                    gname = placeholder_name(g.scope, g.raw.get("name"), g.env) or g.symbolic or g.raw_name or "group"
                gname = gname.split("/")[-1]
                if g.conditional:
                    self.notes.append(f"rule collection group {gname!r}: {g.conditional}")
                props = g.get("properties")
                if g.type_lower == FP_RG2019:
                    self._rule_group_2019(props, gname, source, depth + level)
                else:
                    self._group(props, gname, source, depth + level)

    # -- rule collection groups -------------------------------------------------------------------------------------
    def _unread(self, kind: str, name: str, coll: str, group: str, depth: int, gprio: int, cprio: int, pos: int,
                reason: str, action: str = "unknown", *, cause: Any = None) -> None:
        """Set a rule (or a whole collection, ``name`` ``*``) aside when what it needs is the state of a
        deployed resource (``reference()``) or an IP Group the template gives no real members for;
        anything else missing (a parameter, the location) refuses the policy, naming it."""
        where = f"{kind} rule {group}/{coll}/{name}"
        if isinstance(cause, Unknown) and not cause.needs_state:
            raise PolicyError(f"cannot be resolved offline: {cause.error}", file=self.source, record=where)
        rule = FirewallRule(kind, name, coll, group, depth, gprio, cprio, pos, "Dnat" if kind == "nat" else action, None,
                            destinations=[], any_source=False)
        rule.skipped = f"not read: {reason}"
        rule.unread = True
        self.rules.append(rule)
        self.notes.append(f"{where}: not read ({reason}); the rest of the policy is read")

    def _group(self, props: Any, name: str, source: str | None, depth: int) -> None:
        if isinstance(props, Unknown) or not isinstance(props, dict):
            reason = props.error if isinstance(props, Unknown) else "it has no properties"
            self._unread("network", "*", "*", name, depth, -1, -1, 0, f"rule collection group {name!r}: {reason}", cause=props)
            return
        pl = _lower(props)
        prio = pl.get("priority")
        if isinstance(prio, Unknown):
            self._unread("network", "*", "*", name, depth, -1, -1, 0, f"its priority is unknown ({prio.error})", cause=prio)
            return
        prio = _priority(prio, self.source, f"rule collection group {name}")
        colls = pl.get("rulecollections")
        if isinstance(colls, Unknown):
            self._unread("network", "*", "*", name, depth, prio, -1, 0, f"its rule collections are unknown ({colls.error})", cause=colls)
            return
        for ci, coll in enumerate(_seq(colls, self.source, f"rule collection group {name}", "ruleCollections")):
            c = _lower(coll) if isinstance(coll, dict) else {}
            cname = c.get("name") if isinstance(c.get("name"), str) else f"collection{ci}"
            bad = next((c[k] for k in ("rulecollectiontype", "action", "priority") if isinstance(c.get(k), Unknown)), None) \
                if c else Unknown(Unresolved("the collection is not an object"))
            if isinstance(coll, Unknown):
                bad = coll
            if bad is not None:
                self._unread("network", "*", cname, name, depth, prio, -1, 0, f"collection {cname!r}: {bad.error}", cause=bad)
                continue
            ctype = str(c.get("rulecollectiontype", "")).lower()
            cprio = _priority(c.get("priority"), self.source, f"rule collection {name}/{cname}")
            action = _action(_lower(c.get("action") or {}).get("type", "Allow"), f"collection {name}/{cname}", source)
            rules = c.get("rules")
            if isinstance(rules, Unknown):
                self._unread("network", "*", cname, name, depth, prio, cprio, 0, f"its rules are unknown ({rules.error})", cause=rules)
                continue
            for ri, rule in enumerate(_seq(rules, self.source, f"collection {name}/{cname}", "rules")):
                self._rule(rule, "nat" if "nat" in ctype else None, cname, name, depth, prio, cprio, ri, action, source)

    def _rule_group_2019(self, props: Any, name: str, source: str | None, depth: int) -> None:
        """``firewallPolicies/ruleGroups`` (API 2019-06-01): each FilterRule is a collection of rule
        conditions, each NatRule a DNAT collection of one."""
        if isinstance(props, Unknown) or not isinstance(props, dict):
            reason = props.error if isinstance(props, Unknown) else "it has no properties"
            self._unread("network", "*", "*", name, depth, -1, -1, 0, f"rule group {name!r}: {reason}", cause=props)
            return
        pl = _lower(props)
        prio = _priority(pl.get("priority"), self.source, f"rule group {name}") if not isinstance(pl.get("priority"), Unknown) else -1
        rules = pl.get("rules")
        if isinstance(rules, Unknown):
            self._unread("network", "*", "*", name, depth, prio, -1, 0, f"its rules are unknown ({rules.error})", cause=rules)
            return
        for ri, rule in enumerate(_seq(rules, self.source, f"rule group {name}", "rules")):
            if not isinstance(rule, dict):
                continue
            rl = _lower(rule)
            rname = rl.get("name") if isinstance(rl.get("name"), str) else f"rule{ri}"
            rtype = str(rl.get("ruletype", "")).lower()
            rprio = (_priority(rl.get("priority"), self.source, f"rule {name}/{rname}")
                     if not isinstance(rl.get("priority"), Unknown) else -1)
            act = rl.get("action")
            if isinstance(act, Unknown) or (isinstance(act, dict) and isinstance(_lower(act).get("type"), Unknown)):
                self._unread("network", "*", rname, name, depth, prio, rprio, 0, "its action is unknown",
                             cause=act if isinstance(act, Unknown) else _lower(act).get("type"))
                continue
            action = _action(_lower(act or {}).get("type", "Allow"), f"rule {name}/{rname}", source)
            if "nat" in rtype:
                cond = rl.get("rulecondition")
                merged = dict(_lower(cond)) if isinstance(cond, dict) else {}
                for k in ("translatedaddress", "translatedport", "translatedfqdn"):
                    if k in rl:
                        merged[k] = rl[k]
                merged.setdefault("name", rname)
                self._rule(merged if isinstance(cond, dict) else cond, "nat", rname, name, depth, prio, rprio, 0, "Dnat", source)
            else:
                conds = rl.get("ruleconditions")
                if isinstance(conds, Unknown):
                    self._unread("network", "*", rname, name, depth, prio, rprio, 0, f"its conditions are unknown ({conds.error})", cause=conds)
                    continue
                for ci, cond in enumerate(_seq(conds, self.source, f"rule {name}/{rname}", "ruleConditions")):
                    ctype = str(_lower(cond).get("ruleconditiontype", "")).lower() if isinstance(cond, dict) else ""
                    kind = "application" if "application" in ctype else "network"
                    if isinstance(cond, dict):
                        cond = dict(_lower(cond))
                        cond["ruletype"] = "ApplicationRule" if kind == "application" else "NetworkRule"
                    self._rule(cond, kind, rname, name, depth, prio, rprio, ci, action, source)

    def _classic(self, props: Any, source: str | None) -> None:
        if isinstance(props, Unknown) or not isinstance(props, dict):
            reason = props.error if isinstance(props, Unknown) else "no properties"
            self._unread("network", "*", "*", "classic", 0, 0, -1, 0, f"the firewall's rule collections: {reason}", cause=props)
            return
        pl = _lower(props)
        for key, kind in (("natrulecollections", "nat"), ("networkrulecollections", "network"), ("applicationrulecollections", "application")):
            colls = pl.get(key)
            if isinstance(colls, Unknown):
                self._unread(kind, "*", "*", "classic", 0, 0, -1, 0, f"{key}: {colls.error}", cause=colls)
                continue
            for ci, coll in enumerate(_seq(colls, self.source, "classic firewall", key)):
                c = _lower(coll) if isinstance(coll, dict) else {}
                cname = c.get("name") if isinstance(c.get("name"), str) else f"collection{ci}"
                cp = c.get("properties")
                if isinstance(cp, Unknown) or isinstance(coll, Unknown):
                    why = (cp if isinstance(cp, Unknown) else coll).error  # type: ignore[union-attr]
                    self._unread(kind, "*", cname, "classic", 0, 0, -1, 0, str(why), cause=cp if isinstance(cp, Unknown) else coll)
                    continue
                cp = _lower(cp) if isinstance(cp, dict) else {}
                if isinstance(cp.get("priority"), Unknown) or isinstance(cp.get("action"), Unknown):
                    self._unread(kind, "*", cname, "classic", 0, 0, -1, 0, "its priority or action is unknown",
                                 cause=cp.get("priority") if isinstance(cp.get("priority"), Unknown) else cp.get("action"))
                    continue
                action = _action(_lower(cp.get("action") or {}).get("type", "Allow"), f"collection {cname}", source)
                rules = cp.get("rules")
                if isinstance(rules, Unknown):
                    self._unread(kind, "*", cname, "classic", 0, 0, _priority(cp.get("priority"), self.source, f"rule collection {cname}"), 0, f"its rules are unknown ({rules.error})", cause=rules)
                    continue
                for ri, rule in enumerate(_seq(rules, self.source, f"collection {cname}", "rules")):
                    if isinstance(rule, dict):
                        rule = dict(_lower(rule))
                        rule.setdefault("ruletype", {"nat": "NatRule", "network": "NetworkRule", "application": "ApplicationRule"}[kind])
                    self._rule(rule, kind, cname, "classic", 0, 0, _priority(cp.get("priority"), self.source, f"rule collection {cname}"), ri, action, source)

    def _addresses(self, r: dict[str, Any], addr_key: str, group_key: str, where: str, source: str | None,
                   *, tags_allowed: bool, fqdn_key: str | None = None) -> tuple[list[str] | None, str | None]:
        out: list[str] = []
        any_ = False
        skip = None
        for a in _seq(r.get(addr_key), source, where, addr_key):
            a = str(a).strip()
            if a in ("*", "Any", "0.0.0.0/0"):
                any_ = True
                continue
            if "-" in a and not a.replace("-", "").isalpha():
                lo, _, hi = a.partition("-")
                try:
                    out += [str(n) for n in ipaddress.summarize_address_range(ipaddress.ip_address(lo.strip()), ipaddress.ip_address(hi.strip()))]
                    continue
                except (ValueError, TypeError):
                    pass
            try:
                out.append(str(ipaddress.ip_network(a, strict=False)))
                continue
            except ValueError:
                pass
            tag = self.tags.get(a)
            if tag is None:
                raise PolicyError(f"{a!r} is not an IP, CIDR, range or known service tag", file=source, record=where, field=addr_key)
            if not tags_allowed:
                raise PolicyError(f"service tag {a!r} as a source: Azure Firewall accepts tags in destinations only",
                                  file=source, record=where, field=addr_key)
            out += list(tag.address_prefixes)
        for gref in _seq(r.get(group_key), source, where, group_key):
            gname = str(gref).rstrip("/").split("/")[-1].rstrip("')]").split("'")[-1].lower()
            if gname in self.ip_groups:
                members = self.ip_groups[gname]
            elif gname in self.template_groups:
                found = self.template_groups[gname]
                if isinstance(found, _SetAside):
                    raise found
                if isinstance(found, Unknown):
                    why = f"IP Group {gname!r}: members not known offline ({found.error}); give them with --ip-group {gname}=IP,..."
                    if found.needs_state:
                        raise _SetAside(why)
                    raise PolicyError(why, file=source, record=where, field=group_key)
                members = found
            else:
                raise PolicyError(f"IP Group {gname!r}: members unknown; give them (ip_groups={{...}} / --ip-group NAME=IP,...)",
                                  file=source, record=where, field=group_key)
            if not members:
                skip = f"IP Group {gname!r} is empty: Azure skips the rule"
            for m in members:
                if "-" in m:
                    lo, _, hi = m.partition("-")
                    out += [str(n) for n in ipaddress.summarize_address_range(ipaddress.ip_address(lo.strip()), ipaddress.ip_address(hi.strip()))]
                else:
                    out.append(str(ipaddress.ip_network(m, strict=False)))
        if fqdn_key:
            for f in _seq(r.get(fqdn_key), source, where, fqdn_key):
                addrs = self.dns.get(str(f).lower().rstrip("."))
                if not addrs:
                    self.notes.append(f"{where}: FQDN {f!r} is not in the DNS map: it matches nothing (not guessed)")
                    continue
                out += [str(ipaddress.ip_network(x, strict=False)) for x in addrs]
        if any_:
            return None, skip
        return out, skip

    def _rule(self, raw: Any, kind: str | None, coll: str, group: str, depth: int, gprio: int, cprio: int,
              pos: int, action: str, source: str | None) -> None:
        r = _lower(raw) if isinstance(raw, dict) else {}
        rtype = str(r.get("ruletype", "")).lower() if not isinstance(r.get("ruletype"), Unknown) else ""
        kind = kind or ("nat" if "nat" in rtype else "application" if "application" in rtype else "network")
        name = r.get("name") if isinstance(r.get("name"), str) else f"rule{pos}"
        bad = raw if isinstance(raw, Unknown) else next(
            (first_unknown(r[k]) for k in _RULE_FIELDS if k in r and first_unknown(r[k]) is not None), None)
        if bad is not None:  # refused for this rule alone: the rest of the policy is read
            self._unread(kind, name, coll, group, depth, gprio, cprio, pos, str(bad.error), action, cause=bad)
            return
        if not isinstance(raw, dict):
            raise PolicyError(f"expected a rule object, got {raw!r}", file=source, record=f"{kind} rule {group}/{coll}/#{pos + 1}")
        where = f"{kind} rule {group}/{coll}/{name}"
        try:
            self._read_rule(r, kind, name, where, coll, group, depth, gprio, cprio, pos, action, source)
        except _SetAside as exc:
            self._unread(kind, name, coll, group, depth, gprio, cprio, pos, str(exc), action)

    def _read_rule(self, r: dict[str, Any], kind: str, name: str, where: str, coll: str, group: str, depth: int, gprio: int,
                   cprio: int, pos: int, action: str, source: str | None) -> None:
        src, skip1 = self._addresses(r, "sourceaddresses", "sourceipgroups", where, source, tags_allowed=False)
        rule = FirewallRule(kind, name, coll, group, depth, gprio, cprio, pos, "Dnat" if kind == "nat" else _action(action, where, source),
                            None, any_source=src is None, sources=src or [])
        skip2 = None
        if kind in ("nat", "network"):
            protos: set[int] | None = set()
            for p in _seq(r.get("ipprotocols") or r.get("protocols"), source, where, "ipProtocols") or ["Any"]:
                text = str(p).lower()
                if text == "any":
                    protos = None
                    break
                if text not in _PROTO:
                    raise PolicyError(f"{p!r} is not TCP, UDP, ICMP or Any", file=source, record=where, field="ipProtocols")
                protos.add(_PROTO[text])
            rule.ports = _ports(r.get("destinationports"), where, source)
            if protos is None and rule.ports != ((0, 65535),):
                protos = {6, 17}  # Any with explicit ports is TCP + UDP
            rule.protocols = frozenset(protos) if protos is not None else None
            dst, skip2 = self._addresses(r, "destinationaddresses", "destinationipgroups", where, source, tags_allowed=True,
                                         fqdn_key="destinationfqdns")
            rule.destinations = dst
            if kind == "nat":
                rule.translated = f"{r.get('translatedaddress') or r.get('translatedfqdn')}:{r.get('translatedport')}"
        else:
            for p in _seq(r.get("protocols"), source, where, "protocols"):
                pl = _lower(p) if isinstance(p, dict) else {}
                ptype = str(pl.get("protocoltype", "")).lower()
                port = jsonio.small_int(pl.get("port") or APP_PORTS.get(ptype, 443))
                if not isinstance(p, dict) or port is None or not 0 <= port <= 65535:
                    raise PolicyError(f"expected {{protocolType, port 0-65535}}, got {jsonio.shown(p)}", file=source,
                                      record=where, field="protocols[].port")
                rule.app_protocols.append((ptype, port))
            rule.target_fqdns = [str(f) for f in _seq(r.get("targetfqdns"), source, where, "targetFqdns")]
            if r.get("fqdntags"):
                self.notes.append(f"{where}: FQDN tags {r.get('fqdntags')} are not expanded (Microsoft publishes no list)")
        rule.skipped = skip1 or skip2
        if rule.skipped:
            self.notes.append(f"{where}: {rule.skipped}")
        self.rules.append(rule)


class _SetAside(Exception):
    """This rule cannot be read offline; the reason is the message (the rest of the policy is read)."""


def _is_address_item(text: Any) -> bool:
    t = str(text).strip()
    if t in ("*", "Any"):
        return True
    try:
        if "-" in t:
            lo, _, hi = t.partition("-")
            ipaddress.ip_address(lo.strip())
            ipaddress.ip_address(hi.strip())
        else:
            ipaddress.ip_network(t, strict=False)
        return True
    except ValueError:
        return False


def _last_segment(rid: Any) -> str | None:
    return rid.rstrip("/").split("/")[-1].lower() if isinstance(rid, str) and rid.strip() else None


def _resource_name(r: Any, what: str) -> tuple[str, list[str], str | None]:
    value = r.full_name()
    handles = [h for h in [r.symbolic] + name_handles(r.raw_name) if h]
    if isinstance(value, str):
        return value, handles, None
    reason = value.error if isinstance(value, Unknown) else "not text"
    shaped = placeholder_name(r.scope, r.raw.get("name"), r.env)
    if shaped and shaped not in handles:
        handles.insert(1 if r.symbolic else 0, shaped)
    display = r.symbolic or (handles[0] if handles else None) or r.raw_name or what
    return display, handles, f"{what} name {r.raw_name} not resolved ({reason}); select it as {display!r}"


def _unit_list(units: list[Any]) -> str:
    return ", ".join(f"#{i} {u.name!r}" + (f" ({u.kind})" if u.kind != "policy" else "") for i, u in enumerate(units, 1))

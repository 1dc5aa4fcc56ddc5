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
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pyarrow as pa

from . import jsonio
from .arm import ArmContext, Unresolved
from .compile import PORTED_TCP_UDP, CompiledPolicy, MatchRule, assemble, build_classifier
from .errors import PolicyError
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
    skipped: str | None = None  # why the rule can never match (an empty IP Group)
    any_source: bool = False

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


def _lower(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k.lower(): v for k, v in d.items() if isinstance(k, str)}


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
        ip_groups: Mapping[str, Sequence[str]] | None = None,
        dns: Mapping[str, Sequence[str] | str] | None = None,
        service_tags: ServiceTags | str | Path | None = None,
        params: Mapping[str, Any] | None = None,
        parents: Sequence[str | Path | Any] = (),
    ) -> "FirewallPolicy":
        """Read a policy (ARM template, REST/az output, or a classic azureFirewalls resource).

        ``parents`` are parent policies (outermost first) when they live in other files; in one
        template, ``basePolicy`` references are followed.
        """
        tags = service_tags if isinstance(service_tags, ServiceTags) else load_cached(service_tags)
        reader = _Reader(tags, {k.lower(): list(v) for k, v in (ip_groups or {}).items()},
                         {k.lower().rstrip("."): ([v] if isinstance(v, str) else list(v)) for k, v in (dns or {}).items()},
                         dict(params or {}))
        docs = [(_load_doc(p), str(p) if isinstance(p, (str, Path)) else None) for p in parents]
        docs.append((_load_doc(source), str(source) if isinstance(source, (str, Path)) else None))
        for depth, (doc, src) in enumerate(docs):
            reader.read(doc, src, depth)
        return cls(reader.rules, service_tags=tags, notes=reader.notes,
                   source=str(source) if isinstance(source, (str, Path)) else None)

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
        notes = []
        for r in self.rules:
            if r.skipped:
                continue
            if r.kind in ("nat", "network"):
                if _rule_matches(r, proto, s, dst_port, d):
                    if r.kind == "nat":
                        return FirewallVerdict("Allow", r.name, r.collection, r.group, "nat", r.translated)
                    return FirewallVerdict(r.action, r.name, r.collection, r.group, "network")
            else:
                if fqdn is None:
                    continue
                if proto == 6 and any(port == dst_port for _, port in r.app_protocols) and _in(r.sources, s, r.any_source) \
                        and any(_fqdn_match(p, fqdn) for p in r.target_fqdns):
                    return FirewallVerdict(r.action, r.name, r.collection, r.group, "application")
        if fqdn is None and any(r.kind == "application" and not r.skipped for r in self.rules):
            notes.append("the flow carries no FQDN: application rules could not match it")
        return FirewallVerdict("Deny", None, None, None, None, notes=notes)

    # -- bulk ----------------------------------------------------------------------------------------------------
    def compile(self) -> CompiledPolicy:
        """DNAT and network rules through the compiled matcher (application rules need FQDNs: see evaluate)."""
        if self._compiled is None:
            active = [r for r in self.rules if r.kind in ("nat", "network") and not r.skipped]
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
        return pa.table({
            "access": pa.array(access, pa.string()),
            "rule": pa.array(rule, pa.string()),
            "kind": pa.array(kind, pa.string()),
            "rule_index": pa.array(rule_idx),
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
    if isinstance(source, (str, Path)):
        p = Path(source)
        try:
            return jsonio.loads(p.read_text(encoding="utf-8-sig"))  # a number too long to convert stays text
        except OSError as exc:
            raise PolicyError(f"cannot read the file: {exc.strerror or exc}", file=str(p)) from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise PolicyError(f"malformed JSON: {exc}", file=str(p)) from None
        except RecursionError:
            raise PolicyError("JSON nesting is too deep", file=str(p)) from None
    return source


class _Reader:
    def __init__(self, tags: ServiceTags, ip_groups: dict[str, list[str]], dns: dict[str, list[str]], params: dict[str, Any]) -> None:
        self.tags, self.ip_groups, self.dns, self.params = tags, ip_groups, dns, params
        self.rules: list[FirewallRule] = []
        self.notes: list[str] = []

    def read(self, doc: Any, source: str | None, depth: int) -> None:
        if isinstance(doc, list):  # az network firewall policy rule-collection-group list
            for g in doc:
                self._group(_lower(g), source, depth, ArmContext(values=self.params))
            return
        if not isinstance(doc, dict):
            raise PolicyError("expected a JSON object or list", file=source)
        top = _lower(doc)
        if isinstance(top.get("resources"), list):
            ctx = ArmContext(top.get("parameters") or {}, top.get("variables") or {}, self.params)
            groups, classic = [], []
            base_of: dict[str, str | None] = {}
            for res in top["resources"]:
                if not isinstance(res, dict):
                    continue
                low = _lower(res)
                t = str(low.get("type", "")).lower()
                if t.endswith("microsoft.network/firewallpolicies"):
                    try:
                        pname = str(ctx.resolve(low.get("name", ""))).lower()
                        base = _lower(_lower(low.get("properties") or {}).get("basepolicy") or {}).get("id")
                        base_of[pname] = str(ctx.resolve(base)).rstrip("/").split("/")[-1].lower() if base else None
                    except Unresolved as exc:
                        raise PolicyError(f"cannot be resolved offline: {exc}", file=source, record="firewall policy") from None
                if t.endswith("firewallpolicies/rulecollectiongroups"):
                    groups.append(_lower(res))
                elif t.endswith("microsoft.network/azurefirewalls"):
                    classic.append(_lower(res))
                for child in _lower(res).get("resources") or []:
                    if isinstance(child, dict) and str(_lower(child).get("type", "")).lower().endswith("rulecollectiongroups"):
                        groups.append(_lower(child))
            def level(name: str, seen: int = 0) -> int:
                """How many base policies stand above ``name`` (parents are processed first)."""
                base = base_of.get(name)
                return 0 if base is None or seen > 16 else 1 + level(base, seen + 1)

            for g in groups:
                try:
                    owner = str(ctx.resolve(g.get("name", ""))).split("/")[0].lower()
                except Unresolved:
                    owner = ""
                self._group(g, source, depth + level(owner), ctx)
            for fw in classic:
                self._classic(fw, source, ctx)
            if not groups and not classic:
                raise PolicyError("the template defines no firewallPolicies/ruleCollectionGroups or azureFirewalls", file=source)
            return
        props = _lower(top.get("properties") or top)
        if "rulecollections" in props:
            self._group(top, source, depth, ArmContext(values=self.params))
        elif "rulecollectiongroups" in props and isinstance(props["rulecollectiongroups"], list) and props["rulecollectiongroups"] \
                and isinstance(props["rulecollectiongroups"][0], dict) and "properties" in props["rulecollectiongroups"][0]:
            for g in props["rulecollectiongroups"]:
                self._group(_lower(g), source, depth, ArmContext(values=self.params))
        elif any(k in props for k in ("networkrulecollections", "applicationrulecollections", "natrulecollections")):
            self._classic(top, source, ArmContext(values=self.params))
        else:
            raise PolicyError("not a firewall policy: expected rule collection groups, a template, or classic rule collections", file=source)

    def _group(self, g: dict[str, Any], source: str | None, depth: int, ctx: ArmContext) -> None:
        try:
            name = str(ctx.resolve(g.get("name", "group"))).split("/")[-1]
            props = _lower(ctx.resolve(g.get("properties") or {}))
        except Unresolved as exc:
            raise PolicyError(f"cannot be resolved offline: {exc}", file=source, record=f"rule collection group {g.get('name')}") from None
        prio = _priority(props.get("priority"), source, f"rule collection group {name}")
        for ci, coll in enumerate(props.get("rulecollections") or []):
            c = _lower(coll)
            ctype = str(c.get("rulecollectiontype", "")).lower()
            action = str(_lower(c.get("action") or {}).get("type", "Allow"))
            cname = str(c.get("name", f"collection{ci}"))
            cprio = _priority(c.get("priority"), source, f"rule collection {cname}")
            for ri, rule in enumerate(c.get("rules") or []):
                self._rule(_lower(rule), "nat" if "nat" in ctype else None, cname, name, depth, prio, cprio, ri, action, source)

    def _classic(self, fw: dict[str, Any], source: str | None, ctx: ArmContext) -> None:
        props = _lower(ctx.resolve(fw.get("properties") or fw))
        for key, kind in (("natrulecollections", "nat"), ("networkrulecollections", "network"), ("applicationrulecollections", "application")):
            for coll in props.get(key) or []:
                c = _lower(coll)
                cp = _lower(c.get("properties") or {})
                action = str(_lower(cp.get("action") or {}).get("type", "Allow"))
                for ri, rule in enumerate(cp.get("rules") or []):
                    r = _lower(rule)
                    r.setdefault("ruletype", {"nat": "NatRule", "network": "NetworkRule", "application": "ApplicationRule"}[kind])
                    self._rule(r, kind, str(c.get("name")), "classic", 0, 0,
                               _priority(cp.get("priority"), source, f"rule collection {c.get('name')}"), ri, action, source)

    def _addresses(self, r: dict[str, Any], addr_key: str, group_key: str, where: str, source: str | None,
                   *, tags_allowed: bool, fqdn_key: str | None = None) -> tuple[list[str] | None, str | None]:
        out: list[str] = []
        any_ = False
        skip = None
        for a in r.get(addr_key) or []:
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
        for gref in r.get(group_key) or []:
            gname = str(gref).rstrip("/").split("/")[-1].rstrip("')]").split("'")[-1].lower()
            if gname not in self.ip_groups:
                raise PolicyError(f"IP Group {gname!r}: members unknown; give them (ip_groups={{...}} / --ip-group NAME=IP,...)",
                                  file=source, record=where, field=group_key)
            members = self.ip_groups[gname]
            if not members:
                skip = f"IP Group {gname!r} is empty: Azure skips the rule"
            for m in members:
                if "-" in m:
                    lo, _, hi = m.partition("-")
                    out += [str(n) for n in ipaddress.summarize_address_range(ipaddress.ip_address(lo.strip()), ipaddress.ip_address(hi.strip()))]
                else:
                    out.append(str(ipaddress.ip_network(m, strict=False)))
        if fqdn_key:
            for f in r.get(fqdn_key) or []:
                addrs = self.dns.get(str(f).lower().rstrip("."))
                if not addrs:
                    self.notes.append(f"{where}: FQDN {f!r} is not in the DNS map: it matches nothing (not guessed)")
                    continue
                out += [str(ipaddress.ip_network(x, strict=False)) for x in addrs]
        if any_:
            return None, skip
        return out, skip

    def _rule(self, r: dict[str, Any], kind: str | None, coll: str, group: str, depth: int, gprio: int, cprio: int,
              pos: int, action: str, source: str | None) -> None:
        rtype = str(r.get("ruletype", "")).lower()
        kind = kind or ("nat" if "nat" in rtype else "application" if "application" in rtype else "network")
        name = str(r.get("name", f"rule{pos}"))
        where = f"{kind} rule {group}/{coll}/{name}"
        src, skip1 = self._addresses(r, "sourceaddresses", "sourceipgroups", where, source, tags_allowed=False)
        rule = FirewallRule(kind, name, coll, group, depth, gprio, cprio, pos, "Dnat" if kind == "nat" else action, None,
                            any_source=src is None, sources=src or [])
        skip2 = None
        if kind in ("nat", "network"):
            protos: set[int] | None = set()
            for p in r.get("ipprotocols") or r.get("protocols") or ["Any"]:
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
            for p in r.get("protocols") or []:
                pl = _lower(p)
                ptype = str(pl.get("protocoltype", "")).lower()
                port = jsonio.small_int(pl.get("port") or APP_PORTS.get(ptype, 443))
                if port is None or not 0 <= port <= 65535:
                    raise PolicyError(f"expected a port 0-65535, got {jsonio.shown(pl.get('port'))}", file=source,
                                      record=where, field="protocols[].port")
                rule.app_protocols.append((ptype, port))
            rule.target_fqdns = [str(f) for f in (r.get("targetfqdns") or [])]
            if r.get("fqdntags"):
                self.notes.append(f"{where}: FQDN tags {r.get('fqdntags')} are not expanded (Microsoft publishes no list)")
        rule.skipped = skip1 or skip2
        if rule.skipped:
            self.notes.append(f"{where}: {rule.skipped}")
        self.rules.append(rule)

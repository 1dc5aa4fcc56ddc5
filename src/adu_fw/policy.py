"""A policy: the NSGs a flow meets, in Azure's order, with the context that gives tags meaning.

Order (docs §1.6): inbound, the subnet NSG then the NIC NSG; outbound, the NIC NSG then the
subnet NSG; a missing NSG allows; a deny ends evaluation; an allow is reported by the last NSG
that allowed (as flow logs record it). Context (product decisions 1-3, 7): VirtualNetwork is the
VNet space the user gives (or the template's VNet) plus 168.63.129.16/32, never guessed;
Internet is every address minus VirtualNetwork minus non-public space; AzureLoadBalancer is
168.63.129.16/32; other tags come from the service-tag file; ASGs from the membership given.
"""
from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .adminrules import AdminRule, AdminRules, admin_rules_of
from .compile import ALLOW, ALLOW_END, DENY, PASS, PORTED_TCP_UDP, CompiledPolicy, MatchRule, _Intervals, assemble, build_classifier
from .errors import AddressError, PolicyError
from .ip import parse_prefix, prefix_texts
from .nsg import NSG, load_nsg
from .reference import evaluate
from .rules import Rule, default_rules
from .servicetags import ServiceTags, load_cached
from .verdict import Flow, Verdict, normalize_direction

__all__ = ["Policy", "HOST_VIP", "NON_PUBLIC_V4", "PUBLIC_V6"]

HOST_VIP = "168.63.129.16/32"
IMDS = "169.254.169.254/32"
PLATFORM_ADDRESSES = ("168.63.129.16", "169.254.169.254")
#: IPv4 space that is never Internet (product decision 2)
NON_PUBLIC_V4 = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "224.0.0.0/4",
    "240.0.0.0/4",
)
#: the only IPv6 space that can be Internet (global unicast)
PUBLIC_V6 = "2000::/3"

NsgSource = Any  # a path, "path:NAME", a parsed document, a list of rules, or an NSG


def _complement(universe: list[tuple[int, int]], holes: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Inclusive intervals of ``universe`` not covered by ``holes``."""
    out = []
    hs = sorted(holes)
    for lo, hi in universe:
        cur = lo
        for a, b in hs:
            if b < cur or a > hi:
                continue
            if a > cur:
                out.append((cur, a - 1))
            cur = max(cur, b + 1)
            if cur > hi:
                break
        if cur <= hi:
            out.append((cur, hi))
    return out


def _interval(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> tuple[int, int]:
    return int(net.network_address), int(net.broadcast_address)


def _summarize(version: int, intervals: list[tuple[int, int]]) -> list[str]:
    cls = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    out = []
    for lo, hi in intervals:
        out += [str(n) for n in ipaddress.summarize_address_range(cls(lo), cls(hi))]
    return out


class Policy:
    """NSGs per level plus context; ``check`` answers one flow, ``levels`` gives Azure's order."""

    def __init__(
        self,
        *,
        subnet: NSG | None = None,
        nic: NSG | None = None,
        single: NSG | None = None,
        virtual_network: Sequence[str] = (),
        service_tags: ServiceTags | str | Path | None = None,
        asgs: Mapping[str, Sequence[str] | str] | None = None,
        platform_bypass: bool = False,
        admin_rules: AdminRules | None = None,
        network_groups: Mapping[str, Sequence[str] | str] | None = None,
    ) -> None:
        if single is not None and (subnet is not None or nic is not None):
            raise PolicyError("give one NSG, or a subnet and/or NIC NSG, not both")
        for nsg in (subnet, nic, single):
            if nsg is not None:
                nsg.raise_first()
        self.subnet, self.nic, self.single = subnet, nic, single
        #: AVNM security admin rules, evaluated before any NSG (docs/semantics.md)
        self.admin_rules = admin_rules if admin_rules else None
        #: model the data plane: platform traffic skips the NSGs unless an AzurePlatform* rule matches it
        self.platform_bypass = platform_bypass
        self.service_tags = (
            service_tags if isinstance(service_tags, ServiceTags) else load_cached(service_tags)
        )
        self.warnings: list[str] = []
        for nsg in self.nsgs:
            self.warnings += [f"NSG {nsg.name!r}: {w}" for w in nsg.warnings]
        if self.admin_rules is not None:
            self.warnings += [f"admin rules: {w}" for w in self.admin_rules.warnings]
        # admin rules alone need the VNet space only when a rule names VirtualNetwork or Internet
        self.virtual_network = self._vnet(virtual_network) if self.nsgs or virtual_network else ()
        self.asgs = self._asgs(asgs or {})
        self.network_groups = _network_groups(network_groups or {})
        self._internet = self._internet_prefixes() if self.virtual_network else ()
        self._sides: dict[tuple[int, str, str], tuple[str, ...] | None] = {}
        self._compiled: CompiledPolicy | None = None
        for nsg in self.nsgs:  # resolve every rule now: errors surface before any evaluation
            for rule in nsg.rules + default_rules():
                for side in ("source", "destination"):
                    self.side_prefixes(nsg, rule, side)
        for admin in self.admin_rules.rules if self.admin_rules is not None else ():
            for side in ("source", "destination"):
                self.admin_side_prefixes(admin, side)

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_nsg(
        cls,
        source: NsgSource,
        *,
        name: str | None = None,
        virtual_network: Sequence[str] = (),
        service_tags: ServiceTags | str | Path | None = None,
        asgs: Mapping[str, Sequence[str] | str] | None = None,
        params: Mapping[str, Any] | None = None,
        platform_bypass: bool = False,
        admin_rules: Any = None,
        network_groups: Mapping[str, Sequence[str] | str] | None = None,
        deployment: Any = None,
    ) -> "Policy":
        """A policy of one NSG (as IP flow verify sees a NIC with only this NSG).

        ``params`` are ARM template parameters; ``deployment`` (:class:`adu_fw.arm.Deployment`) the
        resource group, location, subscription and ``reference()`` values a deployment would supply.
        ``admin_rules``: AVNM security admin rules evaluated before the NSG: an ``AdminRules``, a path
        (``"FILE[:COLLECTION]"``), a parsed document, or a list of them (configurations in decreasing
        scope order); ``network_groups`` gives the CIDRs of network groups those rules name.
        """
        return cls(
            single=_as_nsg(source, name, params, deployment),
            virtual_network=virtual_network,
            service_tags=service_tags,
            asgs=asgs,
            platform_bypass=platform_bypass,
            admin_rules=admin_rules_of(admin_rules, params, deployment),
            network_groups=network_groups,
        )

    @classmethod
    def from_nsgs(
        cls,
        *,
        subnet: NsgSource | None = None,
        nic: NsgSource | None = None,
        virtual_network: Sequence[str] = (),
        service_tags: ServiceTags | str | Path | None = None,
        asgs: Mapping[str, Sequence[str] | str] | None = None,
        params: Mapping[str, Any] | None = None,
        platform_bypass: bool = False,
        admin_rules: Any = None,
        network_groups: Mapping[str, Sequence[str] | str] | None = None,
        deployment: Any = None,
    ) -> "Policy":
        """The subnet NSG and/or the NIC NSG of one NIC (a missing level allows), after the admin rules if given."""
        return cls(
            subnet=_as_nsg(subnet, None, params, deployment) if subnet is not None else None,
            nic=_as_nsg(nic, None, params, deployment) if nic is not None else None,
            virtual_network=virtual_network,
            service_tags=service_tags,
            asgs=asgs,
            platform_bypass=platform_bypass,
            admin_rules=admin_rules_of(admin_rules, params, deployment),
            network_groups=network_groups,
        )

    def _vnet(self, given: Any) -> tuple[str, ...]:
        try:  # text, ipaddress / netaddr objects (an IPSet is its CIDRs), or a list of them
            given = prefix_texts(list(given) if isinstance(given, (tuple, set, frozenset)) else given)
        except AddressError as exc:
            raise PolicyError(str(exc), field="virtual_network (--vnet)") from None
        prefixes: list[str] = []
        for p in list(given) + [p for nsg in self.nsgs for p in nsg.vnet_prefixes]:
            try:
                fam, value, plen = parse_prefix(str(p).strip())
            except AddressError as exc:
                raise PolicyError(str(exc), field="virtual_network (--vnet)", value=p) from None
            if str(p).strip() not in prefixes:
                prefixes.append(str(p).strip())
        if not prefixes:
            sources = ", ".join(dict.fromkeys(str(n.source) for n in self.nsgs if n.source)) or None
            raise PolicyError(
                f"the VirtualNetwork tag (used by the default rules) needs the VNet address space of NSG "
                f"{', '.join(repr(n.name) for n in self.nsgs)}: the file defines no VNet whose subnets use it, so pass "
                "--vnet CIDR (virtual_network=[...]) with the VNet, peered VNets and on-premises prefixes; "
                "adu-fw never guesses it",
                file=sources,
                field="virtual_network",
            )
        return tuple(prefixes) + ((HOST_VIP,) if HOST_VIP not in prefixes else ())

    def _asgs(self, asgs: Mapping[str, Sequence[str] | str]) -> dict[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {}
        for name, members in asgs.items():
            try:  # "IP,IP", or a list of text / ipaddress / netaddr objects (an IPSet is its CIDRs)
                items = [m for m in (members.split(",") if isinstance(members, str) else prefix_texts(members)) if m.strip()]
            except AddressError as exc:
                raise PolicyError(str(exc), record=f"ASG {name!r}", field="asgs (--asg)") from None
            checked = []
            for m in items:
                try:
                    parse_prefix(str(m).strip())
                except AddressError as exc:
                    raise PolicyError(str(exc), record=f"ASG {name!r}", field="asgs (--asg)", value=m) from None
                checked.append(str(m).strip())
            out[name.lower()] = tuple(checked)
        return out

    def _internet_prefixes(self) -> tuple[str, ...]:
        v4_holes, v6_holes = [], []
        for p in self.virtual_network:
            net = ipaddress.ip_network(p, strict=False)
            (v4_holes if net.version == 4 else v6_holes).append(_interval(net))
        v4_holes += [_interval(ipaddress.ip_network(p)) for p in NON_PUBLIC_V4]
        v4 = _complement([(0, 2**32 - 1)], v4_holes)
        v6 = _complement([_interval(ipaddress.ip_network(PUBLIC_V6))], v6_holes)
        return tuple(_summarize(4, v4) + _summarize(6, v6))

    # -- the policy's face -------------------------------------------------------------------
    @property
    def nsgs(self) -> list[NSG]:
        return [n for n in (self.single, self.subnet, self.nic) if n is not None]

    def levels(self, direction: str) -> list[tuple[str, NSG]]:
        """The NSGs a flow of ``direction`` meets, in Azure's order."""
        direction = normalize_direction(direction)
        if self.single is not None:
            return [("nsg", self.single)]
        order = [("subnet", self.subnet), ("nic", self.nic)]
        if direction == "Outbound":
            order.reverse()
        return [(lvl, n) for lvl, n in order if n is not None]

    def side_prefixes(self, nsg: NSG, rule: Rule, side: str) -> tuple[str, ...] | None:
        """The prefixes a rule side stands for in this context; ``None`` means ``*`` (any address)."""
        key = (id(rule), nsg.name, side)
        if key in self._sides:
            return self._sides[key]
        spec = rule.source if side == "source" else rule.destination
        fld = "sourceAddressPrefix" if side == "source" else "destinationAddressPrefix"
        where = f"NSG {nsg.name!r} rule {rule.name!r}"
        result: tuple[str, ...] | None
        if spec.any:
            result = None
        elif spec.prefixes:
            result = spec.prefixes
        elif spec.asgs:
            members: list[str] = []
            for asg in spec.asgs:
                if asg.lower() not in self.asgs:
                    raise PolicyError(
                        f"application security group {asg!r}: membership unknown; pass --asg {asg}=IP[,IP...] "
                        f"(asgs={{{asg!r}: [...]}}); an empty list means no members",
                        file=nsg.source,
                        record=where,
                        field=fld.replace("AddressPrefix", "ApplicationSecurityGroups"),
                    )
                members += self.asgs[asg.lower()]
            result = tuple(members)
        else:
            result = self._tag_prefixes(spec.tag or "", nsg, where, fld)
        self._sides[key] = result
        return result

    def admin_stage(self, direction: str) -> list[AdminRule]:
        """The security admin rules a flow of ``direction`` meets first, in Azure's order."""
        if self.admin_rules is None:
            return []
        return self.admin_rules.evaluation_order(normalize_direction(direction))

    def admin_side_prefixes(self, rule: AdminRule, side: str) -> tuple[str, ...] | None:
        """The prefixes an admin rule side stands for (the union of its items); ``None`` means any address."""
        key = (id(rule), "admin", side)
        if key in self._sides:
            return self._sides[key]
        items = rule.side(side)
        result: tuple[str, ...] | None = None
        if items:
            out: list[str] = []
            where = f"admin rule {rule.path!r}"
            fld = "sources" if side == "source" else "destinations"
            for item in items:
                if item.kind == "IPPrefix":
                    out.append(item.value)
                elif item.kind == "ServiceTag":
                    out += self._tag_prefixes(item.value, self.admin_rules, where, fld)  # type: ignore[arg-type]
                else:
                    if item.value.lower() not in self.network_groups:
                        raise PolicyError(
                            f"network group {item.value!r}: its address space is unknown; pass --network-group "
                            f"{item.value}=CIDR[,CIDR...] (network_groups={{{item.value!r}: [...]}})",
                            file=rule.source, record=where, field=fld, value=item.value)
                    out += self.network_groups[item.value.lower()]
            result = tuple(out)
        self._sides[key] = result  # type: ignore[index]
        return result

    def tag_prefixes(self, tag: str) -> tuple[str, ...]:
        """The prefixes a tag stands for in this policy's context (VirtualNetwork, Internet, service tags)."""
        return self._tag_prefixes(tag, NSG(tag, [], None), f"tag {tag!r}", "tag")

    def _tag_prefixes(self, tag: str, nsg: NSG, where: str, fld: str) -> tuple[str, ...]:
        low = tag.lower()
        if low in ("virtualnetwork", "internet") and not self.virtual_network:
            raise PolicyError(
                f"the {tag} tag needs the VNet address space: pass --vnet CIDR (virtual_network=[...]); adu-fw never "
                "guesses it", file=getattr(nsg, "source", None), record=where, field=fld, value=tag)
        if low == "virtualnetwork":
            return self.virtual_network
        if low == "internet":
            return self._internet
        if low == "azureloadbalancer":
            return (HOST_VIP,)
        if low == "azureplatformdns":
            return (HOST_VIP,)
        if low == "azureplatformimds":
            return (IMDS,)
        if low == "azureplatformlkm":
            raise PolicyError(
                "AzurePlatformLKM: Microsoft does not publish the addresses of the licensing service, so adu-fw "
                "cannot evaluate this tag",
                file=nsg.source,
                record=where,
                field=fld,
            )
        found = self.service_tags.get(tag)
        if found is None:
            raise PolicyError(
                f"unknown service tag {tag!r} (not in {self.service_tags.source})",
                file=nsg.source,
                record=where,
                field=fld,
                value=tag,
            )
        if not found.has_feature("NSG"):
            msg = (
                f"{where}: service tag {found.name!r} does not list NSG in networkFeatures "
                "(accepted; Microsoft does not document the list)"
            )
            if msg not in self.warnings:
                self.warnings.append(msg)
        return found.address_prefixes

    def check(
        self,
        direction: str,
        protocol: str | int,
        src: str,
        src_port: int,
        dst: str,
        dst_port: int,
    ) -> Verdict:
        """The decision for one flow, the deciding rule, and the per-NSG trail."""
        v = evaluate(self, Flow.make(direction, protocol, src, src_port, dst, dst_port))
        return _with_uncertainty(self, v)

    def is_platform_flow(self, flow: Flow) -> bool:
        """With ``platform_bypass``: traffic to the host services (outbound) or from the host VIP (inbound)."""
        if not self.platform_bypass:
            return False
        if flow.direction == "Outbound":
            return str(flow.dst) in PLATFORM_ADDRESSES
        return str(flow.src) == PLATFORM_ADDRESSES[0]


    @staticmethod
    def from_firewall(source: Any, **kwargs: Any) -> Any:
        """An Azure Firewall policy (see ``adu_fw.firewall.FirewallPolicy.load`` for the options)."""
        from .firewall import FirewallPolicy

        return FirewallPolicy.load(source, **kwargs)

    @staticmethod
    def from_classbench(path: str | Path) -> Any:
        """A ClassBench rule file as a first-match rule list (see ``adu_fw.classbench.RuleList``)."""
        from .classbench import RuleList

        return RuleList.load(path)

    # -- bulk ----------------------------------------------------------------------------------
    def compile(self) -> CompiledPolicy:
        """Arrays for the compiled matcher (built once; every stage of both directions).

        A direction's stages: the security admin rules (when the policy has some in that direction),
        then its NSGs in Azure's order. Admin actions: Deny ends (DENY), AlwaysAllow ends allowed
        (ALLOW_END), Allow continues as if nothing matched (PASS) or, with no NSG after it, is the
        reported allow (ALLOW); an admin stage that matches nothing passes.
        """
        if self._compiled is None:
            self._compiled = self._compile(nsgs=True)
        return self._compiled

    def compile_admin_stage(self) -> CompiledPolicy:
        """The security admin stage alone, every action reported (Allow too): which admin rule a flow
        matches first, whatever the NSGs do after it (hits of Allow rules, which hand flows on)."""
        return self._compile(nsgs=False)

    def _compile(self, *, nsgs: bool) -> CompiledPolicy:
        cache = _Intervals()
        classifiers = []
        stages: list[list[int]] = [[], []]
        actions: list[int] = []
        nomatch: list[int] = []
        labels: dict[str, list] = {k: [] for k in ("rule", "nsg", "log_rule", "priority", "access", "direction", "layer")}

        def label(rule: Any, where: str, direction: str, layer: str) -> None:
            labels["rule"].append(rule.name)
            labels["nsg"].append(where)
            labels["log_rule"].append(rule.log_name)
            labels["priority"].append(rule.priority)
            labels["access"].append(rule.access)
            labels["direction"].append(direction)
            labels["layer"].append(layer)

        built: dict[tuple[int, str], int] = {}
        for d, direction in enumerate(("Inbound", "Outbound")):
            levels = self.levels(direction) if nsgs else []
            admin = self.admin_stage(direction)
            if admin:
                classifiers.append(build_classifier(self.admin_match_rules(admin), PORTED_TCP_UDP, cache))
                nomatch.append(PASS)
                for r in admin:
                    actions.append({"Deny": DENY, "AlwaysAllow": ALLOW_END}.get(r.access, PASS if levels else ALLOW))
                    label(r, r.label, direction, "admin")
                stages[d].append(len(classifiers) - 1)
            for _level, nsg in levels:
                key = (id(nsg), direction)
                if key not in built:
                    rules = nsg.evaluation_order(direction)
                    match_rules = self.match_rules(nsg, rules)
                    classifiers.append(build_classifier(match_rules, PORTED_TCP_UDP, cache))
                    nomatch.append(DENY)
                    built[key] = len(classifiers) - 1
                    for r in rules:
                        actions.append(DENY if r.access == "Deny" else ALLOW)
                        label(r, nsg.name, direction, "nsg")
                stages[d].append(built[key])
        arrays = assemble(classifiers, stages, rule_action=np.array(actions, dtype=np.uint8),
                          nomatch=np.array(nomatch, dtype=np.uint8))
        return CompiledPolicy(arrays, labels)

    def match_rules(self, nsg: NSG, rules: list[Rule]) -> list[MatchRule]:
        """The rules as the compiled matcher and the flow-space searches see them (tags expanded)."""
        return [
            MatchRule(
                protocols=None if r.protocol_number is None else frozenset({r.protocol_number}),
                src=self.side_prefixes(nsg, r, "source"),
                src_ports=r.source_ports,
                dst=self.side_prefixes(nsg, r, "destination"),
                dst_ports=r.destination_ports,
                deny=r.access == "Deny",
            )
            for r in rules
        ]

    def admin_match_rules(self, rules: list[AdminRule]) -> list[MatchRule]:
        """Admin rules as the compiled matcher and the flow-space searches see them (tags expanded)."""
        return [
            MatchRule(
                protocols=None if r.protocol_number is None else frozenset({r.protocol_number}),
                src=self.admin_side_prefixes(r, "source"),
                src_ports=r.source_ports,
                dst=self.admin_side_prefixes(r, "destination"),
                dst_ports=r.destination_ports,
                deny=r.access == "Deny",
            )
            for r in rules
        ]

    def evaluate(self, flows: Any, *, threads: int | None = None) -> Any:
        """Every flow through the compiled matcher: a pyarrow Table (see ``adu_fw.evaluate``)."""
        from .evaluate import evaluate

        table = evaluate(self.compile(), flows, threads=threads)
        if self.platform_bypass:
            table = self._apply_platform_bypass(flows, table)
        return table

    def _apply_platform_bypass(self, flows: Any, table: Any) -> Any:
        """Re-answer the (few) platform flows with the reference evaluator, which models the bypass."""
        import pyarrow as pa

        from .flowtable import columns_of

        cols = columns_of(flows)
        n = table.num_rows
        src = [str(v) for v in (cols["src_ip"].to_pylist() if hasattr(cols["src_ip"], "to_pylist") else list(cols["src_ip"]))]
        dst = [str(v) for v in (cols["dst_ip"].to_pylist() if hasattr(cols["dst_ip"], "to_pylist") else list(cols["dst_ip"]))]
        candidates = [i for i in range(n) if dst[i] in PLATFORM_ADDRESSES or src[i] == PLATFORM_ADDRESSES[0]]
        if not candidates:
            return table
        rows = table.to_pylist()
        labels = self.compile().labels
        index_of = {(labels["nsg"][k], labels["log_rule"][k], labels["direction"][k]): k for k in range(len(labels["rule"]))}

        def value(name: str, i: int) -> Any:
            col = cols[name]
            v = col[i]
            return v.as_py() if hasattr(v, "as_py") else (v.item() if hasattr(v, "item") else v)

        for i in candidates:
            if rows[i]["rule_index"] == -2:
                continue
            d = value("direction", i)
            direction = ("Inbound" if d == 0 else "Outbound") if isinstance(d, int) else d
            proto = value("protocol", i)
            s_ip = str(ipaddress.ip_address(value("src_ip", i)))
            d_ip = str(ipaddress.ip_address(value("dst_ip", i)))
            v = self.check(direction, proto, s_ip, value("src_port", i), d_ip, value("dst_port", i))
            index = index_of.get((v.nsg, v.log_rule, v.direction), -1)
            rows[i].update(access=v.access, allowed=v.allowed, rule=v.rule, rule_index=index, nsg=v.nsg, log_rule=v.log_rule)
        return pa.Table.from_pylist(rows, schema=pa.schema([f.with_type(f.type.value_type) if pa.types.is_dictionary(f.type) else f
                                                             for f in table.schema]))


def _network_groups(groups: Mapping[str, Sequence[str] | str]) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for name, members in groups.items():
        items = [str(m).strip() for m in (members.split(",") if isinstance(members, str) else members) if str(m).strip()]
        for m in items:
            try:
                parse_prefix(m)
            except AddressError as exc:
                raise PolicyError(str(exc), record=f"network group {name!r}", field="network_groups (--network-group)",
                                  value=m) from None
        out[name.lower()] = tuple(items)
    return out


def _as_nsg(source: NsgSource, name: str | None, params: Mapping[str, Any] | None, deployment: Any = None) -> NSG:
    if isinstance(source, NSG):
        return source
    return load_nsg(source, name=name, params=params, deployment=deployment)


def _with_uncertainty(policy: Policy, v: Verdict) -> Verdict:
    """Name the set-aside rules (``NSG.unread``) Azure would have processed before the deciding rule."""
    from dataclasses import replace

    notes = []
    for t in v.trail:
        nsg = next((n for n in policy.nsgs if n.name == t.nsg), None)
        if nsg is None or not nsg.unread:
            continue
        prio = t.priority if t.priority is not None and t.priority < 65000 else None
        for u in nsg.uncertain(v.direction, prio):
            notes.append(f"uncertain: rule {u.name!r} of NSG {nsg.name!r} comes before the deciding rule and could not "
                         f"be read ({u.reason}); this answer assumes it does not match")
    return replace(v, notes=tuple(notes)) if notes else v

"""What every command shares: exit codes, the service-tag and policy options, building a policy from them."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AduFwError

if TYPE_CHECKING:  # imported on use: `tags lookup` needs neither the policy nor pyarrow
    from ..policy import Policy
    from ..servicetags import ServiceTags

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def common_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--service-tags",
        metavar="FILE|DIR",
        help="service-tag JSON (weekly download or az network list-service-tags output), or a stored or embedded "
        "version named by its date, e.g. 20240603, or a folder of weekly files (analyze, evaluate and diff --flows "
        "use the file in force at each hour; other commands its newest file). Default: the newest Public version "
        "kept by `adu-fw tags update`, else the newest embedded file",
    )
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")


def load_tags(ref: str | None) -> ServiceTags:
    """A file, a version by date, or a folder's newest file (through the compiled index cache)."""
    from ..servicetags import load_cached
    from ..tags import store

    if ref is not None and Path(ref).is_dir():
        from ..tags.versions import TagVersions

        return load_cached(TagVersions.from_dir(ref).files[-1].path)
    return load_cached(store.resolve(ref))


def tags_of(args: argparse.Namespace, *, stale: bool = True) -> ServiceTags:
    tags = load_tags(args.service_tags)
    if tags.next_link:
        print(
            f"adu-fw: warning: {tags.source} is one page of a paged answer (nextLink is set); "
            "tags on later pages are missing",
            file=sys.stderr,
        )
    if stale:
        warn_stale(tags)
    return tags


def warn_stale(tags: ServiceTags, newest_hour: Any = None) -> None:
    """The stale-tags warning on stderr (older than 90 days, or than the newest log hour by 14 days)."""
    from ..tags.freshness import stale_message

    msg = stale_message(tags, newest_hour)
    if msg:
        print(f"adu-fw: warning: {msg}", file=sys.stderr)


def tags_origin(tags: ServiceTags) -> str:
    """"embedded", "stored" (in the versions directory) or "file"."""
    from ..servicetags import _embedded_dir
    from ..tags import store

    try:
        parent = Path(tags.source).resolve().parent
        if parent == _embedded_dir().resolve():
            return "embedded"
        if parent == store.versions_dir().resolve():
            return "stored"
    except OSError:  # pragma: no cover
        pass
    return "file"


def tags_line(tags: ServiceTags, args: argparse.Namespace | None = None) -> str:
    """The line that says which service-tag file answered."""
    default = ", the default" if args is not None and getattr(args, "service_tags", None) is None else ""
    date = tags.date.isoformat() if tags.date else "date unknown"
    return (f"service tags: {Path(tags.source).name} ({tags_origin(tags)}{default}; {tags.cloud}, "
            f"changeNumber {tags.change_number}, {date})")


def source_doc(tags: ServiceTags) -> dict[str, Any]:
    return {
        "source": tags.source,
        "file": Path(tags.source).name,
        "origin": tags_origin(tags),
        "cloud": tags.cloud,
        "changeNumber": tags.change_number,
        "date": tags.date.isoformat() if tags.date else None,
        "shape": tags.shape,
        "tags": len(tags),
    }


def policy_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("policy")
    g.add_argument("--nsg", metavar="FILE[:NAME]", help="one NSG (ARM template, az nsg show, REST body, rule list)")
    g.add_argument("--subnet-nsg", metavar="FILE[:NAME]", help="the NSG on the subnet")
    g.add_argument("--nic-nsg", metavar="FILE[:NAME]", help="the NSG on the NIC")
    g.add_argument(
        "--terraform-plan",
        metavar="FILE[:NAME]",
        help="a Terraform plan (terraform show -json); NAME is an NSG, NIC or subnet (name or resource address): "
        "a NIC gives its subnet NSG + NIC NSG pair. Optional when the plan holds one NSG",
    )
    g.add_argument(
        "--assume-unknown",
        choices=("error", "any"),
        default="error",
        help="plan values unknown until apply: an error naming the resource and attribute (default), or widened to *",
    )
    g.add_argument(
        "--effective",
        metavar="FILE",
        help="effective rules of a NIC (az network nic list-effective-nsg / REST): Azure's own expansion of tags",
    )
    g.add_argument(
        "--vnet",
        metavar="CIDR",
        action="append",
        default=[],
        help="VirtualNetwork address space (repeatable): VNet, peered VNets, on-premises and UDR prefixes; "
        "168.63.129.16/32 is always added. Taken from the template's VNet when it defines one",
    )
    g.add_argument(
        "--asg", metavar="NAME=IP[,IP...]", action="append", default=[], help="application security group members"
    )
    template_options(g)
    g.add_argument(
        "--platform-bypass",
        action="store_true",
        help="model the data plane: traffic to 168.63.129.16 / 169.254.169.254 (and probes from 168.63.129.16) "
        "skips the NSGs unless a rule with an AzurePlatform* tag matches it (default: evaluated like any flow, "
        "as IP flow verify does)",
    )
    a = p.add_argument_group("AVNM security admin rules")
    a.add_argument(
        "--admin-rules",
        metavar="FILE[:COLLECTION]",
        action="append",
        default=[],
        help="Azure Virtual Network Manager security admin rules evaluated before the NSGs (ARM template, REST body, "
        "effective/active admin-rule list, az output); COLLECTION (or CONFIG/COLLECTION, CONFIG/*) selects one rule "
        "collection. Repeatable: configurations in decreasing scope order (the first wins a conflict)",
    )
    a.add_argument(
        "--network-group", metavar="NAME=CIDR[,CIDR...]", action="append", default=[],
        help="address space of a network group that admin rules name as a source or destination",
    )
    f = p.add_argument_group("Azure Firewall")
    f.add_argument("--firewall-policy", metavar="FILE[:NAME]", help="an Azure Firewall policy instead of NSGs (ARM, REST/az "
                   "output, or a Terraform plan FILE[:POLICY] with azurerm_firewall_policy_rule_collection_group); NAME picks "
                   "a policy or firewall of a multi-policy template")
    f.add_argument("--ip-group", metavar="NAME=IP[,IP...]", action="append", default=[], help="IP Group members ('NAME=' for empty)")
    f.add_argument("--dns", metavar="FQDN=IP[,IP...]", action="append", default=[], help="DNS map for FQDNs in network rules")


def template_options(g: Any) -> None:
    """ARM template inputs: parameters and what a deployment would know (docs/semantics.md, ARM templates offline)."""
    g.add_argument(
        "--param", metavar="NAME=VALUE", action="append", default=[], help="ARM template parameter (JSON or text)"
    )
    g.add_argument("--parameters", metavar="FILE", action="append", default=[],
                   help="ARM deployment parameters file ({\"parameters\": {\"x\": {\"value\": ...}}}); --param wins over it")
    g.add_argument("--resource-group", metavar="NAME", help="resourceGroup().name (default: the stand-in 'rg-offline')")
    g.add_argument("--location", metavar="REGION",
                   help="the deployment location, resourceGroup().location (no default: values that need it are unknown)")
    g.add_argument("--subscription-id", metavar="ID",
                   help="subscription().subscriptionId (default: the stand-in 00000000-0000-0000-0000-000000000000)")
    g.add_argument("--reference", metavar="RESOURCE_OR_NAME.property=VALUE", action="append", default=[],
                   help="the state reference()/listKeys() of a deployed resource returns, e.g. fw-pip.ipAddress=20.1.2.3 "
                   "(repeatable; RESOURCE_OR_NAME is its name, resource id or symbolic name)")


def deployment_of(args: argparse.Namespace) -> Any:
    """The :class:`adu_fw.arm.Deployment` the template options describe."""
    from ..arm import Deployment, parse_reference

    refs: dict[str, Any] = {}
    for item in getattr(args, "reference", None) or []:
        try:
            key, value = parse_reference(item)
        except ValueError as exc:
            raise AduFwError(str(exc)) from None
        refs[key] = value
    return Deployment(resource_group=getattr(args, "resource_group", None), location=getattr(args, "location", None),
                      subscription_id=getattr(args, "subscription_id", None), references=refs)


def kv(items: list[str], opt: str) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise AduFwError(f"{opt} expects NAME=VALUE, got {item!r}")
        out[name.strip()] = value
    return out


def params(args: argparse.Namespace) -> dict[str, object]:
    """ARM parameters: the ``--parameters`` files in order, then ``--param`` (which wins)."""
    from ..arm import load_parameters_file

    out: dict[str, object] = {}
    for path in getattr(args, "parameters", None) or []:
        out.update(load_parameters_file(path))
    out.update(json_values(args.param, "--param"))
    return out


def json_values(items: list[str], opt: str) -> dict[str, Any]:
    """NAME=VALUE pairs, each value as JSON when it parses (true, 1, [..]) and as text otherwise."""
    import json as _json

    out: dict[str, Any] = {}
    for name, value in kv(items, opt).items():
        try:
            out[name] = _json.loads(value)
        except ValueError:
            out[name] = value
    return out


def admin_options(args: argparse.Namespace, refs: list[str] | None = None) -> dict[str, Any]:
    """``admin_rules`` (read: ``AdminRules`` or None) and ``network_groups`` for ``Policy`` from --admin-rules /
    --network-group."""
    from ..adminrules import admin_rules_of

    refs = list(getattr(args, "admin_rules", None) or []) if refs is None else refs
    return {
        "admin_rules": admin_rules_of(refs, params(args), deployment_of(args)) if refs else None,
        "network_groups": {k: [m for m in v.split(",") if m] for k, v in kv(getattr(args, "network_group", None) or [],
                                                                           "--network-group").items()},
    }


def policy_of(args: argparse.Namespace, tags: ServiceTags | None = None, *, quiet: bool = False) -> Policy:
    from ..policy import Policy

    kinds = [bool(args.nsg), bool(args.subnet_nsg or args.nic_nsg), bool(getattr(args, "terraform_plan", None)),
             bool(getattr(args, "effective", None))]
    if sum(kinds) > 1:
        raise AduFwError("give one of --nsg, --subnet-nsg/--nic-nsg, --terraform-plan or --effective")
    if args.nsg and (args.subnet_nsg or args.nic_nsg):
        raise AduFwError("give --nsg, or --subnet-nsg and/or --nic-nsg, not both")
    if not any(kinds) and not getattr(args, "admin_rules", None):
        raise AduFwError("no policy: give --nsg FILE, or --subnet-nsg FILE and/or --nic-nsg FILE, "
                         "--terraform-plan FILE[:NAME] or --effective FILE (and/or --admin-rules FILE)")
    common = dict(
        virtual_network=args.vnet,
        service_tags=tags if tags is not None else tags_of(args),
        asgs={k: v.split(",") for k, v in kv(args.asg, "--asg").items()},
        params=params(args),
        platform_bypass=args.platform_bypass,
        **admin_options(args),
        deployment=deployment_of(args),
    )
    if getattr(args, "terraform_plan", None) or getattr(args, "effective", None):
        policy = _other_policy(args, common)
    elif args.nsg:
        policy = Policy.from_nsg(args.nsg, **common)  # type: ignore[arg-type]
    else:
        policy = Policy.from_nsgs(subnet=args.subnet_nsg, nic=args.nic_nsg, **common)  # type: ignore[arg-type]
    for w in [] if quiet else policy.warnings:
        print(f"adu-fw: warning: {w}", file=sys.stderr)
    return policy


def versions_of(args: argparse.Namespace) -> Any:
    """The weekly files of ``--service-tags DIR`` (a ``TagVersions``), None when it names one file."""
    ref = getattr(args, "service_tags", None)
    if ref is None or not Path(ref).is_dir():
        return None
    from ..tags.versions import TagVersions

    return TagVersions.from_dir(ref)


def replay_policy_of(args: argparse.Namespace) -> Any:
    """The policy of a replay: with ``--service-tags DIR``, one per version, each hour with its own."""
    versions = versions_of(args)
    if versions is None:
        tags = tags_of(args, stale=False)  # the replay warns against the newest log hour instead
        return firewall_of(args, tags) if args.firewall_policy else policy_of(args, tags)
    from ..tags.versions import VersionedPolicy

    built = [0]

    def build(tags: ServiceTags) -> Any:
        built[0] += 1
        if args.firewall_policy:
            return firewall_of(args, tags, quiet=built[0] > 1)
        return policy_of(args, tags, quiet=built[0] > 1)

    return VersionedPolicy(versions, build)


def _other_policy(args: argparse.Namespace, common: dict[str, Any]) -> Policy:
    """--terraform-plan / --effective (ARM parameters do not apply to them)."""
    kw = {k: v for k, v in common.items() if k not in ("params", "deployment")}
    if args.terraform_plan:
        from ..sources import plan_policy

        return plan_policy(args.terraform_plan, assume_unknown=args.assume_unknown, **kw)
    from ..effective import effective_policy

    return effective_policy(args.effective, **kw)


def yn(b: bool) -> str:
    return "yes" if b else "no"


def firewall_of(args: argparse.Namespace, tags: ServiceTags | None = None, *, quiet: bool = False) -> Any:
    from ..firewall import FirewallPolicy
    from ..jsonpos import read_json
    from ..sources import kind_of, plan_firewall
    from ..terraform import split_plan_ref

    path, _ = split_plan_ref(args.firewall_policy)
    if os.path.isfile(path) and kind_of(read_json(path)) == "plan":
        fw = plan_firewall(
            args.firewall_policy,
            assume_unknown=getattr(args, "assume_unknown", None),
            ip_groups={k: [m for m in v.split(",") if m] for k, v in kv(args.ip_group, "--ip-group").items()},
            dns={k: v.split(",") for k, v in kv(args.dns, "--dns").items()},
            service_tags=tags if tags is not None else tags_of(args),
        )
        for note in [] if quiet else fw.notes:
            print(f"adu-fw: note: {note}", file=sys.stderr)
        return fw
    fw = FirewallPolicy.load(
        args.firewall_policy,
        ip_groups={k: [m for m in v.split(",") if m] for k, v in kv(args.ip_group, "--ip-group").items()},
        dns={k: v.split(",") for k, v in kv(args.dns, "--dns").items()},
        service_tags=tags if tags is not None else tags_of(args),
        params=params(args),
        deployment=deployment_of(args),
    )
    for note in [] if quiet else fw.notes:
        print(f"adu-fw: note: {note}", file=sys.stderr)
    return fw


def when(text: str | None, opt: str) -> Any:
    import datetime as _dt

    if text is None:
        return None
    try:
        value = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise AduFwError(f"{opt} expects an ISO date or time such as 2024-06-10 or 2024-06-10T13:00, got {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)


def storage_options(items: list[str]) -> dict[str, Any]:
    """--storage-option KEY=VALUE pairs for fsspec (values as JSON when they parse: true, 1, ...)."""
    return json_values(items, "--storage-option")

"""What every command shares: exit codes, the service-tag and policy options, building a policy from them."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import AduFwError
from ..policy import Policy
from ..servicetags import ServiceTags, load_cached

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def common_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--service-tags",
        metavar="FILE",
        help="service-tag JSON (weekly download or az network list-service-tags output); "
        "an embedded file may be named by its date, e.g. 20240603 (default: the newest embedded file)",
    )
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")


def tags_of(args: argparse.Namespace) -> ServiceTags:
    tags = load_cached(args.service_tags)
    if tags.next_link:
        print(
            f"adu-fw: warning: {tags.source} is one page of a paged answer (nextLink is set); "
            "tags on later pages are missing",
            file=sys.stderr,
        )
    return tags


def source_doc(tags: ServiceTags) -> dict[str, Any]:
    return {
        "source": tags.source,
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
    g.add_argument(
        "--param", metavar="NAME=VALUE", action="append", default=[], help="ARM template parameter (JSON or text)"
    )
    g.add_argument(
        "--platform-bypass",
        action="store_true",
        help="model the data plane: traffic to 168.63.129.16 / 169.254.169.254 (and probes from 168.63.129.16) "
        "skips the NSGs unless a rule with an AzurePlatform* tag matches it (default: evaluated like any flow, "
        "as IP flow verify does)",
    )
    f = p.add_argument_group("Azure Firewall")
    f.add_argument("--firewall-policy", metavar="FILE", help="an Azure Firewall policy instead of NSGs")
    f.add_argument("--ip-group", metavar="NAME=IP[,IP...]", action="append", default=[], help="IP Group members ('NAME=' for empty)")
    f.add_argument("--dns", metavar="FQDN=IP[,IP...]", action="append", default=[], help="DNS map for FQDNs in network rules")


def kv(items: list[str], opt: str) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise AduFwError(f"{opt} expects NAME=VALUE, got {item!r}")
        out[name.strip()] = value
    return out


def params(args: argparse.Namespace) -> dict[str, object]:
    return json_values(args.param, "--param")


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


def policy_of(args: argparse.Namespace) -> Policy:
    if args.nsg and (args.subnet_nsg or args.nic_nsg):
        raise AduFwError("give --nsg, or --subnet-nsg and/or --nic-nsg, not both")
    if not (args.nsg or args.subnet_nsg or args.nic_nsg):
        raise AduFwError("no policy: give --nsg FILE, or --subnet-nsg FILE and/or --nic-nsg FILE")
    common = dict(
        virtual_network=args.vnet,
        service_tags=tags_of(args),
        asgs={k: v.split(",") for k, v in kv(args.asg, "--asg").items()},
        params=params(args),
        platform_bypass=args.platform_bypass,
    )
    if args.nsg:
        policy = Policy.from_nsg(args.nsg, **common)  # type: ignore[arg-type]
    else:
        policy = Policy.from_nsgs(subnet=args.subnet_nsg, nic=args.nic_nsg, **common)  # type: ignore[arg-type]
    for w in policy.warnings:
        print(f"adu-fw: warning: {w}", file=sys.stderr)
    return policy


def yn(b: bool) -> str:
    return "yes" if b else "no"


def firewall_of(args: argparse.Namespace) -> Any:
    from ..firewall import FirewallPolicy

    fw = FirewallPolicy.load(
        args.firewall_policy,
        ip_groups={k: [m for m in v.split(",") if m] for k, v in kv(args.ip_group, "--ip-group").items()},
        dns={k: v.split(",") for k, v in kv(args.dns, "--dns").items()},
        service_tags=tags_of(args),
        params=params(args),
    )
    for note in fw.notes:
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

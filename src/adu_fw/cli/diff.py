"""`adu-fw diff`: the exact flows whose decision or rule changes between two policies or tag files."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import AduFwError
from ..render import dump_json
from .common import (EXIT_FINDINGS, EXIT_OK, admin_options, deployment_of, kv, load_tags, params, source_doc, storage_options,
                     template_options, warn_stale)


def _print_regions(changes: Any) -> None:
    for c in changes:
        r = c.region
        print(f"\n{c.direction} {r['family']} {r['protocols']} src ports {r['src_ports']} dst ports {r['dst_ports']}: "
              f"{c.old['access']} ({c.old['rule']}) -> {c.new['access']} ({c.new['rule']})")
        print(f"  src ({r['src_addresses']:,} addresses): {_some(r['src'], 'prefixes')}")
        print(f"  dst ({r['dst_addresses']:,} addresses): {_some(r['dst'], 'prefixes')}")


def cmd_plan_diff(args: argparse.Namespace) -> int:
    """--terraform-plan: every NSG's before vs after (the flow-space change of the pull request)."""
    from ..plandiff import plan_diff
    from ..terraform import split_plan_ref

    path, name = split_plan_ref(args.terraform_plan)
    d = plan_diff(path, name=name, virtual_network=args.vnet, old_service_tags=load_tags(args.old_service_tags or args.service_tags),
                  new_service_tags=load_tags(args.new_service_tags or args.service_tags),
                  asgs={k: v.split(",") for k, v in kv(args.asg, "--asg").items()},
                  assume_unknown=None if args.assume_unknown == "error" else args.assume_unknown)
    for w in d.warnings:
        print(f"adu-fw: warning: {w}", file=sys.stderr)
    if args.json:
        dump_json(d.to_dict())
    else:
        total = sum(len(c.diff.changes) for c in d.nsgs)
        print(f"{path}: {len(d.nsgs)} NSG(s), {total} region(s) of the flow space change decision or deciding rule")
        for c in d.nsgs:
            print(f"\nNSG {c.name} ({c.address}): {c.change}, {len(c.diff.changes)} region(s)")
            _print_regions(c.diff.changes)
    return EXIT_FINDINGS if d else EXIT_OK


def cmd_diff(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..policy import Policy
    from ..whatif import diff

    if args.terraform_plan:
        if any(getattr(args, a) for a in ("nsg", "old_nsg", "new_nsg", "subnet_nsg", "nic_nsg", "old_subnet_nsg",
                                          "new_subnet_nsg", "old_nic_nsg", "new_nic_nsg", "old_effective", "new_effective")):
            raise AduFwError("--terraform-plan compares the plan's before and after: give no other NSG option")
        return cmd_plan_diff(args)

    common = dict(
        virtual_network=args.vnet,
        asgs={k: v.split(",") for k, v in kv(args.asg, "--asg").items()},
        params=params(args),
        deployment=deployment_of(args),
    )

    def side(which: str) -> tuple[str, Policy]:
        refs = getattr(args, f"{which}_admin_rules") or args.admin_rules
        admin = admin_options(args, refs)
        admin_label = label = f" admin-rules={','.join(refs)}" if refs else ""
        effective = getattr(args, f"{which}_effective")
        if effective:
            from ..effective import effective_policy

            if getattr(args, f"{which}_nsg") or getattr(args, f"{which}_subnet_nsg") or getattr(args, f"{which}_nic_nsg"):
                raise AduFwError(f"{which}: give an NSG or --{which}-effective, not both")
            ref = getattr(args, f"{which}_service_tags") or args.service_tags
            eff = effective_policy(effective, service_tags=load_tags(ref),
                                   virtual_network=args.vnet, asgs=common["asgs"], **admin)
            return f"effective={effective}{label}", eff
        single = getattr(args, f"{which}_nsg") or args.nsg
        subnet = getattr(args, f"{which}_subnet_nsg") or args.subnet_nsg
        nic = getattr(args, f"{which}_nic_nsg") or args.nic_nsg
        ref = getattr(args, f"{which}_service_tags") or args.service_tags
        if single and (subnet or nic):
            raise AduFwError(f"{which}: give an NSG, or a subnet and/or NIC NSG, not both")
        if not (single or subnet or nic or admin["admin_rules"]):
            raise AduFwError(f"no {which} policy: give --nsg/--{which}-nsg, or --subnet-nsg/--nic-nsg (or their --{which}- forms)")

        def build(tags: Any) -> Policy:
            if single:
                return Policy.from_nsg(single, service_tags=tags, **common, **admin)  # type: ignore[arg-type]
            return Policy.from_nsgs(subnet=subnet, nic=nic, service_tags=tags, **common, **admin)  # type: ignore[arg-type]

        label = (single or f"subnet={subnet} nic={nic}") + admin_label
        if ref is not None and Path(ref).is_dir():  # the flows replay with the file in force at each hour
            from ..tags.versions import TagVersions, VersionedPolicy

            return label, VersionedPolicy(TagVersions.from_dir(ref), build)
        return label, build(load_tags(ref))

    if not any(getattr(args, a) for a in ("old_nsg", "new_nsg", "old_subnet_nsg", "new_subnet_nsg", "old_nic_nsg",
                                          "new_nic_nsg", "old_service_tags", "new_service_tags", "old_effective",
                                          "new_effective", "old_admin_rules", "new_admin_rules")):
        raise AduFwError("nothing to compare: give --old-*/--new-* NSGs, admin rules and/or --old-service-tags/"
                         "--new-service-tags, --old-effective/--new-effective, or --terraform-plan")
    old_ref, old = side("old")
    new_ref, new = side("new")
    d = diff(old, new, flows=args.flows or None, storage_options=storage_options(args.storage_option))
    empty = d.flows_read.nothing_read if d.flows_read is not None else None
    if not args.flows:
        for s in (old, new):
            if not hasattr(s, "versions"):
                warn_stale(s.service_tags)
    if args.json:
        doc = d.to_dict()
        doc["old"] = {"nsg": old_ref, "service_tags": old.service_tags.source}
        doc["new"] = {"nsg": new_ref, "service_tags": new.service_tags.source}
        for key, s in (("old", old), ("new", new)):
            doc[key]["serviceTags"] = source_doc(s.service_tags)
            if hasattr(s, "versions"):
                doc[key]["service_tag_versions"] = s.to_dict()
        if empty:
            doc["error"] = f"--flows {' '.join(args.flows)}: {empty}"
        dump_json(doc)
    else:
        print(f"old: {old_ref} with {_tags_text(old)}")
        print(f"new: {new_ref} with {_tags_text(new)}")
        print(f"{len(d.changes)} region(s) of the flow space change decision or deciding rule")
        _print_regions(d.changes)
        if args.flows and not empty:
            print(f"\nrecorded flows compared: {d.flows_compared:,}; changed: {d.flows_changed:,}")
            for f in d.flow_changes[:TEXT_ITEMS]:
                print(f"  {f['direction']} {f['src_ip']} -> {f['dst_ip']}:{f['dst_port']}: "
                      f"{f['old']['access']} ({f['old']['rule']}) -> {f['new']['access']} ({f['new']['rule']})")
            if len(d.flow_changes) > TEXT_ITEMS:
                print(f"  ... {len(d.flow_changes) - TEXT_ITEMS:,} more changed flows (all of them in --json)")
    if empty:  # replaying nothing is not a diff of the recorded flows: say what was found instead
        raise AduFwError(f"--flows {' '.join(args.flows)}: {empty}")
    return EXIT_FINDINGS if d else EXIT_OK


def _tags_text(side: Any) -> str:
    if not hasattr(side, "versions"):
        return side.service_tags.source
    used = side.to_dict()
    if not used:
        return f"the files in {side.versions.source} (regions: the newest, {side.versions.files[-1].name})"
    per = "; ".join(f"{u['label']} for {u['hour_count']} hour(s)" for u in used)
    return f"the files in {side.versions.source} by hour ({per}; regions: the newest, {side.versions.files[-1].name})"


TEXT_ITEMS = 12  # text output abbreviates long lists (and says how many it left out); --json never does


def _some(items: list[str], what: str) -> str:
    if len(items) <= TEXT_ITEMS:
        return ", ".join(items)
    return ", ".join(items[:TEXT_ITEMS]) + f", ... {len(items) - TEXT_ITEMS} more {what} (all in --json)"


def register(sub: Any) -> None:
    p = sub.add_parser(
        "diff",
        help="what changes between two NSGs and/or two service-tag files (exit 1 when anything does)",
        description="The exact set of flows whose decision or deciding rule changes, as regions of the flow space "
        "(protocols x source prefixes x ports x destination prefixes, per direction) with address counts. "
        "--flows also replays recorded flow logs through both sides.",
    )
    p.add_argument("--nsg", metavar="FILE[:NAME]", help="the NSG on both sides (when only the service tags change)")
    p.add_argument("--old-nsg", metavar="FILE[:NAME]")
    p.add_argument("--new-nsg", metavar="FILE[:NAME]")
    p.add_argument("--subnet-nsg", metavar="FILE[:NAME]", help="subnet NSG on both sides")
    p.add_argument("--nic-nsg", metavar="FILE[:NAME]", help="NIC NSG on both sides")
    for which in ("old", "new"):
        p.add_argument(f"--{which}-subnet-nsg", metavar="FILE[:NAME]")
        p.add_argument(f"--{which}-nic-nsg", metavar="FILE[:NAME]")
    p.add_argument("--service-tags", metavar="FILE|DIR",
                   help="service tags of both sides; a folder of weekly files replays each --flows hour with the file "
                   "in force then (the regions use its newest file). Default: the newest stored, else embedded, file")
    p.add_argument("--old-service-tags", metavar="FILE|DIR", help="the old side's (default: --service-tags)")
    p.add_argument("--new-service-tags", metavar="FILE|DIR", help="the new side's (default: --service-tags)")
    p.add_argument("--admin-rules", metavar="FILE[:COLLECTION]", action="append", default=[],
                   help="AVNM security admin rules evaluated before the NSGs, on both sides (repeatable)")
    for which in ("old", "new"):
        p.add_argument(f"--{which}-admin-rules", metavar="FILE[:COLLECTION]", action="append", default=[],
                       help=f"admin rules of the {which} side only (instead of --admin-rules)")
    p.add_argument("--network-group", metavar="NAME=CIDR[,CIDR...]", action="append", default=[],
                   help="address space of a network group that admin rules name")
    p.add_argument("--flows", metavar="PATH", nargs="+",
                   help="flow logs to replay through both sides (files, directories, globs or fsspec URLs, any shape)")
    p.add_argument("--storage-option", metavar="KEY=VALUE", action="append", default=[],
                   help="fsspec storage option for --flows URLs (repeatable)")
    p.add_argument("--terraform-plan", metavar="FILE[:NAME]",
                   help="a Terraform plan (terraform show -json): every NSG's change.before against its change.after "
                   "(NAME: one NSG, by name or address)")
    p.add_argument("--assume-unknown", choices=("error", "any"), default="error",
                   help="plan values unknown until apply: an error naming resource and attribute (default), or *")
    p.add_argument("--old-effective", metavar="FILE", help="effective rules (az network nic list-effective-nsg) as the old side")
    p.add_argument("--new-effective", metavar="FILE", help="effective rules as the new side (e.g. against the template)")
    p.add_argument("--vnet", metavar="CIDR", action="append", default=[])
    p.add_argument("--asg", metavar="NAME=IP[,IP...]", action="append", default=[])
    template_options(p.add_argument_group("ARM templates"))
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(func=cmd_diff)

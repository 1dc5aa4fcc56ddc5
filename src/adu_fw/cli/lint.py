"""`adu-fw lint`: validation problems, and with --deep the exact anomalies."""
from __future__ import annotations

import argparse
from typing import Any

from ..render import dump_json
from .common import EXIT_FINDINGS, EXIT_OK, common_options, kv, params, tags_of


def cmd_lint(args: argparse.Namespace) -> int:
    from ..nsg import read_nsgs, split_ref
    from ..policy import Policy
    from ..rules import CONTEXT_TAGS

    tags = tags_of(args)
    template_params = params(args)
    files = []
    total = 0
    for ref in args.files:
        path, only = split_ref(ref)
        nsgs = read_nsgs(path, params=template_params)
        entries = []
        for nsg in nsgs:
            if only and only.lower() not in (nsg.name.lower(), (nsg.raw_name or "").lower()):
                continue
            problems = [
                {"record": e.record, "field": e.field, "message": e.message, "text": str(e)} for e in nsg.errors
            ]
            for rule in nsg.rules:
                for side, fld in ((rule.source, "sourceAddressPrefix"), (rule.destination, "destinationAddressPrefix")):
                    if side.tag and side.tag.lower() not in CONTEXT_TAGS and side.tag not in tags:
                        msg = f"unknown service tag {side.tag!r} (not in {tags.source})"
                        rec = f"NSG {nsg.name!r} rule {rule.name!r}"
                        problems.append(
                            {"record": rec, "field": fld, "message": msg, "text": f"{path}: {rec}: field {fld!r}: {msg}"}
                        )
                    elif side.tag and side.tag in tags and not tags[side.tag].has_feature("NSG"):
                        nsg.warnings.append(
                            f"rule {rule.name!r}: service tag {side.tag!r} does not list NSG in networkFeatures"
                        )
            total += len(problems)
            entries.append(
                {"name": nsg.name, "rules": len(nsg.rules), "problems": problems, "warnings": list(nsg.warnings)}
            )
        files.append({"file": path, "nsgs": entries})
    deep: list[dict[str, Any]] = []
    if args.deep:
        from ..anomalies import anomalies

        for ref in args.files:
            path, only = split_ref(ref)
            for nsg in read_nsgs(path, params=template_params):
                if only and only.lower() not in (nsg.name.lower(), (nsg.raw_name or "").lower()):
                    continue
                if nsg.errors:
                    continue  # reported above; a broken NSG has no meaning to analyse
                policy = Policy(
                    single=nsg,
                    virtual_network=args.vnet,
                    service_tags=tags,
                    asgs={k: v.split(",") for k, v in kv(args.asg, "--asg").items()},
                )
                deep += [f.to_dict() for f in anomalies(policy)]
    if args.json:
        dump_json({"files": files, "problems": total, "anomalies": deep if args.deep else None})
    else:
        for f in files:
            for n in f["nsgs"]:
                status = f"{len(n['problems'])} problem(s)" if n["problems"] else "ok"
                print(f"{f['file']}: NSG {n['name']}: {n['rules']} rule(s), {status}")
                for p in n["problems"]:
                    print(f"  error: {p['text']}")
                for w in n["warnings"]:
                    print(f"  warning: {w}")
        print(f"{total} problem(s)")
        if args.deep:
            print(f"\n{len(deep)} anomal{'y' if len(deep) == 1 else 'ies'} (exact, over the whole flow space):")
            for f in deep:
                print(f"  {f['kind']}: NSG {f['nsg']} {f['direction']} {f['rule']} ({f['priority']}): {f['explanation']}")
    return EXIT_FINDINGS if total or deep else EXIT_OK


def register(sub: Any) -> None:
    p = sub.add_parser(
        "lint",
        help="every validation problem in NSG files (exit 1 when any)",
        description="Validate NSG definitions against Azure's rules: priorities, names, prefixes, ports, "
        "protocols, tags, limits. Lists every problem at once.",
    )
    p.add_argument("files", nargs="+", metavar="NSGFILE[:NAME]")
    p.add_argument(
        "--param", metavar="NAME=VALUE", action="append", default=[], help="ARM template parameter (JSON or text)"
    )
    p.add_argument("--deep", action="store_true",
                   help="also find shadowed, redundant, generalizing and correlated rules, exactly, with witness flows")
    p.add_argument("--vnet", metavar="CIDR", action="append", default=[], help="VirtualNetwork space (for --deep)")
    p.add_argument("--asg", metavar="NAME=IP[,IP...]", action="append", default=[], help="ASG members (for --deep)")
    common_options(p)
    p.set_defaults(func=cmd_lint)

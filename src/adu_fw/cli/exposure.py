"""`adu-fw exposure`: what a source (the Internet by default) can reach inbound, exactly."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import AduFwError
from ..render import dump_json
from .common import EXIT_FINDINGS, EXIT_OK, common_options, policy_of, policy_options


def _proto(n: int) -> str:
    return {6: "tcp", 17: "udp", 1: "icmp", 50: "esp", 51: "ah"}.get(n, str(n))


def _shown(items: list[str], limit: int = 6) -> str:
    return ", ".join(items[:limit]) + (f", ... {len(items) - limit} more" if len(items) > limit else "")


def cmd_exposure(args: argparse.Namespace) -> int:
    from ..exposure import exposure

    if args.firewall_policy:
        raise AduFwError("exposure evaluates NSGs: give --nsg, --subnet-nsg/--nic-nsg, --terraform-plan or --effective")
    fmt = "json" if args.json and args.format == "text" else args.format
    policy = policy_of(args)
    report = exposure(policy, args.source, args.to or None)
    doc = report.to_dict()
    if fmt == "json":
        dump_json(doc)
    elif fmt == "sarif":
        dump_json(sarif_of(report, policy, args))
    else:
        s = doc["summary"]
        where = " -> ".join(f"{n['nsg']} ({n['level']})" for n in s["nsgs"])
        print(f"inbound from {s['source']} to {_shown(s['destinations'])} through {where}: "
              f"{s['exposures']} exposed region(s), {s['high']} high, {s['medium']} medium")
        for note in s["notes"]:
            print(f"  note: {note}")
        for e in doc["exposures"]:
            ports = ", ".join(e["ports"]) if e["ports"] is not None else "no ports"
            by = " + ".join(f"{a['nsg']}/{a['rule']} ({a['priority']})" for a in e["allowed_by"])
            print(f"\n{e['severity'].upper():6} {e['family']} {e['protocol']} {ports}  allowed by {by}")
            print(f"  from ({e['source_addresses']:,} addresses): {_shown(e['sources'])}")
            print(f"  to   ({e['destination_addresses']:,} addresses): {_shown(e['destinations'])}")
            if e["source_ports"] not in (None, ["0-65535"]):
                print(f"  source ports: {', '.join(e['source_ports'])}")
            w = e["witness"]
            print(f"  witness: {_proto(w['protocol'])} {w['src']}:{w['src_port']} -> {w['dst']}:{w['dst_port']}"
                  f"  (adu-fw check --direction inbound --protocol {_proto(w['protocol'])} --src {w['src']} --src-port "
                  f"{w['src_port']} --dst {w['dst']} --dst-port {w['dst_port']})")
    return EXIT_FINDINGS if report.high else EXIT_OK


def sarif_of(report: Any, policy: Any, args: argparse.Namespace) -> dict[str, Any]:
    from ..sarif import Locator, Result, sarif_log

    results = []
    file_of = {n.name: n.source for n in policy.nsgs}
    for e in report.exposures:
        d = e.to_dict()
        ports = ", ".join(d["ports"]) if d["ports"] is not None else "no ports"
        w = d["witness"]
        by = " + ".join(f"NSG {a['nsg']} rule {a['rule']} ({a['priority']})" for a in d["allowed_by"])
        msg = (f"{d['family']} {d['protocol']} {ports} is reachable from {report.source} "
               f"({d['source_addresses']:,} source addresses) to {', '.join(d['destinations'][:4])}"
               f"{' ...' if len(d['destinations']) > 4 else ''}; allowed by {by}. Witness: "
               f"{_proto(w['protocol'])} {w['src']}:{w['src_port']} -> {w['dst']}:{w['dst_port']}.")
        related = [(file_of.get(a["nsg"]), a["nsg"], a["rule"], f"{a['level']} NSG {a['nsg']} allows it with {a['rule']}")
                   for a in d["allowed_by"][:-1]]
        results.append(Result("ADUFW-E001" if e.severity == "high" else "ADUFW-E002", msg, file=file_of.get(e.nsg),
                              nsg=e.nsg, rule=e.rule, related=related,
                              properties={"exposure": d}))
    return sarif_log(results, locator=Locator(), command=" ".join(["adu-fw"] + sys.argv[1:]), notes=report.notes)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "exposure",
        help="what a source (default: the Internet) can reach inbound, exactly; exit 1 when a high finding",
        description="The exact inbound regions reachable from SOURCE to the destinations (default: the VNet space), "
        "grouped by the rule that allows them, with protocol, destination ports (merged ranges), complete source and "
        "destination prefixes, the NSG(s) and rule, a witness flow, and a severity: high for remote-admin and "
        "database ports (22, 23, 135, 139, 445, 1433, 1521, 2375, 2376, 3306, 3389, 5432, 5985, 5986, 6379, 9200, "
        "27017) and any port, medium otherwise. A subnet NSG + NIC NSG pair exposes a region only when both allow it. "
        "Exit 1 when any finding is high.",
    )
    p.add_argument("--from", dest="source", default="Internet", metavar="SOURCE",
                   help="a service tag (Internet, AzureCloud, ...), a CIDR or comma-separated CIDRs, or * (default: Internet)")
    p.add_argument("--to", action="append", default=[], metavar="CIDR",
                   help="destination prefixes (repeatable; default: the VNet space, without 168.63.129.16)")
    p.add_argument("--format", choices=("text", "json", "sarif"), default="text",
                   help="text (default), json (as --json) or sarif (SARIF 2.1.0 for code scanning)")
    policy_options(p)
    common_options(p)
    p.set_defaults(func=cmd_exposure)

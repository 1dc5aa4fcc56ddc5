"""`adu-fw endpoint`: Device Update private endpoints (DNS, connection states, reachability)."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..render import dump_json, table
from .common import EXIT_FINDINGS, EXIT_OK


def _topology(args: argparse.Namespace) -> Any:
    from ..privatelink import Topology

    return Topology.load(args.topology)


def _vantage(args: argparse.Namespace) -> dict[str, Any]:
    return {"from_vnet": args.from_vnet, "from_onprem": args.from_onprem}


def cmd_endpoint_resolve(args: argparse.Namespace) -> int:
    res = _topology(args).resolve(args.hostname, **_vantage(args))
    if args.json:
        dump_json(res.to_dict())
        return EXIT_OK
    print(f"{res.hostname} from {res.vantage}: {res.status}")
    if res.records:
        table(["name", "type", "value", "answered by"], [(r.name, r.type, r.value, r.answered_by) for r in res.records])
    for n in res.notes:
        print(f"  note: {n}")
    return EXIT_OK


def cmd_endpoint_check(args: argparse.Namespace) -> int:
    v = _topology(args).can_manage(args.account, client_ip=args.client_ip, client_subnet=args.client_subnet, **_vantage(args))
    if args.json:
        dump_json(v.to_dict())
    else:
        print(f"update management of {v.account} from {v.vantage}: {'works' if v.works else 'does NOT work'}")
        for r in v.reasons:
            print(f"  - {r}")
        for w in v.warnings:
            print(f"  warning: {w}")
    return EXIT_OK if v.works else EXIT_FINDINGS


def cmd_endpoint_transition(args: argparse.Namespace) -> int:
    new = _topology(args).transition(args.endpoint, args.action)
    text = new.to_json()
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)
        state = new.endpoints[args.endpoint.lower()]["state"]
        print(json.dumps({"endpoint": args.endpoint, "state": state, "out": args.out}) if args.json else
              f"{args.endpoint}: {state} -> {args.out}")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def register(sub: Any) -> None:
    ep = sub.add_parser("endpoint", help="Device Update private endpoints: DNS answers, connection states, reachability")
    esub = ep.add_subparsers(dest="endpoint_command", metavar="SUBCOMMAND")
    esub.required = True

    def vantage(p: argparse.ArgumentParser) -> None:
        p.add_argument("--topology", required=True, metavar="FILE", help="topology JSON (or YAML with PyYAML); see docs/topology.md")
        g = p.add_mutually_exclusive_group()
        g.add_argument("--from", dest="from_vnet", metavar="VNET", help="ask from inside this VNet (default: the Internet)")
        g.add_argument("--from-onprem", metavar="SITE", help="ask from this on-premises site")
        p.add_argument("--json", action="store_true", help="print machine-readable JSON")

    p = esub.add_parser("resolve", help="the DNS answer chain for a hostname from a vantage point")
    p.add_argument("hostname")
    vantage(p)
    p.set_defaults(func=cmd_endpoint_resolve)
    p = esub.add_parser("check", help="does update management (import, group, deploy) work from here (exit 1 when not)")
    p.add_argument("account")
    p.add_argument("--client-ip", metavar="IP", help="the client's address (for the NSG path)")
    p.add_argument("--client-subnet", metavar="NAME", help="the client's subnet in the --from VNet (its NSG is evaluated)")
    vantage(p)
    p.set_defaults(func=cmd_endpoint_check)
    for action, text in (("approve", "approve a Pending connection"), ("reject", "reject a connection"),
                         ("remove", "remove a connection (Disconnected)")):
        p = esub.add_parser(action, help=f"{text}; prints (or writes) the new topology")
        p.add_argument("endpoint")
        p.add_argument("--topology", required=True, metavar="FILE")
        p.add_argument("--out", metavar="FILE", help="write the new topology here instead of stdout")
        p.add_argument("--json", action="store_true", help="print machine-readable JSON")
        p.set_defaults(func=cmd_endpoint_transition, action=action)

"""`adu-fw check`: one flow, with the rule that decides it."""
from __future__ import annotations

import argparse
from typing import Any

from ..errors import AduFwError
from ..render import dump_json, table
from .common import EXIT_OK, common_options, firewall_of, policy_of, policy_options, source_doc, tags_line, yn


def cmd_check(args: argparse.Namespace) -> int:
    if args.firewall_policy:
        fw = firewall_of(args)
        v = fw.check(args.protocol, args.src, args.src_port, args.dst, args.dst_port, fqdn=args.fqdn)
        if args.json:
            dump_json({**v.to_dict(), "serviceTags": source_doc(fw.service_tags)})
        else:
            where = f"{v.kind} rule {v.group}/{v.collection}/{v.rule}" if v.rule else "default deny (no rule matched)"
            print(f"{v.access}: {where}" + (f", translated to {v.translated}" if v.translated else ""))
            for n in v.notes:
                print(f"  note: {n}")
            print(tags_line(fw.service_tags, args))
        return EXIT_OK
    if not args.direction:
        raise AduFwError("--direction is required (inbound or outbound)")
    policy = policy_of(args)
    v = policy.check(args.direction, args.protocol, args.src, args.src_port, args.dst, args.dst_port)
    if args.json:
        doc = v.to_dict()
        doc["flow"] = {
            "direction": v.direction,
            "protocol": args.protocol,
            "src": args.src,
            "srcPort": args.src_port,
            "dst": args.dst,
            "dstPort": args.dst_port,
        }
        doc["serviceTags"] = source_doc(policy.service_tags)
        dump_json(doc)
        return EXIT_OK
    if v.layer == "admin":
        where = f"security admin rule {v.rule} ({v.trail[0].access}, priority {v.priority}) in {v.nsg}"
    else:
        where = f"rule {v.rule} (priority {v.priority}) in NSG {v.nsg}" if v.rule else "no NSG applies"
    print(f"{v.access}: {where}")
    print(f"flow: {v.direction} {args.protocol} {args.src}:{args.src_port} -> {args.dst}:{args.dst_port}")
    for n in v.notes:
        print(f"  note: {n}")
    if args.explain:
        for t in v.trail:
            admin = t.level == "admin"
            if admin:
                outcome = {"Deny": "denied, the NSGs are not consulted", "AlwaysAllow": "allowed, the NSGs are not consulted",
                           "Allow": "handed to the NSGs"}.get(t.access or "", "no admin rule matched: handed to the NSGs")
                print(f"\nsecurity admin rules (AVNM, before any NSG): "
                      + (f"{t.access} by {t.rule} ({t.priority}) in {t.nsg}: " if t.rule else "") + outcome)
            else:
                print(f"\nNSG {t.nsg} ({t.level}): {t.access} by {t.rule} ({t.priority})")
            table(
                ["priority", "rule", "access", "protocol", "source", "src port", "destination", "dst port", "match"]
                + (["collection"] if admin else []),
                [
                    (
                        r.priority,
                        r.rule,
                        r.access,
                        yn(r.protocol),
                        yn(r.source),
                        yn(r.source_port),
                        yn(r.destination),
                        yn(r.destination_port),
                        "MATCH" if r.matched else "",
                    )
                    + ((r.collection,) if admin else ())
                    for r in t.rules
                ],
            )
    print(tags_line(policy.service_tags, args))
    return EXIT_OK


def register(sub: Any) -> None:
    p = sub.add_parser(
        "check",
        help="would this flow be allowed, and by which rule (offline IP flow verify / NSG diagnostics)",
        description="Evaluate one flow against an NSG, or a subnet NSG and NIC NSG, after any AVNM security admin "
        "rules (--admin-rules), with Azure's semantics. "
        "Exit 0 whatever the verdict; 2 on bad input.",
    )
    p.add_argument("--direction", help="inbound or outbound (required for NSGs)")
    p.add_argument("--protocol", required=True, help="tcp, udp, icmp, esp, ah, or an IANA number")
    p.add_argument("--src", required=True, metavar="IP")
    p.add_argument("--src-port", type=int, default=0, metavar="N")
    p.add_argument("--dst", required=True, metavar="IP")
    p.add_argument("--dst-port", type=int, default=0, metavar="N")
    p.add_argument("--explain", action="store_true", help="show every rule examined, in the admin stage and per NSG, field by field")
    p.add_argument("--fqdn", metavar="NAME", help="the flow's HTTP Host / TLS SNI (firewall application rules)")
    policy_options(p)
    common_options(p)
    p.set_defaults(func=cmd_check)

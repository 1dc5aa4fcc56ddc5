"""`adu-fw lint`: validation problems, and with --deep the exact anomalies."""
from __future__ import annotations

import argparse
from typing import Any

import re
import sys

from ..errors import AduFwError
from ..render import dump_json
from .common import EXIT_FINDINGS, EXIT_OK, common_options, deployment_of, kv, params, tags_of, template_options


def _chosen(nsgs: list[Any], only: str | None, path: str) -> list[Any]:
    """Every NSG, or the one ``FILE:NAME`` selects (by name, symbolic name, naming variable, #N)."""
    from ..nsg import select_nsg

    if not only:
        return list(nsgs)
    return [select_nsg(nsgs, only, path)]


def cmd_lint(args: argparse.Namespace) -> int:
    from ..nsg import split_ref
    from ..policy import Policy
    from ..rules import CONTEXT_TAGS
    from ..sources import read_nsgs_any

    tags = tags_of(args)
    template_params = params(args)
    deployment = deployment_of(args)
    files = []
    total = 0
    refs = list(args.files) + list(args.terraform_plan or [])
    if not refs and not args.admin_rules:
        raise AduFwError("nothing to lint: give NSG files (ARM, az, REST, Terraform plans, effective rules), "
                         "--terraform-plan FILE or --admin-rules FILE")
    read: dict[str, Any] = {}
    for ref in refs:
        path, only = split_ref(ref)
        nsgs, file_warnings, kind = read_nsgs_any(path, params=template_params, assume_unknown=args.assume_unknown,
                                                  deployment=deployment)
        read[ref] = nsgs
        # what an ARM document held but could not be read: NSG instances lost in a loop are problems
        doc_problems = [{"record": p.where or None, "field": None, "message": p.message, "text": f"{path}: {p}",
                         "nsg": None, "rule": None} for p in getattr(nsgs, "problems", []) if p.kind == "error"]
        doc_warnings = [str(p) for p in getattr(nsgs, "problems", []) if p.kind != "error"]
        total += len(doc_problems)
        entries = []
        for nsg in _chosen(nsgs, only, path):
            problems = [
                {"record": e.record, "field": e.field, "message": e.message, "text": str(e),
                 "nsg": nsg.name, "rule": _rule_of(e.record)} for e in nsg.errors
            ]
            for u in getattr(nsg, "unread", []):  # a rule not read is never "ok"
                rec = f"NSG {nsg.name!r} rule {u.name!r}"
                msg = f"not read, cannot be resolved offline: {u.reason}"
                problems.append({"record": rec, "field": None, "message": msg, "text": f"{path}: {rec}: {msg}",
                                 "nsg": nsg.name, "rule": u.name})
            for rule in nsg.rules:
                for side, fld in ((rule.source, "sourceAddressPrefix"), (rule.destination, "destinationAddressPrefix")):
                    if side.tag and side.tag.lower() not in CONTEXT_TAGS and side.tag not in tags:
                        msg = f"unknown service tag {side.tag!r} (not in {tags.source})"
                        rec = f"NSG {nsg.name!r} rule {rule.name!r}"
                        problems.append(
                            {"record": rec, "field": fld, "message": msg, "text": f"{path}: {rec}: field {fld!r}: {msg}",
                             "nsg": nsg.name, "rule": rule.name}
                        )
                    elif side.tag and side.tag in tags and not tags[side.tag].has_feature("NSG"):
                        nsg.warnings.append(
                            f"rule {rule.name!r}: service tag {side.tag!r} does not list NSG in networkFeatures"
                        )
            total += len(problems)
            entries.append(
                {"name": nsg.name, "rules": len(nsg.rules), "problems": problems,
                 "warnings": list(nsg.warnings) + [w for w in file_warnings if _about(w, nsg)],
                 "unread": [u.name for u in getattr(nsg, "unread", [])], "aliases": list(getattr(nsg, "aliases", [])),
                 "path": getattr(nsg, "path", "")}
            )
        files.append({"file": path, "kind": kind, "nsgs": entries, "problems": doc_problems, "warnings": doc_warnings,
                      "not_deployed": list(getattr(nsgs, "skipped", []))})
    admin = []
    if args.admin_rules:
        from ..adminrules import lint as lint_admin

        admin = [lint_admin(ref, tags, template_params, deployment) for ref in args.admin_rules]
        total += sum(len(a["problems"]) for a in admin)
    deep: list[dict[str, Any]] = []
    if args.deep:
        from ..anomalies import anomalies

        for ref in refs:
            path, only = split_ref(ref)
            for nsg in _chosen(read[ref], only, path):
                if nsg.errors or getattr(nsg, "unread", None):
                    continue  # reported above; a broken or partly read NSG has no meaning to analyse
                policy = Policy(
                    single=nsg,
                    virtual_network=args.vnet,
                    service_tags=tags,
                    asgs={k: v.split(",") for k, v in kv(args.asg, "--asg").items()},
                )
                deep += [dict(f.to_dict(), file=path) for f in anomalies(policy)]
    fmt = "json" if args.json and args.format == "text" else args.format
    if fmt == "sarif":
        dump_json(_sarif(files, deep, template_params))
    elif fmt == "json":
        dump_json({"files": files, "admin_rules": admin, "problems": total, "anomalies": deep if args.deep else None})
    else:
        for f in files:
            for p in f["problems"]:
                print(f"  error: {p['text']}")
            for w in f["warnings"]:
                print(f"  warning: {f['file']}: {w}")
            for n in f["not_deployed"]:
                print(f"  note: {f['file']}: not deployed with these parameters: {n}")
            for n in f["nsgs"]:
                status = f"{len(n['problems'])} problem(s)" if n["problems"] else "ok"
                print(f"{f['file']}: NSG {n['name']}: {n['rules']} rule(s), {status}")
                for p in n["problems"]:
                    print(f"  error: {p['text']}")
                for w in n["warnings"]:
                    print(f"  warning: {w}")
        for a in admin:
            status = f"{len(a['problems'])} problem(s)" if a["problems"] else "ok"
            print(f"{a['file']}: security admin rules: {a['rules']} rule(s) in {len(a['collections'])} collection(s), {status}")
            for p in a["problems"]:
                print(f"  error: {p['text']}")
            for w in a["warnings"]:
                print(f"  warning: {w}")
        print(f"{total} problem(s)")
        if args.deep:
            print(f"\n{len(deep)} anomal{'y' if len(deep) == 1 else 'ies'} (exact, over the whole flow space):")
            for f in deep:
                print(f"  {f['kind']}: NSG {f['nsg']} {f['direction']} {f['rule']} ({f['priority']}): {f['explanation']}")
    return EXIT_FINDINGS if total or deep else EXIT_OK


_TF_RULE = re.compile(r"\(rule (['\"])(?P<rule>.*)\1\)$")


def _rule_of(record: str | None) -> str | None:
    """The rule an error's record names (``NSG 'x' rule 'y'``, or ``address (rule 'y')`` for plans)."""
    from ..sarif import parse_record

    m = _TF_RULE.search(record or "")
    return m.group("rule") if m else parse_record(record)[1]


def _about(warning: str, nsg: Any) -> bool:
    head = warning.split(":", 1)[0]
    return head == (nsg.raw_name or nsg.name) or head.startswith((nsg.raw_name or nsg.name) + ".") or head.startswith(
        (nsg.raw_name or nsg.name) + "[")


def _sarif(files: list[dict[str, Any]], deep: list[dict[str, Any]], template_params: dict[str, Any]) -> dict[str, Any]:
    from ..sarif import DEEP_KIND, Locator, Result, lint_kind, sarif_log

    results = []
    for f in files:
        for p in f["problems"]:
            results.append(Result(lint_kind(p), p["text"], file=f["file"], properties={"field": None, "record": p["record"]}))
        for n in f["nsgs"]:
            for p in n["problems"]:
                results.append(Result(lint_kind(p), p["text"], file=f["file"], nsg=n["name"], rule=p.get("rule"),
                                      properties={"field": p["field"], "record": p["record"]}))
    for a in deep:
        related = [(a["file"], a["nsg"], r["rule"], f"{r['rule']} ({r['priority']}, {r['access']})")
                   for r in a["related"] if not r.get("default")]
        results.append(Result(DEEP_KIND[a["kind"]], a["explanation"], file=a["file"], nsg=a["nsg"], rule=a["rule"],
                              related=related, properties={"witness": a["witness"], "overlap": a["overlap"],
                                                           "direction": a["direction"], "default": a["default"]}))
    return sarif_log(results, locator=Locator(template_params), command=" ".join(["adu-fw"] + sys.argv[1:]))


def register(sub: Any) -> None:
    p = sub.add_parser(
        "lint",
        help="every validation problem in NSG files and AVNM security admin rules (exit 1 when any)",
        description="Validate NSG definitions against Azure's rules: priorities, names, prefixes, ports, "
        "protocols, tags, limits. Lists every problem at once.",
    )
    p.add_argument("files", nargs="*", metavar="NSGFILE[:NAME]",
                   help="ARM templates, az / REST NSG output, Terraform plans (terraform show -json) or effective rules")
    p.add_argument("--terraform-plan", action="append", default=[], metavar="FILE[:NAME]",
                   help="a Terraform plan to lint (repeatable; plans given as NSGFILE are recognised too)")
    p.add_argument("--assume-unknown", choices=("error", "any"), default="error",
                   help="plan values unknown until apply: a problem naming resource and attribute (default), or *")
    p.add_argument("--format", choices=("text", "json", "sarif"), default="text",
                   help="text (default), json (as --json) or sarif (SARIF 2.1.0 for code scanning)")
    template_options(p.add_argument_group("ARM templates"))
    p.add_argument("--admin-rules", metavar="FILE[:COLLECTION]", action="append", default=[],
                   help="also validate AVNM security admin rules (every problem with file, rule, field and value)")
    p.add_argument("--deep", action="store_true",
                   help="also find shadowed, redundant, generalizing and correlated rules, exactly, with witness flows")
    p.add_argument("--vnet", metavar="CIDR", action="append", default=[], help="VirtualNetwork space (for --deep)")
    p.add_argument("--asg", metavar="NAME=IP[,IP...]", action="append", default=[], help="ASG members (for --deep)")
    common_options(p)
    p.set_defaults(func=cmd_lint)

"""The ``adu-fw`` command: argument parsing and rendering only (the work lives in the library).

Exit codes: 0 ok, 1 findings (differences, disagreements, lint problems), 2 usage or input error.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, Callable, Sequence

from . import __version__
from .errors import AduFwError
from .render import dump_json, table
from .servicetags import ServiceTags, load_cached

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--service-tags",
        metavar="FILE",
        help="service-tag JSON (weekly download or az network list-service-tags output); "
        "an embedded file may be named by its date, e.g. 20240603 (default: the newest embedded file)",
    )
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")


def _tags_of(args: argparse.Namespace) -> ServiceTags:
    tags = load_cached(args.service_tags)
    if tags.next_link:
        print(
            f"adu-fw: warning: {tags.source} is one page of a paged answer (nextLink is set); "
            "tags on later pages are missing",
            file=sys.stderr,
        )
    return tags


def _source_doc(tags: ServiceTags) -> dict[str, Any]:
    return {
        "source": tags.source,
        "cloud": tags.cloud,
        "changeNumber": tags.change_number,
        "date": tags.date.isoformat() if tags.date else None,
        "shape": tags.shape,
        "tags": len(tags),
    }


def cmd_tags_lookup(args: argparse.Namespace) -> int:
    tags = _tags_of(args)
    results = []
    for ip in args.ips:
        results.append({"ip": ip, "tags": [{"name": n, "prefix": p} for n, p in tags.match(ip)]})
    if args.json:
        dump_json({"serviceTags": _source_doc(tags), "results": results})
        return EXIT_OK
    for r in results:
        print(f"{r['ip']}: {len(r['tags'])} tag(s)")
        if r["tags"]:
            table(["tag", "prefix"], [(t["name"], t["prefix"]) for t in r["tags"]])
        print()
    return EXIT_OK


def cmd_tags_show(args: argparse.Namespace) -> int:
    tags = _tags_of(args)
    try:
        tag = tags[args.name]
    except KeyError as exc:
        raise AduFwError(str(exc.args[0])) from None
    if args.json:
        dump_json(tag.to_dict())
        return EXIT_OK
    feats = ",".join(tag.network_features) if tag.network_features is not None else "(null)"
    print(f"name:           {tag.name}")
    print(f"changeNumber:   {tag.change_number}")
    print(f"region:         {tag.region or '(global)'}")
    print(f"regionId:       {tag.region_id if tag.region_id is not None else '(not in this shape)'}")
    print(f"systemService:  {tag.system_service or '(none)'}")
    print(f"networkFeatures: {feats}")
    if tag.state is not None:
        print(f"state:          {tag.state}")
    print(f"prefixes:       {len(tag.ipv4_prefixes)} IPv4, {len(tag.ipv6_prefixes)} IPv6")
    for p in tag.address_prefixes:
        print(f"  {p}")
    return EXIT_OK


def cmd_tags_list(args: argparse.Namespace) -> int:
    tags = _tags_of(args)
    selected = tags.select(region=args.region, feature=args.feature)
    if args.name:
        import fnmatch

        pattern = args.name.casefold()
        selected = [t for t in selected if fnmatch.fnmatchcase(t.name.casefold(), pattern)]
    if args.json:
        dump_json(
            {
                "serviceTags": _source_doc(tags),
                "tags": [
                    {
                        "name": t.name,
                        "changeNumber": t.change_number,
                        "region": t.region,
                        "systemService": t.system_service,
                        "networkFeatures": list(t.network_features) if t.network_features is not None else None,
                        "ipv4Prefixes": len(t.ipv4_prefixes),
                        "ipv6Prefixes": len(t.ipv6_prefixes),
                    }
                    for t in selected
                ],
            }
        )
        return EXIT_OK
    table(
        ["name", "region", "changeNumber", "IPv4", "IPv6", "features"],
        [
            (
                t.name,
                t.region or "-",
                t.change_number,
                len(t.ipv4_prefixes),
                len(t.ipv6_prefixes),
                ",".join(t.network_features) if t.network_features is not None else "-",
            )
            for t in selected
        ],
    )
    print(f"\n{len(selected)} of {len(tags)} tags ({tags.source})")
    return EXIT_OK


def cmd_tags_diff(args: argparse.Namespace) -> int:
    old = load_cached(args.old)
    new_ref = args.new if args.new is not None else args.service_tags
    new = load_cached(new_ref)
    diff = old.diff(new)
    if args.tag:
        if args.tag not in old and args.tag not in new:
            raise AduFwError(f"tag {args.tag!r} is in neither {old.source} nor {new.source}")
        key = args.tag.casefold()
        added = tuple(n for n in diff.added if n.casefold() == key)
        removed = tuple(n for n in diff.removed if n.casefold() == key)
        changed = tuple(c for c in diff.changed if c.name.casefold() == key)
    else:
        added, removed, changed = diff.added, diff.removed, diff.changed
    found = bool(added or removed or changed)
    if args.json:
        doc = diff.to_dict()
        doc.update(
            addedTags=list(added), removedTags=list(removed), changedTags=[c.to_dict() for c in changed]
        )
        if args.tag:
            doc["tag"] = args.tag
        dump_json(doc)
        return EXIT_FINDINGS if found else EXIT_OK
    print(f"old: {old.source} (changeNumber {old.change_number})")
    print(f"new: {new.source} (changeNumber {new.change_number})")
    print(f"tags added: {len(added)}, removed: {len(removed)}, changed: {len(changed)}")
    for n in added:
        print(f"  + {n}")
    for n in removed:
        print(f"  - {n}")
    if changed:
        print()
        table(
            ["tag", "changeNumber", "+prefixes", "-prefixes", "fields"],
            [
                (
                    c.name,
                    f"{c.old_change_number} -> {c.new_change_number}",
                    len(c.added),
                    len(c.removed),
                    ",".join(c.fields_changed),
                )
                for c in changed
            ],
        )
    if args.tag or args.prefixes:
        for c in changed:
            for p in c.added:
                print(f"  + {c.name} {p}")
            for p in c.removed:
                print(f"  - {c.name} {p}")
    return EXIT_FINDINGS if found else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="adu-fw",
        description="Would this traffic be allowed by Azure, and by which rule? "
        "Offline evaluation of service tags and network policy.",
        epilog="Exit codes: 0 ok, 1 findings, 2 usage or input error.",
    )
    parser.add_argument("--version", action="version", version=f"adu-fw {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    tags = sub.add_parser("tags", help="Azure service tags: lookup, show, list, diff")
    tsub = tags.add_subparsers(dest="tags_command", metavar="SUBCOMMAND")
    tsub.required = True

    p = tsub.add_parser("lookup", help="which tags contain these addresses (most specific prefix first)")
    p.add_argument("ips", nargs="+", metavar="IP")
    _common(p)
    p.set_defaults(func=cmd_tags_lookup)

    p = tsub.add_parser("show", help="one tag's properties and prefixes")
    p.add_argument("name", metavar="NAME", help="tag name (case-insensitive), e.g. AzureDeviceUpdate")
    _common(p)
    p.set_defaults(func=cmd_tags_show)

    p = tsub.add_parser("list", help="list tags, optionally by region and network feature")
    p.add_argument("--region", help="region name (case-insensitive); '' selects global tags")
    p.add_argument("--feature", help="networkFeatures value: NSG, FW, UDR, API or VSE")
    p.add_argument("--name", metavar="GLOB", help="tag-name pattern (case-insensitive), e.g. 'AzureCloud.*'")
    _common(p)
    p.set_defaults(func=cmd_tags_list)

    p = tsub.add_parser(
        "diff",
        help="what changed between two service-tag files (exit 1 when anything did)",
        description="Compare two service-tag files. NEW defaults to --service-tags, or the newest embedded file.",
    )
    p.add_argument("old", metavar="OLD", help="older file (path, or embedded date such as 20240603)")
    p.add_argument("new", metavar="NEW", nargs="?", help="newer file (path, or embedded date)")
    p.add_argument("--tag", metavar="NAME", help="only this tag; also lists its added/removed prefixes")
    p.add_argument("--prefixes", action="store_true", help="list every added/removed prefix")
    _common(p)
    p.set_defaults(func=cmd_tags_diff)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except AduFwError as exc:
        print(f"adu-fw: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:  # e.g. piped into head
        return EXIT_OK


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    run()

"""`adu-fw tags`: lookup, show, list, diff of service-tag files; update and versions of the store."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import AduFwError
from ..render import dump_json, table
from .common import EXIT_FINDINGS, EXIT_OK, common_options, load_tags, source_doc, tags_line, tags_of


def cmd_tags_lookup(args: argparse.Namespace) -> int:
    tags = tags_of(args)
    results = []
    for ip in args.ips:
        results.append({"ip": ip, "tags": [{"name": n, "prefix": p} for n, p in tags.match(ip)]})
    if args.json:
        dump_json({"serviceTags": source_doc(tags), "results": results})
        return EXIT_OK
    for r in results:
        print(f"{r['ip']}: {len(r['tags'])} tag(s)")
        if r["tags"]:
            table(["tag", "prefix"], [(t["name"], t["prefix"]) for t in r["tags"]])
        print()
    print(tags_line(tags, args))
    return EXIT_OK


def cmd_tags_show(args: argparse.Namespace) -> int:
    tags = tags_of(args)
    try:
        tag = tags[args.name]
    except KeyError as exc:
        raise AduFwError(str(exc.args[0])) from None
    if args.json:
        dump_json({**tag.to_dict(), "serviceTags": source_doc(tags)})
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
    print(tags_line(tags, args))
    return EXIT_OK


def cmd_tags_list(args: argparse.Namespace) -> int:
    tags = tags_of(args)
    selected = tags.select(region=args.region, feature=args.feature)
    if args.name:
        import fnmatch

        pattern = args.name.casefold()
        selected = [t for t in selected if fnmatch.fnmatchcase(t.name.casefold(), pattern)]
    warnings = _feature_warnings(tags, args.feature, selected)
    for w in warnings:
        print(f"adu-fw: warning: {w}", file=sys.stderr)
    if args.json:
        dump_json(
            {
                "serviceTags": source_doc(tags),
                "warnings": warnings,
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
    print(tags_line(tags, args))
    return EXIT_OK


def cmd_tags_diff(args: argparse.Namespace) -> int:
    old = load_tags(args.old)
    new_ref = args.new if args.new is not None else args.service_tags
    new = load_tags(new_ref)
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
    warnings = _diff_warnings(old, new)
    for w in warnings:
        print(f"adu-fw: warning: {w}", file=sys.stderr)
    if args.json:
        doc = diff.to_dict()
        doc["warnings"] = warnings
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


def _feature_warnings(tags: Any, feature: str | None, selected: list[Any]) -> list[str]:
    """Why --feature matched nothing (or less than it seems) when tags carry no networkFeatures."""
    if feature is None:
        return []
    without = sum(1 for t in tags if t.network_features is None)
    if not without:
        return []
    if without == len(tags):
        return [f"{tags.source}: no tag has networkFeatures (files from before mid-2020 and some API answers do "
                f"not carry them), so --feature {feature} cannot match any of its {len(tags)} tags; list without --feature"]
    if selected:  # current files leave networkFeatures null on many tags: not worth a warning when some match
        return []
    return [f"{tags.source}: no tag matched --feature {feature}; {without} of {len(tags)} tags have no networkFeatures "
            "and are left out by any --feature"]


def _diff_warnings(old: Any, new: Any) -> list[str]:
    """A diff across clouds, or from a newer file to an older one, is rarely what was meant: say so."""
    out = []
    if old.cloud and new.cloud and old.cloud.casefold() != new.cloud.casefold():
        out.append(f"the files are of different clouds ({old.cloud}: {old.source}; {new.cloud}: {new.source}): "
                   "the differences are between clouds, not changes over time")
    elif old.date and new.date and old.date > new.date:
        out.append(f"OLD ({old.source}, {old.date}) is newer than NEW ({new.source}, {new.date}): "
                   "added and removed are reversed; give the older file first")
    elif (old.change_number is not None and new.change_number is not None and old.change_number > new.change_number
          and not (old.date and new.date and old.date < new.date)):
        out.append(f"OLD ({old.source}, changeNumber {old.change_number}) is newer than NEW ({new.source}, changeNumber "
                   f"{new.change_number}): added and removed are reversed; give the older file first")
    return out


def cmd_tags_update(args: argparse.Namespace) -> int:
    from ..tags.download import update

    date = None
    if args.date:
        import datetime as _dt

        try:
            date = _dt.datetime.strptime(args.date.replace("-", ""), "%Y%m%d").date()
        except ValueError:
            raise AduFwError(f"--date expects YYYYMMDD or YYYY-MM-DD, got {args.date!r}") from None
    up = update(args.cloud, source=args.source, directory=args.dir, timeout=args.timeout, date=date)
    if args.json:
        dump_json(up.to_dict())
        return EXIT_OK
    t = up.tags
    what = "stored" if up.created else "already stored (the same bytes; nothing changed)"
    print(f"{what}: {up.path.name} in {up.path.parent}")
    print(f"  {t.cloud}, changeNumber {t.change_number}, {len(t):,} tags, {t.prefix_count:,} prefixes, "
          f"dated {t.date} (by {up.dated_by})")
    if up.page:
        print(f"  page: {up.page}")
    print(f"  file: {up.url}")
    return EXIT_OK


def cmd_tags_versions(args: argparse.Namespace) -> int:
    from ..servicetags import load_cached
    from ..tags import store

    directory = store.versions_dir(args.dir)
    rows = []
    default = store.default_file(args.dir)
    for v in store.stored(args.dir) + store.embedded():
        tags = load_cached(v.path)
        rows.append({**v.to_dict(), "changeNumber": tags.change_number, "tags": len(tags),
                     "prefixes": tags.prefix_count, "default": v.path == default.path,
                     "stored": not v.embedded})
    if args.json:
        dump_json({"dir": str(directory), "default": str(default.path), "versions": rows})
        return EXIT_OK
    stored = [r for r in rows if r["stored"]]
    print(f"versions directory: {directory} ({len(stored)} stored version(s))")
    table(
        ["file", "where", "cloud", "changeNumber", "date", "tags", "prefixes", ""],
        [(r["file"], "stored" if r["stored"] else "embedded", r["cloud"], r["changeNumber"], r["date"],
          f"{r['tags']:,}", f"{r['prefixes']:,}", "default" if r["default"] else "") for r in rows],
    )
    return EXIT_OK


def register(sub: Any) -> None:
    tags = sub.add_parser("tags", help="Azure service tags: lookup, show, list, diff, update, versions")
    tsub = tags.add_subparsers(dest="tags_command", metavar="SUBCOMMAND")
    tsub.required = True

    p = tsub.add_parser("lookup", help="which tags contain these addresses (most specific prefix first)")
    p.add_argument("ips", nargs="+", metavar="IP")
    common_options(p)
    p.set_defaults(func=cmd_tags_lookup)

    p = tsub.add_parser("show", help="one tag's properties and prefixes")
    p.add_argument("name", metavar="NAME", help="tag name (case-insensitive), e.g. AzureDeviceUpdate")
    common_options(p)
    p.set_defaults(func=cmd_tags_show)

    p = tsub.add_parser("list", help="list tags, optionally by region and network feature")
    p.add_argument("--region", help="region name (case-insensitive); '' selects global tags")
    p.add_argument("--feature", help="networkFeatures value: NSG, FW, UDR, API or VSE")
    p.add_argument("--name", metavar="GLOB", help="tag-name pattern (case-insensitive), e.g. 'AzureCloud.*'")
    common_options(p)
    p.set_defaults(func=cmd_tags_list)

    p = tsub.add_parser(
        "diff",
        help="what changed between two service-tag files (exit 1 when anything did)",
        description="Compare two service-tag files. NEW defaults to --service-tags, or the default file (the newest "
        "stored Public version, else the newest embedded file).",
    )
    p.add_argument("old", metavar="OLD", help="older file (path, or a stored or embedded version by date, e.g. 20240603)")
    p.add_argument("new", metavar="NEW", nargs="?", help="newer file (path, or a stored or embedded version by date)")
    p.add_argument("--tag", metavar="NAME", help="only this tag; also lists its added/removed prefixes")
    p.add_argument("--prefixes", action="store_true", help="list every added/removed prefix")
    common_options(p)
    p.set_defaults(func=cmd_tags_diff)

    from ..tags.store import CLOUDS

    p = tsub.add_parser(
        "update",
        help="download the current weekly file of a cloud and keep it as a version",
        description="Find the current JSON link on Microsoft's download page for the cloud, download it, validate "
        "it as a whole service-tag file and keep it under its own name in the versions directory (never "
        "overwriting a version; a failed or partial download leaves the directory as it was). Proxies come from "
        "HTTPS_PROXY / HTTP_PROXY / NO_PROXY. Exit 2 naming the URL when anything fails.",
    )
    p.add_argument("--cloud", choices=CLOUDS, default=None, help="default: Public (or the cloud of --from's file)")
    p.add_argument("--from", dest="source", metavar="URL|PATH",
                   help="a page to find the link on instead of Microsoft's (a mirror, an air-gapped copy), or the "
                   "JSON file itself (weekly download or az network list-service-tags / REST output)")
    p.add_argument("--dir", metavar="DIR", help="versions directory (default: $ADU_FW_TAGS_DIR, else the user data dir)")
    p.add_argument("--date", metavar="YYYYMMDD", help="the date of a file whose name carries none (REST/az output)")
    p.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                   help="for each connection and for the whole transfer (default 60)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(func=cmd_tags_update)

    p = tsub.add_parser(
        "versions",
        help="every stored (and embedded) version: cloud, changeNumber, date, prefixes; which one is the default",
    )
    p.add_argument("--dir", metavar="DIR", help="versions directory (default: $ADU_FW_TAGS_DIR, else the user data dir)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(func=cmd_tags_versions)

"""The ``adu-fw`` command: argument parsing and rendering only (the work lives in the library).

Exit codes: 0 ok, 1 findings (differences, disagreements, lint problems), 2 usage or input error.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable, Sequence

from . import __version__
from .errors import AduFwError
from .render import Progress, dump_json, table
from .nsg import read_nsgs, split_ref
from .policy import Policy
from .rules import CONTEXT_TAGS
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


def _policy_options(p: argparse.ArgumentParser) -> None:
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


def _kv(items: list[str], opt: str) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise AduFwError(f"{opt} expects NAME=VALUE, got {item!r}")
        out[name.strip()] = value
    return out


def _params(args: argparse.Namespace) -> dict[str, object]:
    import json as _json

    out: dict[str, object] = {}
    for name, value in _kv(args.param, "--param").items():
        try:
            out[name] = _json.loads(value)
        except ValueError:
            out[name] = value
    return out


def _policy_of(args: argparse.Namespace) -> Policy:
    if args.nsg and (args.subnet_nsg or args.nic_nsg):
        raise AduFwError("give --nsg, or --subnet-nsg and/or --nic-nsg, not both")
    if not (args.nsg or args.subnet_nsg or args.nic_nsg):
        raise AduFwError("no policy: give --nsg FILE, or --subnet-nsg FILE and/or --nic-nsg FILE")
    common = dict(
        virtual_network=args.vnet,
        service_tags=_tags_of(args),
        asgs={k: v.split(",") for k, v in _kv(args.asg, "--asg").items()},
        params=_params(args),
        platform_bypass=args.platform_bypass,
    )
    if args.nsg:
        policy = Policy.from_nsg(args.nsg, **common)  # type: ignore[arg-type]
    else:
        policy = Policy.from_nsgs(subnet=args.subnet_nsg, nic=args.nic_nsg, **common)  # type: ignore[arg-type]
    for w in policy.warnings:
        print(f"adu-fw: warning: {w}", file=sys.stderr)
    return policy


def _yn(b: bool) -> str:
    return "yes" if b else "no"


def _firewall_of(args: argparse.Namespace) -> Any:
    from .firewall import FirewallPolicy

    fw = FirewallPolicy.load(
        args.firewall_policy,
        ip_groups={k: [m for m in v.split(",") if m] for k, v in _kv(args.ip_group, "--ip-group").items()},
        dns={k: v.split(",") for k, v in _kv(args.dns, "--dns").items()},
        service_tags=_tags_of(args),
        params=_params(args),
    )
    for note in fw.notes:
        print(f"adu-fw: note: {note}", file=sys.stderr)
    return fw


def cmd_check(args: argparse.Namespace) -> int:
    if args.firewall_policy:
        v = _firewall_of(args).check(args.protocol, args.src, args.src_port, args.dst, args.dst_port, fqdn=args.fqdn)
        if args.json:
            dump_json(v.to_dict())
        else:
            where = f"{v.kind} rule {v.group}/{v.collection}/{v.rule}" if v.rule else "default deny (no rule matched)"
            print(f"{v.access}: {where}" + (f", translated to {v.translated}" if v.translated else ""))
            for n in v.notes:
                print(f"  note: {n}")
        return EXIT_OK
    if not args.direction:
        raise AduFwError("--direction is required (inbound or outbound)")
    policy = _policy_of(args)
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
        dump_json(doc)
        return EXIT_OK
    where = f"rule {v.rule} (priority {v.priority}) in NSG {v.nsg}" if v.rule else "no NSG applies"
    print(f"{v.access}: {where}")
    print(f"flow: {v.direction} {args.protocol} {args.src}:{args.src_port} -> {args.dst}:{args.dst_port}")
    if args.explain:
        for t in v.trail:
            print(f"\nNSG {t.nsg} ({t.level}): {t.access} by {t.rule} ({t.priority})")
            table(
                ["priority", "rule", "access", "protocol", "source", "src port", "destination", "dst port", "match"],
                [
                    (
                        r.priority,
                        r.rule,
                        r.access,
                        _yn(r.protocol),
                        _yn(r.source),
                        _yn(r.source_port),
                        _yn(r.destination),
                        _yn(r.destination_port),
                        "MATCH" if r.matched else "",
                    )
                    for r in t.rules
                ],
            )
    return EXIT_OK


def cmd_lint(args: argparse.Namespace) -> int:
    tags = _tags_of(args)
    params = _params(args)
    files = []
    total = 0
    for ref in args.files:
        path, only = split_ref(ref)
        nsgs = read_nsgs(path, params=params)
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
        from .anomalies import anomalies

        for ref in args.files:
            path, only = split_ref(ref)
            for nsg in read_nsgs(path, params=params):
                if only and only.lower() not in (nsg.name.lower(), (nsg.raw_name or "").lower()):
                    continue
                if nsg.errors:
                    continue  # reported above; a broken NSG has no meaning to analyse
                policy = Policy(
                    single=nsg,
                    virtual_network=args.vnet,
                    service_tags=tags,
                    asgs={k: v.split(",") for k, v in _kv(args.asg, "--asg").items()},
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


def cmd_diff(args: argparse.Namespace) -> int:
    from .whatif import diff

    common = dict(
        virtual_network=args.vnet,
        asgs={k: v.split(",") for k, v in _kv(args.asg, "--asg").items()},
        params=_params(args),
    )

    def side(which: str) -> tuple[str, Policy]:
        single = getattr(args, f"{which}_nsg") or args.nsg
        subnet = getattr(args, f"{which}_subnet_nsg") or args.subnet_nsg
        nic = getattr(args, f"{which}_nic_nsg") or args.nic_nsg
        tags = load_cached(getattr(args, f"{which}_service_tags"))
        if single and (subnet or nic):
            raise AduFwError(f"{which}: give an NSG, or a subnet and/or NIC NSG, not both")
        if single:
            return single, Policy.from_nsg(single, service_tags=tags, **common)  # type: ignore[arg-type]
        if subnet or nic:
            return f"subnet={subnet} nic={nic}", Policy.from_nsgs(subnet=subnet, nic=nic, service_tags=tags, **common)  # type: ignore[arg-type]
        raise AduFwError(f"no {which} policy: give --nsg/--{which}-nsg, or --subnet-nsg/--nic-nsg (or their --{which}- forms)")

    if not any(getattr(args, a) for a in ("old_nsg", "new_nsg", "old_subnet_nsg", "new_subnet_nsg", "old_nic_nsg",
                                          "new_nic_nsg", "old_service_tags", "new_service_tags")):
        raise AduFwError("nothing to compare: give --old-*/--new-* NSGs and/or --old-service-tags/--new-service-tags")
    old_ref, old = side("old")
    new_ref, new = side("new")
    d = diff(old, new, flows=args.flows or None)
    if args.json:
        doc = d.to_dict()
        doc["old"] = {"nsg": old_ref, "service_tags": old.service_tags.source}
        doc["new"] = {"nsg": new_ref, "service_tags": new.service_tags.source}
        dump_json(doc)
    else:
        print(f"old: {old_ref} with {old.service_tags.source}")
        print(f"new: {new_ref} with {new.service_tags.source}")
        print(f"{len(d.changes)} region(s) of the flow space change decision or deciding rule")
        for c in d.changes:
            r = c.region
            print(f"\n{c.direction} {r['family']} {r['protocols']} src ports {r['src_ports']} dst ports {r['dst_ports']}: "
                  f"{c.old['access']} ({c.old['rule']}) -> {c.new['access']} ({c.new['rule']})")
            print(f"  src ({r['src_addresses']:,} addresses): {', '.join(r['src'])}")
            print(f"  dst ({r['dst_addresses']:,} addresses): {', '.join(r['dst'])}")
        if args.flows:
            print(f"\nrecorded flows compared: {d.flows_compared:,}; changed: {d.flows_changed:,}")
            for f in d.flow_changes[:20]:
                print(f"  {f['direction']} {f['src_ip']} -> {f['dst_ip']}:{f['dst_port']}: "
                      f"{f['old']['access']} ({f['old']['rule']}) -> {f['new']['access']} ({f['new']['rule']})")
    return EXIT_FINDINGS if d else EXIT_OK


def _open_flows(path: str, batch_rows: int) -> Any:
    """Record batches of a CSV or Parquet flow file, streamed."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if path.endswith(".parquet") or path.endswith(".pq"):
        try:
            pf = pq.ParquetFile(path)
        except (OSError, pa.ArrowInvalid) as exc:
            raise AduFwError(f"{path}: cannot read as Parquet: {exc}") from None
        return pf.metadata.num_rows, pf.iter_batches(batch_size=batch_rows)
    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=1 << 24),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in ("direction", "protocol", "src_ip", "dst_ip")}
            ),
        )
    except (OSError, pa.ArrowInvalid) as exc:
        raise AduFwError(f"{path}: cannot read as CSV with a header: {exc}") from None
    return None, reader


def cmd_evaluate(args: argparse.Namespace) -> int:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    policy = _firewall_of(args) if args.firewall_policy else _policy_of(args)
    total, batches = _open_flows(args.flows, args.batch_rows)
    writer: Any = None
    counts = {"rows": 0, "allowed": 0, "denied": 0, "rejected": 0}
    rejects: dict[str, int] = {}
    progress = Progress(total, "evaluate")
    to_parquet = args.out.endswith(".parquet") or args.out.endswith(".pq")
    try:
        for batch in batches:
            verdicts = policy.evaluate(batch, threads=args.threads)
            out = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
            for name in verdicts.column_names:
                col = verdicts.column(name)
                if not to_parquet and pa.types.is_dictionary(col.type):
                    col = col.cast(pa.string())
                out = out.append_column(name, col)
            if writer is None:
                writer = pq.ParquetWriter(args.out, out.schema) if to_parquet else pacsv.CSVWriter(args.out, out.schema)
            writer.write_table(out)
            rule_index = verdicts.column("rule_index").to_numpy()
            allowed = verdicts.column("allowed").to_numpy(zero_copy_only=False)
            ok = rule_index != -2
            counts["rows"] += len(rule_index)
            counts["rejected"] += int((~ok).sum())
            counts["allowed"] += int((allowed[ok] == True).sum())  # noqa: E712
            counts["denied"] += int((allowed[ok] == False).sum())  # noqa: E712
            if (~ok).any():
                for reason in verdicts.column("reject_reason").drop_null().to_pylist():
                    rejects[reason] = rejects.get(reason, 0) + 1
            progress.update(len(rule_index))
    except (pa.ArrowInvalid, OSError) as exc:
        raise AduFwError(f"{args.flows}: {exc}") from None
    finally:
        progress.close()
        if writer is not None:
            writer.close()
    if writer is None:
        raise AduFwError(f"{args.flows}: no rows")
    counts["evaluated"] = counts["rows"] - counts["rejected"]
    if args.json:
        dump_json({"counts": counts, "rejected_by_reason": rejects, "out": args.out})
    else:
        print(
            f"{counts['rows']:,} rows: {counts['evaluated']:,} evaluated ({counts['allowed']:,} allowed, "
            f"{counts['denied']:,} denied), {counts['rejected']:,} rejected -> {args.out}"
        )
        for reason, n in sorted(rejects.items(), key=lambda kv: -kv[1]):
            print(f"  rejected {n:,}: {reason}")
    return EXIT_FINDINGS if counts["rejected"] else EXIT_OK


def _when(text: str | None, opt: str) -> Any:
    import datetime as _dt

    if text is None:
        return None
    try:
        value = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise AduFwError(f"{opt} expects an ISO date or time such as 2024-06-10 or 2024-06-10T13:00, got {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)


def cmd_analyze(args: argparse.Namespace) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .analysis import analyze
    from .flowlogs import read

    # a firewall policy replays the logged flows through the firewall instead (agreement then compares
    # the firewall's decision with what the NSGs logged)
    policy = _firewall_of(args) if args.firewall_policy else _policy_of(args)
    stream = read(args.paths, since=_when(args.since, "--since"), until=_when(args.until, "--until"))
    writer: Any = None
    progress = Progress(len(stream.files), "analyze (files)")
    seen_files = [0]

    def on_batch(batch: Any, verdicts: Any) -> None:
        nonlocal writer
        if stream.stats.files != seen_files[0]:
            progress.update(stream.stats.files - seen_files[0])
            seen_files[0] = stream.stats.files
        if args.parquet:
            out = pa.Table.from_batches([batch])
            for name in ("access", "rule", "rule_index", "nsg", "log_rule", "reject_reason"):
                out = out.append_column("computed_" + name if name != "rule_index" else name, verdicts.column(name))
            if writer is None:
                writer = pq.ParquetWriter(args.parquet, out.schema)
            writer.write_table(out)

    try:
        report = analyze(stream, policy, tag=args.tag or None, threads=args.threads, on_batch=on_batch)
    finally:
        progress.close()
        if writer is not None:
            writer.close()
    doc = report.to_dict()
    doc["policy"] = {
        "nsgs": [n.name for n in getattr(policy, "nsgs", [])],
        "firewall_policy": args.firewall_policy,
        "service_tags": _source_doc(policy.service_tags),
    }
    if args.html:
        from .htmlreport import render

        with open(args.html, "w", encoding="utf-8") as fh:
            fh.write(render(doc))
    if args.json:
        dump_json(doc)
    else:
        _print_analysis(doc)
    return EXIT_FINDINGS if doc["agreement"]["disagree"] else EXIT_OK


def _print_analysis(doc: dict[str, Any]) -> None:
    rec, agr = doc["reconciliation"], doc["agreement"]
    print(
        f"read {rec['files']} file(s), {rec['records']} record(s) ({rec['records_truncated']} truncated), "
        f"{rec['tuples_read']:,} tuple(s): {rec['evaluated']:,} evaluated + {rec['rejected_total']:,} rejected"
        + ("" if rec["reconciles"] else "  ** DOES NOT RECONCILE **")
    )
    for reason, n in rec["rejected"].items():
        print(f"  rejected {n:,}: {reason}")
    for note in rec["notes"]:
        print(f"  note: {note}")
    print(
        f"\nagreement with the log: {agr['agree']:,} agree, {agr['disagree']:,} disagree "
        f"({agr['decision_disagree']:,} decision, {agr['rule_disagree']:,} rule), {agr['unknown']:,} unknown; "
        f"{agr['rule_not_comparable']:,} logged rule(s) not comparable"
    )
    if agr["examples"]:
        table(
            ["kind", "dir", "src", "dst", "port", "logged", "computed", "logged rule", "computed rule"],
            [
                (e["kind"], e["direction"][:3], e["src_ip"], e["dst_ip"], e["dst_port"], e["logged_decision"],
                 e["computed_decision"], e["logged_rule"], e["computed_log_rule"])
                for e in agr["examples"]
            ],
        )
    print("\nhits per rule:")
    table(
        ["nsg", "dir", "priority", "rule", "access", "flows", "bytes", "first seen", "last seen"],
        [(r["nsg"], r["direction"][:3], r["priority"], r["rule"], r["access"], r["flows"], r["bytes"],
          r["first_seen"] or "-", r["last_seen"] or "-") for r in doc["rules"]],
    )
    if doc["unused_rules"]:
        print(f"\nrules never hit ({len(doc['unused_rules'])}): " + "; ".join(doc["unused_rules"]))
    if doc["top_talkers"]:
        print("\ntop talkers: " + ", ".join(f"{t['src_ip']} ({t['flows']})" for t in doc["top_talkers"][:5]))
    if doc["denied_by_port"]:
        print("denied by port: " + ", ".join(f"{d['protocol']}/{d['dst_port']} ({d['flows']})" for d in doc["denied_by_port"][:8]))
    if doc["tag"]:
        t = doc["tag"]
        o, i = t["outbound_to_tag"], t["inbound_from_tag"]
        print(
            f"{t['name']}: outbound to it {o.get('allowed', 0):,} allowed / {o.get('denied', 0):,} denied; "
            f"inbound from it {i.get('allowed', 0):,} allowed / {i.get('denied', 0):,} denied"
        )


def _topology(args: argparse.Namespace) -> Any:
    from .privatelink import Topology

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
    p = sub.add_parser(
        "check",
        help="would this flow be allowed, and by which rule (offline IP flow verify / NSG diagnostics)",
        description="Evaluate one flow against an NSG, or a subnet NSG and NIC NSG, with Azure's semantics. "
        "Exit 0 whatever the verdict; 2 on bad input.",
    )
    p.add_argument("--direction", help="inbound or outbound (required for NSGs)")
    p.add_argument("--protocol", required=True, help="tcp, udp, icmp, esp, ah, or an IANA number")
    p.add_argument("--src", required=True, metavar="IP")
    p.add_argument("--src-port", type=int, default=0, metavar="N")
    p.add_argument("--dst", required=True, metavar="IP")
    p.add_argument("--dst-port", type=int, default=0, metavar="N")
    p.add_argument("--explain", action="store_true", help="show every rule examined, per NSG, field by field")
    p.add_argument("--fqdn", metavar="NAME", help="the flow's HTTP Host / TLS SNI (firewall application rules)")
    _policy_options(p)
    _common(p)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser(
        "evaluate",
        help="evaluate every flow of a CSV or Parquet file; writes the rows with access and rule",
        description="Replay flows through the compiled matcher. FLOWS is CSV (header "
        "direction,protocol,src_ip,src_port,dst_ip,dst_port) or Parquet (by extension); OUT likewise. "
        "The output repeats the input columns and adds access, allowed, rule, rule_index, nsg, log_rule and "
        "reject_reason. Rows that cannot be evaluated are kept and counted. Exit 1 when any row was rejected.",
    )
    p.add_argument("--flows", required=True, metavar="FILE")
    p.add_argument("--out", required=True, metavar="FILE")
    p.add_argument("--threads", type=int, default=None, help="matcher threads (default: all cores for large batches)")
    p.add_argument("--batch-rows", type=int, default=1_000_000, help=argparse.SUPPRESS)
    _policy_options(p)
    _common(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "analyze",
        help="replay NSG (v1, v2) and VNet (v4) flow logs against a policy; report agreement and hits",
        description="Read flow logs (files, blob-layout directories, .gz, globs), evaluate every tuple, and "
        "report reconciliation (every tuple evaluated or rejected with a reason), agreement with the logged "
        "decision and rule, hits per rule, rules never hit, top talkers, denied flows by port and traffic with "
        "a service tag. Exit 1 when the computed and logged answers disagree.",
    )
    p.add_argument("paths", nargs="+", metavar="FLOWLOG_PATH")
    p.add_argument("--tag", default="AzureDeviceUpdate", help="service tag to report traffic for ('' for none)")
    p.add_argument("--since", metavar="TIME", help="skip blobs whose hour ends before TIME (by path)")
    p.add_argument("--until", metavar="TIME", help="skip blobs whose hour starts at or after TIME (by path)")
    p.add_argument("--parquet", metavar="OUT", help="write every evaluated tuple with the computed decision and rule")
    p.add_argument("--html", metavar="OUT", help="write a self-contained HTML report")
    p.add_argument("--threads", type=int, default=None, help="matcher threads")
    _policy_options(p)
    _common(p)
    p.set_defaults(func=cmd_analyze)

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
    _common(p)
    p.set_defaults(func=cmd_lint)

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
    p.add_argument("--old-service-tags", metavar="FILE", help="default: the newest embedded file")
    p.add_argument("--new-service-tags", metavar="FILE", help="default: the newest embedded file")
    p.add_argument("--flows", metavar="PATH", nargs="+", help="flow logs to replay through both sides")
    p.add_argument("--vnet", metavar="CIDR", action="append", default=[])
    p.add_argument("--asg", metavar="NAME=IP[,IP...]", action="append", default=[])
    p.add_argument("--param", metavar="NAME=VALUE", action="append", default=[])
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(func=cmd_diff)
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

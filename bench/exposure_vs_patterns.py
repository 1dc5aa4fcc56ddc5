"""Side by side: adu-fw exposure (exact) and Checkov's CKV_AZURE_9/10 (one rule at a time) on real NSG templates.

Usage:
    python bench/exposure_vs_patterns.py [CORPUS_DIR] [--checkov DIR_OF_CHECKOV_JSON]

CORPUS_DIR defaults to ../shared/data/arm-corpus/nsg. Checkov is not a dependency: run it yourself,
one file at a time (it stops at the first file it cannot parse when given the directory), e.g.
    for f in CORPUS_DIR/*.json; do checkov -f $f --framework arm --check CKV_AZURE_9,CKV_AZURE_10 \
        -o json > OUT/$(basename $f).out; done
and pass OUT with --checkov. For every NSG adu-fw can read, the script prints whether SSH (22) and
RDP (3389) are reachable from the Internet, exactly (with the template's VNet, else 10.0.0.0/16),
next to what Checkov reported for the file; then the files where the two disagree.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import sys
from pathlib import Path

from adu_fw.errors import AduFwError
from adu_fw.exposure import exposure
from adu_fw.jsonpos import read_json
from adu_fw.nsg import read_nsgs
from adu_fw.policy import Policy

ROOT = Path(__file__).resolve().parent.parent
TAGS = "20240610"
ASSUMED_VNET = ["10.0.0.0/16"]


def adu_side(path: Path) -> tuple[dict[str, dict[int, int]], list[str]]:
    """Per NSG: for 22 and 3389, how many Internet addresses reach it (exactly); and what was not evaluated.

    ASGs named in rules get one assumed member (the first address of the VNet): a template cannot
    say which VMs will join them, and Checkov does not need to know.
    """
    out: dict[str, dict[int, int]] = {}
    skipped: list[str] = []
    try:
        nsgs = read_nsgs(read_json(path), source_name=str(path))
    except AduFwError as exc:
        return out, [f"file: {exc.message}"]
    for n in nsgs:
        if n.errors:
            skipped.append(f"{n.name}: {n.errors[0].field}: {n.errors[0].message}"[:160])
            continue
        vnet = [] if n.vnet_prefixes else ASSUMED_VNET
        host = str(next(ipaddress.ip_network((n.vnet_prefixes or ASSUMED_VNET)[0], strict=False).hosts()))
        asgs = {a: [host] for r in n.rules for side in (r.source, r.destination) for a in side.asgs}
        try:
            p = Policy(single=n, virtual_network=vnet, service_tags=TAGS, asgs=asgs)
            report = exposure(p)
        except AduFwError as exc:
            skipped.append(f"{n.name}: {exc.message}"[:160])
            continue
        reach: dict[int, int] = {}
        for e in report.exposures:
            if e.ported and 6 in e.protocols:
                for port in (22, 3389):
                    if any(a <= port <= b for a, b in e.ports):
                        reach[port] = reach.get(port, 0) + e.addresses()[0]
        out[n.name] = reach
        out[n.name][-1] = sum(b - a + 1 for p_ in p.tag_prefixes("Internet")
                              for a, b in [_span(p_)] if ":" not in p_)
    return out, skipped


def _span(prefix: str) -> tuple[int, int]:
    net = ipaddress.ip_network(prefix)
    return int(net.network_address), int(net.broadcast_address)


def _reach_text(reach: dict[int, int], port: int) -> str:
    n = reach.get(port, 0)
    if not n:
        return ""
    return "whole Internet" if n >= reach[-1] else f"{n:,} address{'es' if n > 1 else ''}"


def checkov_side(out_dir: Path, name: str) -> tuple[str, dict[str, list[str]]]:
    """('ok' | 'crash' | 'missing', {check_id: [resource, ...]}) for one file."""
    f = out_dir / f"{name}.out"
    if not f.exists():
        return "missing", {}
    try:
        doc = json.loads(f.read_text() or "null")
    except ValueError:
        return "crash", {}
    if doc is None:
        return "crash", {}
    runs = doc if isinstance(doc, list) else [doc]
    failed: dict[str, list[str]] = {}
    for run in runs:
        if not isinstance(run, dict) or "results" not in run:
            continue
        for r in run["results"].get("failed_checks", []):
            failed.setdefault(r["check_id"], []).append(r["resource"])
    return "ok", failed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", nargs="?", default=str(ROOT.parent / "shared" / "data" / "arm-corpus" / "nsg"))
    ap.add_argument("--checkov", metavar="DIR", help="directory of per-file checkov -o json outputs (FILE.json.out)")
    args = ap.parse_args(argv)
    files = sorted(Path(args.corpus).glob("*.json"))
    if not files:
        print(f"no templates in {args.corpus}", file=sys.stderr)
        return 2
    rows = []
    totals = {"ssh_all": 0, "rdp_all": 0, "ssh_some": 0, "rdp_some": 0, "ckv9": 0, "ckv10": 0, "crash": 0, "nsgs": 0,
              "skipped": 0}
    for f in files:
        adu, skipped = adu_side(f)
        status, ckv = checkov_side(Path(args.checkov), f.name) if args.checkov else ("missing", {})
        for reach in adu.values():
            for port, key in ((22, "ssh"), (3389, "rdp")):
                if reach.get(port):
                    totals[key + ("_all" if reach[port] >= reach[-1] else "_some")] += 1
        totals["nsgs"] += len(adu)
        totals["skipped"] += len(skipped)
        totals["ckv9"] += len(ckv.get("CKV_AZURE_9", []))
        totals["ckv10"] += len(ckv.get("CKV_AZURE_10", []))
        totals["crash"] += status == "crash"
        rows.append((f.name, adu, status, ckv, skipped))
    print(f"{'file':40} {'NSG':34} {'adu-fw: SSH (22) from':22} {'RDP (3389) from':22} checkov")
    for name, adu, status, ckv, skipped in rows:
        c = "crashed" if status == "crash" else "-" if status == "missing" else (
            ", ".join(f"{k} ({len(v)})" for k, v in sorted(ckv.items())) or "no finding")
        if not adu and not skipped:
            continue
        first = True
        for nsg, reach in adu.items():
            print(f"{name if first else '':40} {nsg[:34]:34} {_reach_text(reach, 22) or '-':22} "
                  f"{_reach_text(reach, 3389) or '-':22} {c if first else ''}")
            first = False
        for sk in skipped:
            print(f"{name if first else '':40} {'not evaluated: ' + sk[:100]:80} {c if first else ''}")
            first = False
    print(f"\ntotal: adu-fw evaluated {totals['nsgs']} NSG(s), {totals['skipped']} not (each with the reason: a "
          f"parameter without default, a copy loop, rules given as a parameter); SSH reachable from the whole Internet "
          f"in {totals['ssh_all']}, from some Internet addresses in {totals['ssh_some']}; RDP from the whole Internet in "
          f"{totals['rdp_all']}, from some in {totals['rdp_some']}. checkov: {totals['ckv10']} CKV_AZURE_10 + "
          f"{totals['ckv9']} CKV_AZURE_9 finding(s), {totals['crash']} file(s) crashed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

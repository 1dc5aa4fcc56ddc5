"""The main job on the embedded default data (``make demo``).

A tour: which tags hold a Device Update address (with the current embedded file, and the
warning that it is old), how the AzureDeviceUpdate tag changed between the two consecutive
weekly files of June 2024, one flow checked against the client NSG with each, then the flow-log
analysis of the generated demo scenario (NSG v1, v2 and VNet v4 logs): first with one file for
every hour (the disagreements, and why), then with the folder of weekly files, each hour replayed
with the file in force then (every tuple agrees), writing ``out/demo-report.html``. Then AVNM security admin
rules before the NSG (one flow explained, and VNet flow logs in which admin rules decide some flows)
and Azure Firewall logs replayed through a firewall policy.
"""
from __future__ import annotations

import sys
from pathlib import Path

from .cli import EXIT_FINDINGS, main
from .servicetags import _embedded_dir, embedded_files


def _step(title: str, argv: list[str]) -> int:
    print(f"\n=== {title}\n$ adu-fw {' '.join(argv)}", flush=True)
    code = main(argv)
    sys.stdout.flush()
    return code


def demo_dir() -> Path:
    return _embedded_dir().parent / "demo"


def run(out_dir: str = "out") -> int:
    files = embedded_files()
    old, new = "20240603", "20240610"
    demo = demo_dir()
    nsg = str(demo / "client-nsg.json")
    logs = str(demo / "flowlogs")
    weekly = str(_embedded_dir())  # a folder of weekly files: the embedded ones
    Path(out_dir).mkdir(exist_ok=True)
    report = str(Path(out_dir) / "demo-report.html")
    print(f"adu-fw demo: embedded service-tag files {', '.join(f.name for f in files)}; scenario in {demo}")
    flow = ["--direction", "outbound", "--protocol", "tcp", "--src", "2001:db8:20:1::7", "--src-port", "50000",
            "--dst", "2603:1030:210:11::201", "--dst-port", "443", "--nsg", nsg]
    steps = [
        ("Which tags hold a Device Update front-end address? (the default file, and how old it is)",
         ["tags", "lookup", "20.119.27.200", "2603:1030:210:11::201"]),
        ("How AzureDeviceUpdate changed between two consecutive weekly files", ["tags", "diff", old, new, "--tag", "AzureDeviceUpdate"]),
        ("A device reaching Device Update over IPv6, with the 2024-06-10 tags ...", ["check", *flow, "--service-tags", new]),
        ("... and with the 2024-06-03 tags (no IPv6 prefixes then)", ["check", *flow, "--service-tags", old]),
        ("Replay every flow-log tuple (NSG v1, v2, VNet v4) with one file for every hour: why some disagree",
         ["analyze", logs, "--nsg", nsg, "--service-tags", new]),
        ("The same logs replayed hour by hour with the weekly file in force at each hour: every tuple agrees",
         ["analyze", logs, "--nsg", nsg, "--service-tags", weekly, "--html", report]),
    ]
    steps += _avnm_steps(demo, nsg)
    for title, argv in steps:
        code = _step(title, argv)
        if code not in (0, EXIT_FINDINGS):
            return code
    print(f"\nHTML report: {report}")
    return 0


def _avnm_steps(demo: Path, nsg: str) -> list[tuple[str, list[str]]]:
    """AVNM security admin rules before the NSG: one flow explained, then VNet flow logs where they decide flows;
    then Azure Firewall logs replayed through the firewall policy."""
    admin = ["--admin-rules", str(demo / "avnm-admin-rules.json"), "--service-tags", "20240610"]
    return [
        ("A security scanner probing RDP: an AVNM AlwaysAllow admin rule decides before the NSG is consulted",
         ["check", "--direction", "inbound", "--protocol", "tcp", "--src", "198.51.100.7", "--src-port", "50000", "--dst",
          "10.20.1.10", "--dst-port", "3389", "--nsg", nsg, *admin, "--explain"]),
        ("Replay VNet flow logs in which AVNM security admin rules decide some flows (named <rule>_<guid>, as real logs do)",
         ["analyze", str(demo / "flowlogs-avnm"), "--nsg", nsg, *admin]),
        ("Replay Azure Firewall logs (resource-specific and legacy) through today's firewall policy: GitHub was allowed then",
         ["analyze", str(demo / "firewall" / "logs"), "--firewall-policy", str(demo / "firewall" / "fw-policy.json"),
          "--service-tags", "20240610"]),
    ]


if __name__ == "__main__":
    sys.exit(run())

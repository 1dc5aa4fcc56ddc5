"""The main job on the embedded default data (``make demo``).

A tour: which tags hold a Device Update address and how the AzureDeviceUpdate tag changed
between the two shipped weekly files; one flow checked against the client NSG with each file;
then the flow-log analysis of the generated demo scenario (NSG v1, v2 and VNet v4 logs), with an
HTML report written to ``out/demo-report.html``; then AVNM security admin rules before the NSG (one
flow explained, and VNet flow logs in which admin rules decide some flows) and Azure Firewall logs
replayed through a firewall policy.
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
    old, new = files[0].name, files[-1].name
    demo = demo_dir()
    nsg = str(demo / "client-nsg.json")
    logs = str(demo / "flowlogs")
    Path(out_dir).mkdir(exist_ok=True)
    report = str(Path(out_dir) / "demo-report.html")
    print(f"adu-fw demo: embedded service-tag files {', '.join(f.name for f in files)}; scenario in {demo}")
    flow = ["--direction", "outbound", "--protocol", "tcp", "--src", "2001:db8:20:1::7", "--src-port", "50000",
            "--dst", "2603:1030:210:11::201", "--dst-port", "443", "--nsg", nsg]
    steps = [
        ("Which tags hold a Device Update front-end address?", ["tags", "lookup", "20.119.27.200", "2603:1030:210:11::201"]),
        ("How AzureDeviceUpdate changed between the two weekly files", ["tags", "diff", old, new, "--tag", "AzureDeviceUpdate"]),
        ("A device reaching Device Update over IPv6, with the newer tags ...", ["check", *flow]),
        ("... and with the older tags (no IPv6 prefixes then)", ["check", *flow, "--service-tags", old]),
        ("Replay every flow-log tuple of the scenario (NSG v1, v2, VNet v4) against the client NSG",
         ["analyze", logs, "--nsg", nsg, "--html", report]),
        ("The 2024-06-09 hour replayed with the tags in force then: it agrees with the log",
         ["analyze", logs, "--nsg", nsg, "--service-tags", old, "--until", "2024-06-10"]),
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

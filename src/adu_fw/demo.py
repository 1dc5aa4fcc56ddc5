"""The main job on the embedded default data (``make demo``).

Until flow-log analysis lands this is the service-tag tour: which tags hold a Device
Update address, what the AzureDeviceUpdate tag contains, and how it changed between the
two shipped weekly files.
"""
from __future__ import annotations

import sys

from .cli import EXIT_FINDINGS, main
from .servicetags import embedded_files


def _step(title: str, argv: list[str]) -> int:
    print(f"\n=== {title}\n$ adu-fw {' '.join(argv)}", flush=True)
    code = main(argv)
    sys.stdout.flush()
    return code


def run() -> int:
    files = embedded_files()
    old, new = files[0].name, files[-1].name
    print(f"adu-fw demo: embedded service-tag files {', '.join(f.name for f in files)}")
    steps = [
        ("Which tags hold a Device Update front-end address (IPv4)?", ["tags", "lookup", "20.119.27.200"]),
        ("... and an IPv6 one added in the newer file?", ["tags", "lookup", "2603:1030:210:11::201"]),
        ("The same IPv6 address in the older file", ["tags", "lookup", "2603:1030:210:11::201", "--service-tags", old]),
        ("Global tags usable in NSGs whose name starts with AzureDevice", ["tags", "list", "--region", "", "--feature", "NSG", "--name", "AzureDevice*"]),
        ("How AzureDeviceUpdate changed between the two weekly files", ["tags", "diff", old, new, "--tag", "AzureDeviceUpdate"]),
    ]
    for title, argv in steps:
        code = _step(title, argv)
        if code not in (0, EXIT_FINDINGS):
            return code
    return 0


if __name__ == "__main__":
    sys.exit(run())

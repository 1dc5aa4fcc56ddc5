"""Interactive latency of the `adu-fw` command, end to end (interpreter start-up and imports count).

Runs each command N times as a subprocess and prints the median and the fastest wall time, with
a warm index cache (the usual case) and with a cold one (the first use of a file). Target: under
0.25 s for `tags lookup`, `tags show` and `check` with a warm cache. The machine may be shared:
the fastest run is the least disturbed one, the median says how noisy it was.

    .venv/bin/python bench/cli_latency.py [RUNS]
"""
from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXE = str(Path(sys.executable).with_name("adu-fw"))
NSG = str(ROOT / "data" / "demo" / "client-nsg.json")
COMMANDS = {
    "tags lookup": ["tags", "lookup", "20.119.27.200"],
    "tags show": ["tags", "show", "AzureDeviceUpdate"],
    "check": ["check", "--nsg", NSG, "--direction", "outbound", "--protocol", "tcp", "--src", "10.20.1.4",
              "--src-port", "50000", "--dst", "20.119.27.200", "--dst-port", "443"],
}
TARGET = 0.25


CPU: list[float] = []  # CPU seconds (user + system) of each run, beside its wall time


def timed(argv: list[str], env: dict[str, str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run([EXE, *argv], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return wall


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    tmp = Path(tempfile.mkdtemp(prefix="adu-fw-latency-"))
    env = dict(os.environ, ADU_FW_TAGS_DIR=str(tmp / "versions"), ADU_FW_CACHE_DIR=str(tmp / "cache"))
    CPU.clear()
    baseline = [timed(["--version"], env) for _ in range(runs)]
    print(f"{'command':<14} {'cache':<5} {'median s':>9} {'fastest s':>10} {'cpu s':>7}  target {TARGET} s (wall)")
    print(f"{'--version':<14} {'-':<5} {statistics.median(baseline):9.3f} {min(baseline):10.3f} "
          f"{statistics.median(CPU):7.3f}  (start-up and argument parsing)")
    for name, argv in COMMANDS.items():
        CPU.clear()
        cold = []
        for _ in range(max(3, runs // 5)):
            shutil.rmtree(tmp / "cache", ignore_errors=True)
            cold.append(timed(argv, env))
        cold_cpu = statistics.median(CPU)
        CPU.clear()
        warm = [timed(argv, env) for _ in range(runs)]
        warm_cpu = statistics.median(CPU)
        for label, xs, cpu in (("warm", warm, warm_cpu), ("cold", cold, cold_cpu)):
            verdict = "" if label == "cold" else ("  ok" if min(xs) < TARGET else "  MISSES the target")
            print(f"{name:<14} {label:<5} {statistics.median(xs):9.3f} {min(xs):10.3f} {cpu:7.3f}{verdict}")
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()

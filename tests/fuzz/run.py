"""`make fuzz`: run every target under atheris for a fixed budget; save crashing inputs to the corpus.

Usage: python tests/fuzz/run.py [--budget SECONDS] [--only NAME]
Each target runs in its own process (libFuzzer exits on the first crash); a crash is written to
tests/fuzz/corpus/<target>/ and becomes a regression test (tests/test_fuzz_regressions.py).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEEDS = {
    "service_tags": [HERE.parent.parent / "data" / "servicetags" / "PROVENANCE.md"],
}


def child(name: str, seconds: int, corpus: Path) -> None:
    import atheris

    with atheris.instrument_imports():
        import adu_fw  # noqa: F401
        sys.path.insert(0, str(HERE))
        from targets import TARGETS

    fn = TARGETS[name]
    work = corpus / name
    work.mkdir(parents=True, exist_ok=True)
    seeds = HERE / "seeds" / name
    args = [sys.argv[0], f"-max_total_time={seconds}", "-timeout=20", "-rss_limit_mb=4096",
            f"-artifact_prefix={work}/", "-print_final_stats=1", str(HERE / "work" / name)]
    (HERE / "work" / name).mkdir(parents=True, exist_ok=True)
    if seeds.is_dir():
        args.append(str(seeds))
    atheris.Setup(args, fn)
    atheris.Fuzz()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--budget", type=int, default=int(os.environ.get("FUZZ_SECONDS", "240")), help="seconds in all")
    ap.add_argument("--only")
    ap.add_argument("--child")
    args, _ = ap.parse_known_args()
    corpus = HERE / "corpus"
    if args.child:
        child(args.child, args.budget, corpus)
        return 0
    sys.path.insert(0, str(HERE))
    from targets import TARGETS

    names = [args.only] if args.only else list(TARGETS)
    per = max(10, args.budget // len(names))
    failed = []
    for name in names:
        print(f"== fuzz {name} for {per} s", flush=True)
        res = subprocess.run([sys.executable, __file__, "--child", name, "--budget", str(per)], capture_output=True, text=True)
        tail = [line for line in (res.stdout + res.stderr).splitlines() if line.startswith(("stat::", "#", "==", "INFO: Done"))][-4:]
        print("\n".join(tail))
        if res.returncode != 0:
            failed.append(name)
            print((res.stdout + res.stderr)[-3000:])
    print("fuzz: " + ("clean" if not failed else f"findings in {', '.join(failed)} (saved under {corpus})"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

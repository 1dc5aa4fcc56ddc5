"""The ``adu-fw`` command: argument parsing and rendering only (the work lives in the library).

One module per command group; each adds its subcommands in ``register``.
Exit codes: 0 ok, 1 findings (differences, disagreements, lint problems), 2 usage or input error.
"""
from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from .. import __version__, _lazy
from ..errors import AduFwError

_lazy.defer("pyarrow")  # loaded when a command first uses it: `tags lookup` and `check` never do

from . import analyze, check, diff, endpoint, evaluate, exposure, lint, tags  # noqa: E402
from .common import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK

__all__ = ["EXIT_ERROR", "EXIT_FINDINGS", "EXIT_OK", "build_parser", "main", "run"]

COMMANDS = (tags, check, evaluate, analyze, endpoint, lint, diff, exposure)


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
    for command in COMMANDS:
        command.register(sub)
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

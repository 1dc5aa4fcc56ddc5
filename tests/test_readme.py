"""The README's Python examples run as written (and print what their comments say)."""
from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def _blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_python_examples_run_and_print_what_they_claim():
    blocks = _blocks()
    assert blocks
    for code in blocks:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, str(README), "exec"), {})
        printed = out.getvalue().splitlines()
        claims = [m.group(1).strip() for m in re.finditer(r"print\(.*\)[ \t]+# (.*)", code)]
        for claim in claims:
            assert claim in printed, f"README claims {claim!r}; printed {printed}"

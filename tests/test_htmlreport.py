"""The HTML report as a browser shows it: no sideways page scroll at 1300 or 390 px, names not numbers,
an hour axis with labels, the service-tag file of each hour, the explanation beside the agreement."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from adu_fw.cli import main
from adu_fw.demo import demo_dir
from adu_fw.htmlreport import protocol_name, render
from adu_fw.servicetags import resolve_path

LOGS = str(demo_dir() / "flowlogs")
NSG = str(demo_dir() / "client-nsg.json")


def report(tmp_path: Path, capsys, *extra: str) -> tuple[str, dict]:
    out = tmp_path / "r.html"
    main(["analyze", LOGS, "--nsg", NSG, "--html", str(out), "--json", *extra])
    return out.read_text(), json.loads(capsys.readouterr().out)


@pytest.fixture
def weeks(tmp_path):
    d = tmp_path / "weeks"
    d.mkdir()
    for date in ("20240603", "20240610"):
        shutil.copyfile(resolve_path(date), d / f"ServiceTags_Public_{date}.json")
    return d


def test_no_fixed_width_wider_than_a_phone(tmp_path, capsys, weeks):
    for extra in ((), ("--service-tags", str(weeks))):
        html, _ = report(tmp_path, capsys, *extra)
        assert '<meta name="viewport" content="width=device-width' in html
        for svg in re.findall(r"<svg[^>]*>", html):
            assert 'viewBox="' in svg and 'width="100%"' in svg, svg  # scales with the page
        widths = [int(w) for w in re.findall(r'(?<![-\w])width="(\d+)"', html.split("<details><summary>JSON")[0])]
        svg_inner = [int(w) for w in re.findall(r'<rect[^>]*width="(\d+)', html)]
        assert all(w <= 390 for w in widths if w not in svg_inner), widths
        for prop, px in re.findall(r"(?<![-\w])(width|min-width):\s*(\d+)px", html):
            assert int(px) <= 390 or prop == "min-width" and int(px) <= 640, (prop, px)
        assert re.search(r"svg\.timeline\{min-width:640px\}", html) and '<div class="scroll"><svg class="chart timeline"' in html
        body = html.split("<details><summary>JSON")[0]
        assert body.count("<table>") == body.count('<div class="scroll"><table>')  # wide tables scroll in their own box


def test_protocols_hours_versions_and_explanations(tmp_path, capsys, weeks):
    html, doc = report(tmp_path, capsys, "--service-tags", "20240610")
    body = html.split("<details><summary>JSON")[0]
    assert "<td>TCP</td><td>443</td>" in body and "<td>6</td>" not in body
    assert "Why they disagree" in body and (
        "36 disagreements are flows to prefixes added to AzureDeviceUpdate in changeNumber 2 (file 20240610); "
        "the log was written under 20240603") in body
    labels = re.findall(r'text-anchor="middle">([^<]+)</text>', body)
    assert labels[0] == "06-09 23:00" and len(labels) >= 5 and "06-10 01:00" in labels  # more than first and last
    html, doc = report(tmp_path, capsys, "--service-tags", str(weeks))
    assert "service tags 20240603" in html and "service tags 20240610" in html  # the band's legend
    assert "<h3>Service tags by hour</h3>" in html and ">2024-06-10 09:00 .. 2024-06-10 12:00</td>" in html
    assert re.search(r"2024-06-09T23:00:00\+00:00: service tags 20240603</title>", html)
    assert "Why they disagree" not in html


def test_protocol_names():
    assert [protocol_name(v) for v in (6, 17, 1, "6", "T", "U", 99, None, "gre")] == [
        "TCP", "UDP", "ICMP", "TCP", "TCP", "UDP", "99", "", "gre"]


def test_a_long_timeline_keeps_about_eight_labels():
    points = [{"hour": f"2024-06-{d:02d}T{h:02d}:00:00+00:00", "allowed": 1, "denied": 1} for d in range(1, 15) for h in range(24)]
    doc = {"reconciliation": {"files": 1, "records": 1, "records_truncated": 0, "tuples_read": 2, "evaluated": 2,
                              "rejected_total": 0, "rejected": {}, "reconciles": True},
           "agreement": {"agree": 0, "disagree": 0, "decision_disagree": 0, "rule_disagree": 0, "unknown": 0,
                         "rule_not_comparable": 0, "examples": []},
           "rules": [], "unused_rules": [], "top_talkers": [], "denied_by_port": [], "tag": None, "timeline": points}
    labels = re.findall(r'text-anchor="middle">([^<]+)</text>', render(doc))
    assert 4 <= len(labels) <= 8 and labels[:2] == ["06-01 00:00", "06-03 00:00"]


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
_PROBE = "<script>document.title='SW='+document.documentElement.scrollWidth+' CW='+document.documentElement.clientWidth</script>"


def _widths(page: Path, window: int) -> tuple[int, int]:
    out = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
                          f"--window-size={window},1000", "--virtual-time-budget=3000", "--dump-dom", str(page)],
                         capture_output=True, text=True, timeout=120).stdout
    m = re.search(r"<title>SW=(\d+) CW=(\d+)", out)
    assert m, out[:500]
    return int(m.group(1)), int(m.group(2))


@pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium (apt-get install chromium)")
def test_in_a_browser_at_laptop_and_phone_width(tmp_path, capsys, weeks):
    html, _ = report(tmp_path, capsys, "--service-tags", "20240610")  # the examples table is shown
    page = tmp_path / "r.html"
    page.write_text(html.replace("</body>", _PROBE + "</body>"))
    sw, cw = _widths(page, 1300)
    assert sw <= cw, f"the page scrolls sideways at 1300 px: {sw} > {cw}"
    # headless windows are at least 500 px wide: a 390 px phone is an iframe of that width
    harness = tmp_path / "phone.html"
    harness.write_text('<!DOCTYPE html><html><body style="margin:0"><iframe id="f" src="r.html" style="width:390px;'
                       'height:900px;border:0"></iframe><script>document.getElementById("f").onload=function(){var d='
                       'this.contentDocument.documentElement;document.title="SW="+d.scrollWidth+" CW="+d.clientWidth}'
                       '</script></body></html>')
    page.write_text(html)
    sw, cw = _widths(harness, 600)
    assert cw <= 390 and sw <= cw, f"the page scrolls sideways at 390 px: {sw} > {cw}"

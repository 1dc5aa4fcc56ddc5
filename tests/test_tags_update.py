"""`adu-fw tags update` / `tags versions` against a local HTTP server (no test touches the Internet).

The server serves the recorded download page (tests/data/download, see its PROVENANCE) and real
weekly files, plus a broken, a truncated and a slow one; the versions directory must be left as
it was by every failure, and a version is never overwritten.
"""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from adu_fw.cli import main
from adu_fw.servicetags import resolve_path
from adu_fw.tags import download, store
from adu_fw.tags.download import DownloadError, find_json_link, page_url

from conftest import DATA
from tagserver import TagServer

PAGE = (DATA / "download" / "details.aspx-id-56519.html").read_text()
REAL_LINK = ("https://download.microsoft.com/download/7/1/d/71d86715-5596-4529-9b13-da13a5de5b63/"
             "ServiceTags_Public_20251028.json")
CURRENT = resolve_path("20251028").read_bytes()
W0603 = resolve_path("20240603").read_bytes()
W0610 = resolve_path("20240610").read_bytes()


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch):
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def server():
    with TagServer() as s:
        yield s


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def listing(d: Path) -> dict[str, bytes] | None:
    return {p.name: p.read_bytes() for p in d.iterdir()} if d.exists() else None


# -- the page ------------------------------------------------------------------------------
def test_the_link_on_the_recorded_page():
    assert find_json_link(PAGE, page_url("Public"), "Public") == REAL_LINK
    assert page_url("Public").endswith("details.aspx?id=56519")
    assert [page_url(c)[-5:] for c in ("AzureGovernment", "China", "AzureGermany")] == ["57063", "57062", "57064"]


@pytest.mark.parametrize("keep", ["script", "button", "text"])
def test_each_way_the_page_carries_the_link(keep):
    """The data block, the download button, or a bare URL in the text: each is enough on its own."""
    script = PAGE[PAGE.index("<script>window.__DLCDetails__"):PAGE.index("</script>") + 9]
    button = PAGE[PAGE.index('<a href="https://download'):PAGE.index("Download</a>") + 12]
    bare = PAGE.replace(script, "").replace(button, f"<p>get it at {REAL_LINK}</p>")
    page = {"script": PAGE.replace(button, ""), "button": PAGE.replace(script, ""), "text": bare}[keep]
    assert find_json_link(page, page_url("Public"), "Public") == REAL_LINK


def test_the_newest_file_of_the_right_cloud_wins_and_relative_links_resolve():
    page = ('<a href="files/ServiceTags_Public_20240603.json">old</a> <a href="files/ServiceTags_China_20260720.json">'
            'China</a> <a href="files/ServiceTags_Public_20240610.json">new</a>')
    assert find_json_link(page, "http://mirror.example/st/", "Public") == "http://mirror.example/st/files/ServiceTags_Public_20240610.json"
    assert find_json_link(page, "http://mirror.example/st/", "China").endswith("ServiceTags_China_20260720.json")
    with pytest.raises(DownloadError, match="no link to a ServiceTags_AzureGermany_<YYYYMMDD>.json file on the page"):
        find_json_link(page, "http://mirror.example/st/", "AzureGermany")


# -- updating --------------------------------------------------------------------------------
def test_update_through_a_mirror_of_the_page(server, tmp_path, capsys):
    server.add("/download/7/1/d/71d86715-5596-4529-9b13-da13a5de5b63/ServiceTags_Public_20251028.json", CURRENT)
    mirrored = PAGE.replace("https://download.microsoft.com", server.base)
    page = server.add("/en-us/download/details.aspx?id=56519", mirrored.encode(), Content_Type="text/html; charset=utf-8")
    d = tmp_path / "versions"
    code, out, err = run(capsys, "tags", "update", "--from", page, "--dir", d, "--json")
    doc = json.loads(out)
    assert code == 0, err
    assert doc["created"] and doc["file"] == "ServiceTags_Public_20251028.json" and doc["page"] == page
    assert (doc["cloud"], doc["changeNumber"], doc["tags"], doc["prefixes"]) == ("Public", 375, 3039, 93362)
    assert (d / "ServiceTags_Public_20251028.json").read_bytes() == CURRENT
    assert sorted(listing(d)) == ["ServiceTags_Public_20251028.json"]  # no temporary left behind
    code, out, _ = run(capsys, "tags", "update", "--from", page, "--dir", d)
    assert code == 0 and out.startswith("already stored (the same bytes; nothing changed): ServiceTags_Public_20251028.json")


def test_update_from_microsofts_page_by_default(server, tmp_path, capsys, monkeypatch):
    server.add("/download/7/1/d/71d86715-5596-4529-9b13-da13a5de5b63/ServiceTags_Public_20251028.json", CURRENT)
    server.add("/en-us/download/details.aspx?id=56519", PAGE.replace("https://download.microsoft.com", server.base).encode())
    monkeypatch.setattr(download, "page_url", lambda cloud: server.url(f"/en-us/download/details.aspx?id={download.PAGE_IDS[cloud]}"))
    monkeypatch.setenv("ADU_FW_TAGS_DIR", str(tmp_path / "v"))
    code, out, err = run(capsys, "tags", "update")
    assert code == 0, err
    assert "stored: ServiceTags_Public_20251028.json" in out and "changeNumber 375, 3,039 tags, 93,362 prefixes" in out
    assert "dated 2025-10-28 (by file name)" in out
    code, out, err = run(capsys, "tags", "update", "--cloud", "China")
    assert code == 2 and "details.aspx?id=57062: HTTP 404" in err


def test_update_from_a_json_url_a_path_and_a_file_url(server, tmp_path, capsys):
    d = tmp_path / "v"
    url = server.add("/mirror/ServiceTags_Public_20240610.json", W0610)
    assert run(capsys, "tags", "update", "--from", url, "--dir", d)[0] == 0
    src = tmp_path / "ServiceTags_Public_20240603.json"
    src.write_bytes(W0603)
    assert run(capsys, "tags", "update", "--from", src, "--dir", d)[0] == 0
    assert run(capsys, "tags", "update", "--from", src.as_uri(), "--dir", d)[0] == 0  # the same bytes again
    assert listing(d) == {"ServiceTags_Public_20240603.json": W0603, "ServiceTags_Public_20240610.json": W0610}
    code, out, _ = run(capsys, "tags", "versions", "--dir", d, "--json")
    doc = json.loads(out)
    stored = [v for v in doc["versions"] if v["stored"]]
    assert [(v["file"], v["cloud"], v["changeNumber"], v["date"], v["prefixes"]) for v in stored] == [
        ("ServiceTags_Public_20240603.json", "Public", 309, "2024-06-03", 77406),
        ("ServiceTags_Public_20240610.json", "Public", 310, "2024-06-10", 79335)]
    assert doc["default"].endswith("ServiceTags_Public_20240610.json") and stored[1]["default"]
    embedded = [v["file"] for v in doc["versions"] if not v["stored"]]
    assert embedded == ["ServiceTags_Public_20240603.json", "ServiceTags_Public_20240610.json", "ServiceTags_Public_20251028.json"]
    code, out, _ = run(capsys, "tags", "versions", "--dir", d)
    assert f"versions directory: {d} (2 stored version(s))" in out
    assert "ServiceTags_Public_20240610.json  stored    Public  310           2024-06-10  2,604  79,335    default" in out


def _rest_shape(raw: bytes) -> dict:
    """The az network list-service-tags / REST body of a weekly file: string changeNumbers, no regionId/platform."""
    doc = json.loads(raw)
    out = {"name": "public", "id": "/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Network/serviceTags/public",
           "type": "Microsoft.Network/serviceTags", "changeNumber": str(doc["changeNumber"]), "cloud": doc["cloud"], "values": []}
    for v in doc["values"]:
        p = v["properties"]
        out["values"].append({"name": v["name"], "id": v["id"], "properties": {
            "changeNumber": str(p["changeNumber"]), "region": p["region"], "state": "GA",
            "systemService": p["systemService"], "addressPrefixes": p["addressPrefixes"], "networkFeatures": p["networkFeatures"]}})
    return out


def test_update_from_the_rest_shape(tmp_path, capsys):
    d = tmp_path / "v"
    src = tmp_path / "az-network-list-service-tags.json"
    src.write_text(json.dumps(_rest_shape(W0610)))
    code, out, err = run(capsys, "tags", "update", "--from", src, "--dir", d, "--date", "20240610", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert (doc["file"], doc["shape"], doc["dated_by"], doc["changeNumber"]) == ("ServiceTags_Public_20240610.json", "api", "--date", 310)
    assert (d / doc["file"]).read_bytes() == src.read_bytes()  # kept as given, never re-serialised
    os.utime(src, (1718236800, 1718236800))  # 2024-06-13 00:00 UTC: dated by the file's time without --date
    code, out, _ = run(capsys, "tags", "update", "--from", src, "--dir", d, "--json")
    assert code == 0 and json.loads(out)["file"] == "ServiceTags_Public_20240613.json"
    paged = dict(_rest_shape(W0603), nextLink="https://management.azure.com/...&$skipToken=abc")
    src.write_text(json.dumps(paged))
    before = listing(d)
    code, _, err = run(capsys, "tags", "update", "--from", src, "--dir", d, "--date", "20240603")
    assert code == 2 and "one page of a paged answer" in err and listing(d) == before


@pytest.mark.parametrize("case", ["broken", "truncated", "slow", "404", "empty", "other-cloud", "no-link", "refused"])
def test_a_failed_download_leaves_the_directory_as_it_was(server, tmp_path, capsys, case):
    d = tmp_path / "v"
    d.mkdir()
    (d / "ServiceTags_Public_20240603.json").write_bytes(W0603)
    before = listing(d)
    name = "/f/ServiceTags_Public_20240610.json"
    if case == "broken":
        url, expect = server.add(name, W0610[:100] + b"}{" + W0610[102:]), "not a valid service-tag file, nothing was stored: malformed JSON"
    elif case == "truncated":
        url, expect = server.add(name, W0610, "truncated"), f"truncated download: received {len(W0610) // 2:,} of {len(W0610):,} bytes"
    elif case == "slow":
        url, expect = server.add(name, W0610, "slow"), "timed out after 0.5 s"
    elif case == "404":
        url, expect = server.url(name), "HTTP 404"
    elif case == "empty":
        url, expect = server.add(name, b'{"changeNumber": 1, "cloud": "Public", "values": []}'), "lists no service tags"
    elif case == "other-cloud":
        url = server.add("/f/ServiceTags_China_20260720.json", W0603.replace(b'"cloud": "Public"', b'"cloud": "China"', 1))
        expect = "a file of the China cloud, not Public; nothing was stored"
    elif case == "no-link":
        url, expect = server.add("/page.html", b"<html><body>maintenance</body></html>"), "no link to a ServiceTags_Public_<YYYYMMDD>.json file on the page"
    else:
        url, expect = "http://127.0.0.1:9/ServiceTags_Public_20240610.json", "cannot connect"
    argv = ["tags", "update", "--from", url, "--dir", d, "--timeout", "0.5"]
    if case in ("other-cloud", "no-link"):
        argv += ["--cloud", "Public"]
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("adu-fw: error: ") and url.split("?")[0] in err and expect in err, err
    assert listing(d) == before


def test_a_failed_first_download_creates_no_directory(server, tmp_path, capsys):
    d = tmp_path / "never"
    code, _, err = run(capsys, "tags", "update", "--from", server.add("/x.json", b"{", ), "--dir", d)
    assert code == 2 and not d.exists()


def test_a_version_is_never_overwritten(server, tmp_path, capsys):
    d = tmp_path / "v"
    d.mkdir()
    (d / "ServiceTags_Public_20240610.json").write_bytes(W0610)
    url = server.add("/ServiceTags_Public_20240610.json", W0603.replace(b'"changeNumber": 309', b'"changeNumber": 310', 1))
    code, _, err = run(capsys, "tags", "update", "--from", url, "--dir", d)
    assert code == 2 and "already stored under this name; versions are never overwritten" in err
    assert listing(d) == {"ServiceTags_Public_20240610.json": W0610}


def test_two_updates_at_once_keep_one_file(tmp_path):
    d = tmp_path / "v"
    results, errors = [], []

    def keep():
        try:
            results.append(store.keep(W0610, "ServiceTags_Public_20240610.json", d))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=keep) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and sorted(created for _, created in results) == [False] * 5 + [True]
    assert listing(d) == {"ServiceTags_Public_20240610.json": W0610}


def test_a_crash_while_writing_leaves_nothing(tmp_path, monkeypatch):
    d = tmp_path / "v"

    def boom(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(Exception, match="No space left on device"):
        store.keep(W0610, "ServiceTags_Public_20240610.json", d)
    assert listing(d) == {}


def test_proxies_come_from_the_environment(server, tmp_path, capsys, monkeypatch):
    server.add("/st/ServiceTags_Public_20240603.json", W0603)
    monkeypatch.setenv("HTTP_PROXY", server.base)
    d = tmp_path / "v"
    code, _, err = run(capsys, "tags", "update", "--from", "http://adu-fw-test.invalid/st/ServiceTags_Public_20240603.json", "--dir", d)
    assert code == 0, err
    assert server.proxied == ["http://adu-fw-test.invalid/st/ServiceTags_Public_20240603.json"]
    monkeypatch.setenv("HTTPS_PROXY", server.base)
    code, _, err = run(capsys, "tags", "update", "--from", "https://adu-fw-test.invalid/ServiceTags_Public_20240610.json", "--dir", d)
    assert code == 2 and server.connects == ["adu-fw-test.invalid:443"]
    assert "https://adu-fw-test.invalid/ServiceTags_Public_20240610.json: cannot connect: Tunnel connection failed: 403" in err
    assert f"(through the proxy {server.base} from the environment)" in err
    assert sorted(listing(d)) == ["ServiceTags_Public_20240603.json"]


def test_stored_versions_become_the_default_of_every_command(server, tmp_path, capsys, monkeypatch):
    d = tmp_path / "v"
    monkeypatch.setenv("ADU_FW_TAGS_DIR", str(d))
    monkeypatch.setenv("ADU_FW_NOW", "2024-06-20")
    code, out, _ = run(capsys, "tags", "lookup", "20.119.27.200")
    assert "ServiceTags_Public_20251028.json (embedded, the default" in out
    assert run(capsys, "tags", "update", "--from", server.add("/ServiceTags_Public_20240610.json", W0610))[0] == 0
    code, out, err = run(capsys, "tags", "show", "AzureDeviceUpdate")
    assert code == 0 and "96 IPv4, 58 IPv6" in out and "warning" not in err
    assert "service tags: ServiceTags_Public_20240610.json (stored, the default; Public, changeNumber 310, 2024-06-10)" in out
    code, out, _ = run(capsys, "tags", "lookup", "1.1.1.1", "--service-tags", "20240603")  # by date: stored or embedded
    assert "ServiceTags_Public_20240603.json (embedded; Public, changeNumber 309" in out


def test_bad_arguments(capsys, tmp_path):
    code, _, err = run(capsys, "tags", "update", "--from", tmp_path / "missing.json", "--dir", tmp_path / "v")
    assert code == 2 and "missing.json: cannot read" in err
    code, _, err = run(capsys, "tags", "update", "--from", "ftp://example.invalid/x.json", "--dir", tmp_path / "v")
    assert code == 2 and "unsupported URL scheme 'ftp'" in err
    code, _, err = run(capsys, "tags", "update", "--from", "x", "--date", "June")
    assert code == 2 and "--date expects YYYYMMDD" in err
    with pytest.raises(SystemExit):
        main(["tags", "update", "--cloud", "Mars"])

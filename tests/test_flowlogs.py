"""Flow-log readers: real v1/v2 captures, generated v4, blob paths, odd input, truncation at every byte."""
from __future__ import annotations

import datetime as dt
import gzip
import json
import re
from pathlib import Path

import pyarrow as pa
import pytest

from adu_fw import flowlogs
from adu_fw.demo import demo_dir
from adu_fw.flowlogs import FlowLogError, path_parts, read

from conftest import shared

DATA = Path(__file__).resolve().parent / "data" / "flowlogs"
V2 = DATA / "AzureNSGFlowLogsv1.json"
V1 = DATA / "sampleJsonInput.json"


def table(stream):
    return pa.Table.from_batches(list(stream), schema=flowlogs.SCHEMA)


def test_copied_fixtures_equal_the_shared_originals():
    for f in (V1, V2):
        assert f.read_bytes() == shared("data", "flowlogs", f.name).read_bytes()


def test_real_v1_capture():
    s = read(V1)
    t = table(s)
    assert (s.stats.files, s.stats.records, s.stats.tuples_read, s.stats.emitted) == (1, 3, 38, 38)
    assert s.stats.reconciles() and dict(s.stats.versions) == {1: 3}
    row = t.slice(0, 1).to_pylist()[0]
    assert row["time"] == dt.datetime(2018, 7, 18, 12, 35, 35, tzinfo=dt.timezone.utc)  # epoch seconds
    assert (row["src_ip"], row["dst_ip"], row["src_port"], row["dst_port"], row["protocol"]) == ("122.222.24.18", "10.0.0.4", 61691, 3128, 6)
    assert (row["direction"], row["logged_decision"], row["logged_rule"]) == ("Inbound", "Deny", "DefaultRule_DenyAllInBound")
    assert row["flow_state"] is None and row["bytes_src_to_dst"] is None  # v1 has no state or counters
    assert (row["log_source"], row["mac"], row["flow_log_version"]) == ("WADVM-NSG", "000D3A0AF519", 1)


def test_real_v2_capture_with_trailing_comma():
    s = read(V2)
    t = table(s)
    assert (s.stats.tuples_read, s.stats.emitted, dict(s.stats.versions)) == (8, 8, {2: 1})
    assert any("trailing comma" in n for n in s.stats.notes)
    rows = t.to_pylist()
    b = next(r for r in rows if r["flow_state"] == "B")
    e = next(r for r in rows if r["flow_state"] == "E")
    assert b["packets_src_to_dst"] is None  # B tuples have empty counters
    assert (e["packets_src_to_dst"], e["bytes_src_to_dst"], e["packets_dst_to_src"], e["bytes_dst_to_src"]) == (4, 246, 2, 126)
    assert rows[1]["protocol"] == 17 and rows[1]["logged_rule"] == "DefaultRule_AllowVnetOutBound"


def test_real_big_v1_capture():
    s = read(shared("data", "flowlogs", "sampleOfInputV1.json"))
    t = table(s)
    assert (s.stats.records, t.num_rows) == (24, 1187) and s.stats.reconciles()


def test_generated_vnet_v4_blob_layout():
    root = demo_dir() / "flowlogs" / "insights-logs-flowlogflowevent"
    s = read(root)
    t = table(s)
    assert set(s.stats.versions) == {4}
    row = t.slice(0, 1).to_pylist()[0]
    assert row["time"].microsecond % 1000 == 0 and row["time"].year == 2024  # epoch milliseconds
    assert row["encryption"] == "NX" and row["acl_id"].startswith("9f0e3c7a")
    assert row["hour"] is not None and row["log_source"] == "ADU-VNET-FLOWLOG"
    denied = [r for r in t.to_pylist() if r["flow_state"] == "D"]
    assert denied and all(r["logged_decision"] == "Deny" and r["packets_src_to_dst"] == 0 for r in denied)
    assert s.stats.records_truncated == 1 and s.stats.reconciles()  # the 12:00 blob is cut mid-write


def test_blob_path_parts_and_time_pruning():
    p = ("x/insights-logs-networksecuritygroupflowevent/resourceId=/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/"
         "MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/MY-NSG/y=2024/m=06/d=10/h=09/m=00/macAddress=000D3A1B2C3D/PT1H.json")
    parts = path_parts(p)
    assert parts["log_source"] == "MY-NSG" and parts["mac"] == "000D3A1B2C3D"
    assert parts["hour"] == dt.datetime(2024, 6, 10, 9, tzinfo=dt.timezone.utc)  # the first m= is the month
    root = demo_dir() / "flowlogs"
    all_files = read(root)
    list(all_files)
    s = read(root, since=dt.datetime(2024, 6, 10, 10, tzinfo=dt.timezone.utc), until=dt.datetime(2024, 6, 10, 12, tzinfo=dt.timezone.utc))
    list(s)
    assert (s.stats.files, s.stats.files_skipped_by_time) == (2, 3)
    assert all_files.stats.files == 5


def test_gz_glob_bom_crlf(tmp_path):
    raw = V2.read_bytes()
    (tmp_path / "a.json.gz").write_bytes(gzip.compress(raw))
    (tmp_path / "b.json").write_bytes(b"\xef\xbb\xbf" + raw.replace(b"\n", b"\r\n"))
    s = read(str(tmp_path / "*.json*"))
    list(s)
    assert (s.stats.files, s.stats.tuples_read, s.stats.emitted) == (2, 16, 16)


def test_odd_fields_are_kept_or_rejected_with_reasons(tmp_path):
    doc = json.loads(re.sub(r",(\s*\])", r"\1", V2.read_text()))
    tuples = doc["records"][0]["properties"]["flows"][1]["flows"][0]["flowTuples"]
    tuples[0] = tuples[0].replace(",A,B,", ",B,B,")  # unknown decision letter (seen in the wild): kept
    tuples[1] = tuples[1].replace(",T,O,", ",X,O,")  # unknown protocol letter: cannot evaluate
    tuples[2] = tuples[2] + ",extra"  # wrong field count
    tuples[3] = tuples[3].replace("10.201.4.6", "10.201.4.666")
    (tmp_path / "odd.json").write_text(json.dumps(doc))
    s = read(tmp_path / "odd.json")
    t = table(s)
    assert s.stats.tuples_read == 8 and s.stats.emitted == 5 and s.stats.reconciles()
    assert set(s.stats.rejected) == {
        "protocol: not T/U (v1/v2) or a number 0-255 (v4)",
        "tuple: wrong number of fields (v1: 8, v2/v4: 13)",
        "src_ip: not an IPv4 or IPv6 address",
    }
    assert all("odd.json record 0 tuple" in ex[0] for ex in s.stats.examples.values())
    assert None in t.column("logged_decision").to_pylist()
    assert any("unknown decision letter" in n for n in s.stats.notes)


def test_missing_path_and_non_flow_log(tmp_path):
    with pytest.raises(FlowLogError, match="no such file"):
        list(read(tmp_path / "nope"))
    (tmp_path / "x.json").write_text('{"a": 1}')
    s = read(tmp_path / "x.json")
    assert list(s) == [] and s.stats.files == 0
    assert s.stats.skipped_files == [{"path": str(tmp_path / "x.json"), "reason": "JSON, but no flow-log record in it (the document: an object with keys 'a')"}]
    assert s.nothing_read.startswith(f"{tmp_path / 'x.json'}: no flow-log file was read: 1 file(s) that are not flow logs")


def _record_ends(text: str) -> list[tuple[int, int]]:
    """(end offset, tuple count) of each record in a valid (repaired) flow-log text."""
    dec = json.JSONDecoder()
    pos = text.index("[", text.index('"records"')) + 1
    out = []
    while True:
        while text[pos] in " \t\r\n,":
            pos += 1
        if text[pos] == "]":
            return out
        rec, pos = dec.raw_decode(text, pos)
        n = sum(len(g["flowTuples"]) for f in rec["properties"]["flows"] for g in f["flows"])
        out.append((pos, n))


@pytest.mark.parametrize("src, step", [(V2, 1), (V1, 3)])
def test_truncation_at_every_byte_keeps_every_complete_record(tmp_path, src, step):
    """A blob cut anywhere: every record complete before the cut is read; the counts reconcile."""
    raw = src.read_bytes()
    ends = _record_ends(re.sub(r",(\s*[\]}])", r"\1", raw.decode()))
    for cut in range(0, len(raw) + 1, step):
        p = tmp_path / "PT1H.json"
        p.write_bytes(raw[:cut])
        s = read(p)
        rows = sum(b.num_rows for b in s)
        complete = sum(n for end, n in ends if end <= cut - 2) if cut < len(raw) else sum(n for _, n in ends)
        assert rows >= complete, (cut, rows, complete)
        assert s.stats.reconciles(), cut

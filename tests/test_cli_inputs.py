"""The CLI on the inputs users have: an empty run is exit 2 and says what was found; --json is never
abbreviated; every input error is exit 2 naming file, field and value; warnings where an answer misleads."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

from adu_fw.cli import main
from adu_fw.demo import demo_dir

from conftest import shared
from nsgkit import nsg, rule

DATA = Path(__file__).resolve().parent / "data"
EXT = DATA / "flowlogs-ext"
NSG = str(demo_dir() / "client-nsg.json")
TAGS = ["--service-tags", "20240610"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _log_folder(tmp_path: Path) -> Path:
    logs = tmp_path / "exports"
    logs.mkdir()
    (logs / "vnet.log").write_bytes((EXT / "elastic_vnet" / "test-vnet.log").read_bytes())
    (logs / "nsg.jsonl.gz").write_bytes(gzip.compress((EXT / "elastic_nsg" / "testdata.log").read_bytes()))
    (logs / "notes.txt").write_text("shipped by filebeat\n")
    return logs


def test_analyze_a_folder_of_log_exports(tmp_path, capsys):
    logs = _log_folder(tmp_path)
    code, out, err = run(capsys, "analyze", logs, "--nsg", NSG, *TAGS)
    assert code in (0, 1) and not err
    assert out.startswith("read 2 file(s) (1 blob (gzip), 1 record), 3 record(s) (0 truncated), 13 tuple(s): 13 evaluated + 0 rejected")
    assert f"  not a flow log: {logs / 'notes.txt'}: not JSON (it starts with 'shipped by filebeat\\n')" in out
    code, out, _ = run(capsys, "analyze", logs, "--nsg", NSG, *TAGS, "--json", "--html", tmp_path / "r.html")
    rec = json.loads(out)["reconciliation"]
    assert rec["shapes"] == {"record": 1, "blob (gzip)": 1}
    assert [(Path(f["file"]).name, f["shape"], f["compression"], f["records"], f["tuples"]) for f in rec["files_read"]] == [
        ("nsg.jsonl.gz", "blob", "gzip", 2, 11), ("vnet.log", "record", None, 1, 2)]
    assert rec["skipped_files"][0]["reason"].startswith("not JSON") and rec["nothing_evaluated"] is None
    html = (tmp_path / "r.html").read_text()
    assert "Shapes: 1 record, 1 blob (gzip)." in html or "Shapes: 1 blob (gzip), 1 record." in html
    assert "Not flow logs (not read)" in html and "notes.txt" in html and "Files read (2), with their shape" in html


def test_analyze_nothing_read_exits_2_and_says_what_it_found(tmp_path, capsys):
    (tmp_path / "README.md").write_text("# exports\n")
    (tmp_path / "other.json").write_text('{"value": []}')
    code, out, err = run(capsys, "analyze", tmp_path, "--nsg", NSG, *TAGS)
    assert code == 2 and out == ""
    assert err == (f"adu-fw: error: {tmp_path}: no flow-log file was read: 2 file(s) that are not flow logs "
                   f"({tmp_path / 'README.md'}: not JSON (it starts with '# exports\\n'); {tmp_path / 'other.json'}: "
                   "JSON, but no flow-log record in it (the document: an object with keys 'value'))\n")
    code, out, err = run(capsys, "analyze", tmp_path, "--nsg", NSG, *TAGS, "--json")
    doc = json.loads(out)
    assert code == 2 and doc["error"].startswith(f"{tmp_path}: no flow-log file was read")
    assert len(doc["reconciliation"]["skipped_files"]) == 2


def test_analyze_window_excluding_every_blob_exits_2(capsys):
    code, _, err = run(capsys, "analyze", demo_dir() / "flowlogs", "--nsg", NSG, *TAGS, "--until", "2024-01-01")
    assert code == 2 and "no flow-log file was read: 5 file(s) outside --since/--until" in err


def test_analyze_every_tuple_rejected_exits_2(tmp_path, capsys):
    doc = {"records": [{"properties": {"Version": 2, "flows": [{"rule": "r", "flows": [{"mac": "m", "flowTuples": [
        "1542110402,999.1.1.1,10.5.16.4,28746,443,U,I,D,B,,,,", "not a tuple"]}]}]}}]}
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    code, out, err = run(capsys, "analyze", tmp_path / "bad.json", "--nsg", NSG, *TAGS)
    assert code == 2 and "no tuple could be evaluated: 2 read, every one rejected" in err
    assert "rejected 1: src_ip: not an IPv4 or IPv6 address" in out  # what was found is shown


def test_analyze_records_without_tuples_exit_2(tmp_path, capsys):
    (tmp_path / "r.json").write_text('{"records": [{"properties": {"Version": 2, "flows": []}}]}')
    code, _, err = run(capsys, "analyze", tmp_path / "r.json", "--nsg", NSG, *TAGS)
    assert code == 2 and "no flow-log tuple was read (1 file(s), 1 record(s) read): 1 file(s) read as flow logs (1 blob)" in err


def test_evaluate_without_rows_exits_2(tmp_path, capsys):
    (tmp_path / "f.csv").write_text("direction,protocol,src_ip,src_port,dst_ip,dst_port\n")
    code, _, err = run(capsys, "evaluate", "--nsg", NSG, *TAGS, "--flows", tmp_path / "f.csv", "--out", tmp_path / "o.csv")
    assert code == 2 and "f.csv: no flow row in it" in err
    (tmp_path / "g.csv").write_text("src,dst\n1.1.1.1,2.2.2.2\n")
    code, _, err = run(capsys, "evaluate", "--nsg", NSG, *TAGS, "--flows", tmp_path / "g.csv", "--out", tmp_path / "o.csv")
    assert code == 2 and "g.csv: the flows lack column(s) direction, protocol, src_ip, src_port, dst_ip, dst_port (found: src, dst)" in err


def test_diff_flows_that_read_nothing_exit_2(tmp_path, capsys):
    (tmp_path / "x.txt").write_text("nothing")
    argv = ["diff", "--nsg", NSG, "--old-service-tags", "20240603", "--new-service-tags", "20240610", "--flows", tmp_path]
    code, out, err = run(capsys, *argv)
    assert code == 2 and "--flows" in err and "no flow-log file was read" in err and "x.txt: not JSON" in err
    code, out, _ = run(capsys, *argv, "--json")
    doc = json.loads(out)
    assert code == 2 and doc["flows_read"]["skipped_files"][0]["path"].endswith("x.txt") and "error" in doc


def test_diff_json_carries_every_prefix_and_every_changed_flow(capsys):
    argv = ["diff", "--nsg", NSG, "--old-service-tags", "20240603", "--new-service-tags", "20240610"]
    code, out, _ = run(capsys, *argv, "--json", "--flows", demo_dir() / "flowlogs")
    doc = json.loads(out)
    (region,) = doc["regions"]
    assert code == 1 and len(region["region"]["dst"]) == 58 and not any("more" in p for p in region["region"]["dst"])
    assert len(doc["flow_changes"]) == doc["flows_changed"] > 50  # was cut to 50
    assert doc["flows_read"]["files"] == 5 and doc["flows_read"]["nothing_read"] is None
    code, out, _ = run(capsys, *argv, "--flows", demo_dir() / "flowlogs")
    assert "... 46 more prefixes (all in --json)" in out
    assert f"... {doc['flows_changed'] - 12:,} more changed flows (all of them in --json)" in out


def test_lint_deep_json_is_complete(tmp_path, capsys):
    p = tmp_path / "n.json"
    p.write_text(json.dumps(nsg("n", rule("wide", 100, "Outbound", access="Deny", dst="AzureCloud"),
                                rule("adu", 200, "Outbound", dst="AzureDeviceUpdate", dport="443"))))
    code, out, _ = run(capsys, "lint", "--deep", p, "--vnet", "10.0.0.0/16", *TAGS, "--json")
    assert "more prefixes" not in out and json.loads(out)["anomalies"]


# -- input errors: file, field and value, never Python's own text -----------------------------------------
LONG = "9" * 5000


def _no_python_text(err: str) -> None:
    assert "Exceeds the limit" not in err and "int_max_str_digits" not in err and "Traceback" not in err


def test_service_tag_change_number_of_5000_digits(tmp_path, capsys):
    p = tmp_path / "ServiceTags_Public_20240610.json"
    p.write_text('{"changeNumber": %s, "cloud": "Public", "values": []}' % LONG)
    code, _, err = run(capsys, "tags", "list", "--service-tags", p)
    assert code == 2 and err == (f"adu-fw: error: {p}: top level: field 'changeNumber': expected an integer of at most 18 "
                                 "digits (or its string), got 99999999999999999999... (a number of 5,000 digits)\n")
    p.write_text('{"changeNumber": 1, "values": [{"name": "A", "properties": {"changeNumber": "%s", "addressPrefixes": []}}]}' % LONG)
    code, _, err = run(capsys, "tags", "list", "--service-tags", p)
    assert code == 2 and "tag 'A': field 'changeNumber'" in err and "(5,000 characters)" in err and len(err) < 300


def test_long_numbers_in_nsg_firewall_topology_and_flow_logs(tmp_path, capsys):
    n = tmp_path / "nsg.json"
    n.write_text(json.dumps(nsg("n", rule("r", 100))).replace('"priority": 100', f'"priority": {LONG}'))
    code, _, err = run(capsys, "check", "--nsg", n, "--direction", "inbound", "--protocol", "tcp", "--src", "1.1.1.1",
                       "--src-port", "1", "--dst", "10.0.0.4", "--dst-port", "22", "--vnet", "10.0.0.0/16", *TAGS)
    assert code == 2 and "rule 'r': field 'priority': expected an integer, got 99999999999999999999... (a number of 5,000 digits)" in err
    _no_python_text(err)
    n.write_text(json.dumps(nsg("n", rule("r", 100, dport=LONG))))
    code, out, _ = run(capsys, "lint", n)
    assert code == 1 and "field 'destinationPortRange': '9999" in out and "(5,000 characters) is not a port" in out
    assert len(out) < 500
    fw = tmp_path / "fw.json"
    fw.write_text('{"properties": {"ruleCollections": [{"name": "c", "priority": %s, "rules": []}]}}' % LONG)
    code, _, err = run(capsys, "check", "--firewall-policy", fw, "--protocol", "tcp", "--src", "1.1.1.1", "--src-port", "1",
                       "--dst", "2.2.2.2", "--dst-port", "1", *TAGS)
    assert code == 2 and "field 'priority'" in err and "5,000 digits" in err
    topo = tmp_path / "topo.json"
    topo.write_text('{"accounts": [{"name": "a", "x": %s}]}' % LONG)
    code, _, err = run(capsys, "endpoint", "check", "a", "--topology", topo, "--from", "v")
    assert code == 2
    _no_python_text(err)
    fl = tmp_path / "fl.json"
    fl.write_text('{"records": [{"properties": {"Version": %s, "flows": []}}]}' % LONG)
    code, _, err = run(capsys, "analyze", fl, "--nsg", NSG, *TAGS)
    assert code == 2 and "no flow-log tuple was read" in err
    _no_python_text(err)


# -- warnings --------------------------------------------------------------------------------------------------
def test_feature_filter_on_files_without_network_features(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ADU_FW_NOW", "2024-06-20")  # the 2024-06-10 file is current then: no stale-tags warning either
    p = tmp_path / "ServiceTags_Public_20190722.json"
    p.write_text(json.dumps({"changeNumber": 1, "cloud": "Public", "values": [
        {"name": "A", "properties": {"changeNumber": 1, "region": "", "addressPrefixes": ["10.0.0.0/8"]}}]}))
    code, out, err = run(capsys, "tags", "list", "--feature", "NSG", "--service-tags", p)
    assert code == 0 and "0 of 1 tags" in out
    assert "no tag has networkFeatures" in err and "--feature NSG cannot match any of its 1 tags" in err
    code, out, _ = run(capsys, "tags", "list", "--feature", "NSG", "--service-tags", p, "--json")
    assert json.loads(out)["warnings"] and json.loads(out)["tags"] == []
    code, out, err = run(capsys, "tags", "list", "--feature", "NSG", *TAGS, "--json")
    assert json.loads(out)["warnings"] == [] and err == ""


def test_feature_filter_on_the_real_2019_file(capsys):
    p = shared("data", "servicetags-ext", "ServiceTags_Public_20190722.json")
    code, out, err = run(capsys, "tags", "list", "--feature", "NSG", "--service-tags", p)
    assert code == 0 and "0 of 756 tags" in out and "no tag has networkFeatures" in err


def test_tags_diff_newer_to_older_and_across_clouds(tmp_path, capsys):
    code, out, err = run(capsys, "tags", "diff", "20240610", "20240603", "--json")
    assert code == 1 and "is newer than NEW" in err and "give the older file first" in json.loads(out)["warnings"][0]
    code, _, err = run(capsys, "tags", "diff", "20240603", "20240610", "--tag", "AzureDeviceUpdate")
    assert "warning" not in err
    gov = tmp_path / "ServiceTags_AzureGovernment_20240610.json"
    gov.write_text(json.dumps({"changeNumber": 5, "cloud": "AzureGovernment", "values": []}))
    code, _, err = run(capsys, "tags", "diff", "20240610", gov)
    assert code == 1 and "different clouds (Public:" in err and "AzureGovernment:" in err


def test_arm_expressions_and_classbench_with_hostile_numbers(tmp_path, capsys):
    import pytest

    from adu_fw.errors import PolicyError
    from adu_fw.policy import Policy

    for expr, says in (("[int('abc')]", "int() of 'abc': not an integer of at most 18 digits"),
                       (f"[add({LONG}, 1)]", "number of 5,000 digits in an ARM expression")):
        doc = {"resources": [{"type": "Microsoft.Network/networkSecurityGroups", "name": "n", "properties": {"securityRules": [
            {"name": "r", "properties": {**rule("r", 100)["properties"], "priority": expr}}]}}]}
        p = tmp_path / "arm.json"
        p.write_text(json.dumps(doc))
        code, out, err = run(capsys, "lint", p)
        assert code == 1 and "field 'priority'" in out and says in out and len(out) < 500
        _no_python_text(out + err)
    cb = tmp_path / "cb.rules"
    cb.write_text(f"@10.0.0.0/8\t10.0.0.0/8\t0 : {LONG}\t0 : 65535\t0x06/0xFF\n")
    with pytest.raises(PolicyError, match=r"cb.rules: line 1: port range '0' : '9+\.\.\. \(5,000 characters\) is not within 0-65535"):
        Policy.from_classbench(cb)


def test_analyze_and_diff_read_fsspec_urls(capsys):
    import pytest

    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    root = "/adu-fw-cli-url"
    fs.pipe(f"{root}/exports/a.log", (EXT / "elastic_nsg" / "testdata.log").read_bytes())
    try:
        code, out, _ = run(capsys, "analyze", f"memory://{root}/exports", "--nsg", NSG, *TAGS, "--json",
                           "--storage-option", "skip_instance_cache=true")
        rec = json.loads(out)["reconciliation"]
        assert code in (0, 1) and rec["files_read"][0]["file"] == f"memory://{root}/exports/a.log" and rec["evaluated"] == 11
        code, out, _ = run(capsys, "diff", "--nsg", NSG, "--old-service-tags", "20240603", "--new-service-tags", "20240610",
                           "--flows", f"memory://{root}/exports", "--json")
        assert code == 1 and json.loads(out)["flows_compared"] == 11
        code, _, err = run(capsys, "analyze", f"memory://{root}/nothing-here", "--nsg", NSG, *TAGS)
        assert code == 2 and f"memory://{root}/nothing-here: no such file or directory" in err
    finally:
        fs.rm(root, recursive=True)

"""`--admin-rules FILE[:COLLECTION]` through check (text, --explain, --json), evaluate and diff."""
from __future__ import annotations

import csv
import json

import pytest

from adu_fw.cli import main
from adu_fw.samples import demo_admin_rules, demo_template

FLOW = ["--direction", "inbound", "--protocol", "tcp", "--src-port", "50000", "--dst", "10.20.1.10"]


@pytest.fixture()
def files(tmp_path):
    nsg = tmp_path / "nsg.json"
    nsg.write_text(json.dumps(demo_template()))
    admin = tmp_path / "admin.json"
    admin.write_text(json.dumps(demo_admin_rules()))
    return nsg, admin


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_check_explain_shows_the_admin_stage(capsys, files):
    nsg, admin = files
    code, out, _ = run(capsys, "check", *FLOW, "--src", "45.1.2.3", "--dst-port", "3389", "--nsg", nsg, "--admin-rules",
                       admin, "--service-tags", "20240610", "--explain")
    assert code == 0
    assert out.splitlines()[0] == ("Deny: security admin rule DenyHighRiskPortsFromInternet (Deny, priority 20) in "
                                   "org-guardrails/device-subnets")
    assert "security admin rules (AVNM, before any NSG): Deny by DenyHighRiskPortsFromInternet (20)" in out
    assert "the NSGs are not consulted" in out and "NSG adu-client-nsg" not in out
    code, out, _ = run(capsys, "check", *FLOW, "--src", "203.0.113.5", "--dst-port", "22", "--nsg", nsg, "--admin-rules",
                       admin, "--service-tags", "20240610", "--explain")
    assert "no admin rule matched: handed to the NSGs" in out and "NSG adu-client-nsg (nsg): Allow by allow-ssh-corp" in out


def test_check_json_and_a_collection_selector(capsys, files):
    nsg, admin = files
    code, out, _ = run(capsys, "check", *FLOW, "--src", "198.51.100.3", "--dst-port", "8080", "--nsg", nsg, "--admin-rules",
                       f"{admin}:org-guardrails/device-subnets", "--service-tags", "20240610", "--json")
    doc = json.loads(out)
    assert (doc["access"], doc["rule"], doc["layer"], doc["nsg"]) == ("Allow", "AllowSecurityScanner", "admin",
                                                                        "org-guardrails/device-subnets")
    assert doc["trail"][0]["level"] == "admin" and doc["trail"][0]["access"] == "AlwaysAllow"
    assert doc["trail"][0]["rules"][0]["collection"] == "org-guardrails/device-subnets"
    code, _, err = run(capsys, "check", *FLOW, "--src", "1.1.1.1", "--dst-port", "1", "--nsg", nsg, "--admin-rules",
                       f"{admin}:nope", "--service-tags", "20240610")
    assert code == 2 and "no rule collection 'nope'" in err


def test_admin_rules_alone_and_bad_files_exit_2(capsys, files, tmp_path):
    _, admin = files
    code, out, _ = run(capsys, "check", *FLOW, "--src", "45.1.2.3", "--dst-port", "445", "--admin-rules", admin,
                       "--vnet", "10.20.0.0/16", "--service-tags", "20240610")
    assert code == 0 and out.startswith("Deny: security admin rule DenyHighRiskPortsFromInternet")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "x", "properties": {"access": "Maybe", "priority": 1, "direction": "Inbound",
                                                           "protocol": "Tcp"}}))
    code, _, err = run(capsys, "check", *FLOW, "--src", "1.1.1.1", "--dst-port", "1", "--admin-rules", bad,
                       "--service-tags", "20240610")
    assert code == 2 and str(bad) in err and "admin rule ?/?/x" in err and "field 'access'" in err
    assert "expected Allow, Deny or AlwaysAllow" in err and "'Maybe'" in err


def test_evaluate_with_admin_rules(capsys, files, tmp_path):
    nsg, admin = files
    flows = tmp_path / "flows.csv"
    flows.write_text("direction,protocol,src_ip,src_port,dst_ip,dst_port\n"
                     "I,6,198.51.100.2,40000,10.20.1.5,3389\nI,6,45.1.1.1,40000,10.20.1.5,3389\nI,6,203.0.113.9,40000,10.20.1.5,22\n")
    out = tmp_path / "v.csv"
    code, _, _ = run(capsys, "evaluate", "--flows", flows, "--out", out, "--nsg", nsg, "--admin-rules", admin,
                     "--service-tags", "20240610")
    rows = list(csv.DictReader(out.open()))
    assert code == 0 and [(r["access"], r["rule"], r["nsg"]) for r in rows] == [
        ("Allow", "AllowSecurityScanner", "org-guardrails/device-subnets"),
        ("Deny", "DenyHighRiskPortsFromInternet", "org-guardrails/device-subnets"),
        ("Allow", "allow-ssh-corp", "adu-client-nsg")]


def test_diff_of_admin_rules(capsys, files, tmp_path):
    nsg, admin = files
    doc = demo_admin_rules()
    coll = doc["resources"][0]["resources"][0]["resources"][0]["resources"]
    coll[1]["properties"]["destinationPortRanges"].append("22")  # the new version also blocks SSH from the Internet
    new = tmp_path / "admin-new.json"
    new.write_text(json.dumps(doc))
    code, out, _ = run(capsys, "diff", "--nsg", nsg, "--old-admin-rules", admin, "--new-admin-rules", new,
                       "--old-service-tags", "20240610", "--new-service-tags", "20240610", "--json")
    d = json.loads(out)
    assert code == 1 and d["region_count"] >= 1
    changes = {(c["old"]["rule"], c["new"]["rule"]) for c in d["regions"]}
    assert changes == {("UserRule_allow-ssh-corp", "DenyHighRiskPortsFromInternet"),
                       ("DefaultRule_DenyAllInBound", "DenyHighRiskPortsFromInternet")}
    corp = next(c for c in d["regions"] if c["old"]["rule"] == "UserRule_allow-ssh-corp")
    assert (corp["old"]["access"], corp["new"]["access"], corp["new"]["nsg"]) == ("Allow", "Deny", "org-guardrails/device-subnets")
    assert corp["region"]["dst_ports"] == "22" and corp["region"]["src"] == ["203.0.113.0/24"]
    code, out, _ = run(capsys, "diff", "--nsg", nsg, "--admin-rules", admin, "--old-service-tags", "20240603",
                       "--new-service-tags", "20240610")
    assert code == 1 and "region(s)" in out


def test_lint_lists_every_admin_rule_problem(capsys, files, tmp_path):
    _, admin = files
    code, out, _ = run(capsys, "lint", "--admin-rules", admin, "--service-tags", "20240610")
    assert code == 0 and "3 rule(s) in 1 collection(s), ok" in out
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"value": [
        {"name": "a", "properties": {"access": "Deny", "priority": 5000, "direction": "In", "protocol": "Tcp"}},
        {"name": "b", "properties": {"access": "Deny", "priority": 1, "direction": "Inbound", "protocol": "Tcp",
                                     "sources": [{"addressPrefixType": "ServiceTag", "addressPrefix": "NoSuchTag"}]}}]}))
    code, out, _ = run(capsys, "lint", "--admin-rules", bad, "--service-tags", "20240610", "--json")
    doc = json.loads(out)
    assert code == 1 and doc["problems"] == 3
    problems = {p["field"]: p["text"] for p in doc["admin_rules"][0]["problems"]}
    assert set(problems) == {"priority", "direction", "sources"}
    assert "admin rule ?/?/a: field 'priority': 5000 is outside 1-4096" in problems["priority"]
    assert "expected Inbound or Outbound, got 'In'" in problems["direction"]
    assert str(bad) in problems["sources"] and "unknown service tag 'NoSuchTag'" in problems["sources"]


def test_exposure_takes_the_admin_stage_into_account(capsys, tmp_path):
    from nsgkit import nsg, rule

    open_nsg = tmp_path / "open.json"
    open_nsg.write_text(json.dumps(nsg("open-nsg", rule("rdp-from-anywhere", 100, protocol="Tcp", dport="3389"),
                                       rule("web", 200, protocol="Tcp", dport="443"))))
    admin = tmp_path / "admin.json"
    admin.write_text(json.dumps(demo_admin_rules()))
    argv = ["exposure", "--nsg", open_nsg, "--vnet", "10.20.0.0/16", "--service-tags", "20240610", "--json"]
    code, out, _ = run(capsys, *argv)
    before = {(e["rule"], tuple(e["ports"] or ())) for e in json.loads(out)["exposures"]}
    assert ("rdp-from-anywhere", ("3389",)) in before
    code, out, _ = run(capsys, *argv, "--admin-rules", admin)
    doc = json.loads(out)
    after = {(e["rule"], tuple(e["ports"] or ())) for e in doc["exposures"]}
    # the admin Deny of 3389 from the Internet closes RDP; the scanner's AlwaysAllow opens every TCP port to it
    assert not any(r == "rdp-from-anywhere" for r, _ in after) and ("web", ("443",)) in after
    scanner = [e for e in doc["exposures"] if e["rule"] == "AllowSecurityScanner"]
    assert scanner and scanner[0]["sources"] == ["198.51.100.0/28"] and scanner[0]["allowed_by"][0]["level"] == "admin"
    assert any("security admin rules" in n for n in doc["summary"]["notes"])

"""VNet flow logs whose rules are security admin rules: agreement counts them, hits per admin rule."""
from __future__ import annotations

import json

import pyarrow.parquet as pq

from adu_fw.analysis import analyze
from adu_fw.cli import main
from adu_fw.flowlogs import read
from adu_fw.policy import Policy
from adu_fw.samples import write_avnm_demo

from conftest import DATA
from nsgkit import nsg

HIGH_RISK = ["20-23", "69", "111", "119", "135", "161-162", "445", "512", "514", "593", "873", "2049", "3389", "5800",
             "5900", "5986", "11211"]


def admin(name, priority, ports, protocol="Tcp"):
    return {"name": name, "kind": "Custom", "id": f"/x/networkManagers/m/securityAdminConfigurations/c/ruleCollections/k/rules/{name}",
            "properties": {"priority": priority, "access": "Deny", "direction": "Inbound", "protocol": protocol,
                           "sources": [{"addressPrefixType": "ServiceTag", "addressPrefix": "Internet"}],
                           "destinations": [{"addressPrefixType": "IPPrefix", "addressPrefix": "*"}],
                           "destinationPortRanges": ports}}


ADMIN = [admin("BlockHighRiskTCPPortsFromInternet", 1, HIGH_RISK), admin("Internet", 2, ["*"], "Any")]


def _policy(vnet, admin_rules=ADMIN):
    return Policy.from_nsg(nsg("vm-nsg"), virtual_network=[vnet], service_tags="20240610", admin_rules=admin_rules)


def test_docs_sample_admin_rule_names_are_compared():
    doc = analyze(read(DATA / "avnm" / "docs_vnet-flowlog-v4_avnm-rule.json"), _policy("10.0.0.0/16")).to_dict()
    agr = doc["agreement"]
    assert (doc["reconciliation"]["tuples_read"], agr["agree"], agr["disagree"], agr["rule_not_comparable"]) == (19, 19, 0, 0)
    hits = {r["rule"]: (r["flows"], r["layer"], r["nsg"]) for r in doc["rules"] if r["flows"]}
    assert hits == {"BlockHighRiskTCPPortsFromInternet": (2, "admin", "c/k"), "Internet": (7, "admin", "c/k"),
                    "AllowInternetOutBound": (10, "nsg", "vm-nsg")}
    assert [r["rule"] for r in doc["admin_rules"]] == ["BlockHighRiskTCPPortsFromInternet", "Internet"]


def test_real_capture_names_admin_rules_with_a_guid_suffix():
    doc = analyze(read(DATA / "avnm" / "jagilber_vnet-flowlog-v4_avnm-rules.json"), _policy("192.168.0.0/16")).to_dict()
    agr = doc["agreement"]
    assert (doc["reconciliation"]["tuples_read"], agr["agree"], agr["disagree"], agr["rule_not_comparable"]) == (7, 7, 0, 0)
    assert {r["rule"]: r["flows"] for r in doc["admin_rules"]} == {"BlockHighRiskTCPPortsFromInternet": 1, "Internet": 5}


def test_a_wrong_admin_rule_is_a_rule_disagreement_and_without_admin_rules_they_are_not_comparable():
    # without the high-risk rule, the Internet rule takes every inbound flow: 2 (docs) rule disagreements
    doc = analyze(read(DATA / "avnm" / "docs_vnet-flowlog-v4_avnm-rule.json"), _policy("10.0.0.0/16", ADMIN[1:])).to_dict()
    assert (doc["agreement"]["rule_disagree"], doc["agreement"]["decision_disagree"]) == (2, 0)
    doc = analyze(read(DATA / "avnm" / "docs_vnet-flowlog-v4_avnm-rule.json"), _policy("10.0.0.0/16", None)).to_dict()
    assert doc["agreement"]["rule_not_comparable"] == 9 and doc["admin_rules"] == []


def test_platform_and_unspecified_stay_not_comparable_with_admin_rules(tmp_path):
    doc = json.loads((DATA / "avnm" / "docs_vnet-flowlog-v4_avnm-rule.json").read_text())
    groups = doc["records"][0]["flowRecords"]["flows"][1]["flowGroups"]
    groups[0]["rule"], groups[1]["rule"] = "PlatformRule", "unspecified"
    f = tmp_path / "renamed.json"
    f.write_text(json.dumps(doc))
    rep = analyze(read(f), _policy("10.0.0.0/16")).to_dict()["agreement"]
    assert (rep["rule_not_comparable"], rep["agree"], rep["disagree"]) == (9, 19, 0)


def test_generated_avnm_hours_agree_on_every_tuple_through_the_cli(tmp_path, capsys):
    root = write_avnm_demo(tmp_path / "demo")
    out = tmp_path / "v.parquet"
    html = tmp_path / "r.html"
    code = main(["analyze", str(root / "flowlogs-avnm"), "--nsg", str(root / "client-nsg.json"), "--admin-rules",
                 str(root / "avnm-admin-rules.json"), "--service-tags", "20240610", "--json", "--parquet", str(out),
                 "--html", str(html)])
    doc = json.loads(capsys.readouterr().out)
    agr = doc["agreement"]
    assert code == 0 and agr["disagree"] == 0 and agr["rule_not_comparable"] == 0 and agr["agree"] > 300
    admin_hits = {r["rule"]: r["flows"] for r in doc["admin_rules"]}
    assert admin_hits["AllowSecurityScanner"] > 0 and admin_hits["DenyHighRiskPortsFromInternet"] > 0
    # an Allow admin rule hands flows to the NSG: never the reported rule, but its matches are counted
    allow = next(r for r in doc["admin_rules"] if r["rule"] == "AllowDeviceUpdateOut")
    adu_443 = next(r for r in doc["rules"] if r["rule"] == "allow-adu-443")
    assert (allow["flows"], allow["matched"]) == (0, adu_443["flows"]) and allow["matched"] > 0
    assert not any("AllowDeviceUpdateOut" in u for u in doc["unused_rules"])
    deny = next(r for r in doc["admin_rules"] if r["rule"] == "DenyHighRiskPortsFromInternet")
    assert deny["matched"] == deny["flows"]
    t = pq.read_table(out)
    assert "AllowSecurityScanner" in set(t.column("computed_rule").to_pylist())
    assert "security admin" not in html.read_text() or "AllowSecurityScanner" in html.read_text()
    # the same logs without the admin rules: the scanner's flows are now denied by the NSG
    code = main(["analyze", str(root / "flowlogs-avnm"), "--nsg", str(root / "client-nsg.json"), "--service-tags", "20240610",
                 "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and doc["agreement"]["decision_disagree"] == admin_hits["AllowSecurityScanner"]

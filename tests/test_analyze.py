"""`adu-fw analyze` and adu_fw.analysis: reconciliation, agreement, hits, the JSON contract, outputs."""
from __future__ import annotations

import json

import pyarrow.parquet as pq

from adu_fw.analysis import TagMatcher, analyze
from adu_fw.cli import main
from adu_fw.demo import demo_dir
from adu_fw.flowlogs import read
from adu_fw.policy import Policy

from conftest import shared
from nsgkit import nsg, rule

APPNSG = nsg("APPNSG", rule("fe_rule", 100, protocol="Tcp", src="VirtualNetwork", dport="80"))


def test_real_v1_capture_agrees_with_a_matching_policy():
    """sampleOfInputV1: UserRule_fe_rule allows port 80 from inside the VNet; the Internet hits DenyAllInBound."""
    policy = Policy.from_nsg(APPNSG, virtual_network=["10.1.0.0/16"])
    report = analyze(read(shared("data", "flowlogs", "sampleOfInputV1.json")), policy)
    doc = report.to_dict()
    rec, agr = doc["reconciliation"], doc["agreement"]
    assert (rec["tuples_read"], rec["evaluated"], rec["rejected_total"], rec["reconciles"]) == (1187, 1187, 0, True)
    assert (agr["agree"], agr["disagree"]) == (1187, 0)
    hits = {r["rule"]: r["flows"] for r in doc["rules"]}
    assert hits["fe_rule"] == 1152 and hits["DenyAllInBound"] == 35
    assert "APPNSG/AllowVnetInBound (Inbound, 65000)" in doc["unused_rules"]


def test_a_wider_rule_shows_up_as_decision_disagreements():
    policy = Policy.from_nsg(nsg("APPNSG", rule("fe_rule", 100, protocol="Tcp", dport="80")), virtual_network=["10.1.0.0/16"])
    doc = analyze(read(shared("data", "flowlogs", "sampleOfInputV1.json")), policy).to_dict()
    agr = doc["agreement"]
    assert agr["disagree"] == agr["decision_disagree"] == 4
    ex = agr["examples"][0]
    assert (ex["logged_decision"], ex["computed_decision"], ex["logged_rule"], ex["computed_log_rule"]) == (
        "Deny", "Allow", "DefaultRule_DenyAllInBound", "UserRule_fe_rule")
    assert ex["source_file"].endswith("sampleOfInputV1.json") and ex["record_index"] >= 0


def test_rule_disagreement_and_not_comparable_rules(tmp_path):
    """Same decision, other rule: a rule disagreement. AVNM / platform names are not comparable."""
    doc = json.loads(open(shared("data", "flowlogs", "sampleJsonInput.json")).read())
    doc["records"][0]["properties"]["flows"][0]["rule"] = "UserRule_something-else"
    doc["records"][1]["properties"]["flows"][0]["rule"] = "PlatformRule"
    p = tmp_path / "f.json"
    p.write_text(json.dumps(doc))
    policy = Policy.from_nsg(nsg("WADVM-NSG"), virtual_network=["10.0.0.0/16"])
    agr = analyze(read(p), policy).to_dict()["agreement"]
    assert agr["rule_disagree"] > 0 and agr["decision_disagree"] == 0
    assert agr["rule_not_comparable"] > 0


def test_demo_scenario_report():
    policy = Policy.from_nsg(demo_dir() / "client-nsg.json", service_tags="20240610")
    doc = analyze(read(demo_dir() / "flowlogs"), policy).to_dict()
    rec, agr = doc["reconciliation"], doc["agreement"]
    assert rec["reconciles"] and rec["records_truncated"] == 1 and set(rec["versions"]) == {"1", "2", "4"}
    # only the IPv6 Device Update flows of the hour logged with the older tags disagree
    assert agr["disagree"] == agr["decision_disagree"] > 0
    assert all(e["dst_ip"].startswith("2603:") and e["logged_decision"] == "Deny" for e in agr["examples"])
    assert doc["tag"]["name"] == "AzureDeviceUpdate" and doc["tag"]["outbound_to_tag"]["allowed"] > 0
    assert doc["denied_by_port"][0]["flows"] >= doc["denied_by_port"][-1]["flows"]
    assert sum(p["allowed"] + p["denied"] for p in doc["timeline"]) == rec["evaluated"]


def test_tag_matcher():
    m = TagMatcher(["20.119.27.192/26", "2603:1030:210:11::200/122", "10.0.0.0/8", "10.1.0.0/16"])
    assert m.contains(["20.119.27.192", "20.119.27.255", "20.119.28.0", "2603:1030:210:11::201", "2603:1030:210:11::1",
                       "10.1.2.3", "11.0.0.0"]).tolist() == [True, True, False, True, False, True, False]


def test_cli_json_contract_outputs_and_exit_codes(tmp_path, capsys):
    flows = str(demo_dir() / "flowlogs")
    nsgf = str(demo_dir() / "client-nsg.json")
    code = main(["analyze", flows, "--nsg", nsgf, "--service-tags", "20240610", "--json", "--parquet", str(tmp_path / "t.parquet"), "--html", str(tmp_path / "r.html")])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1  # disagreements
    assert {"files", "records", "tuples_read", "rejected", "evaluated"} <= set(doc["reconciliation"])
    assert {"agree", "disagree", "examples"} <= set(doc["agreement"])
    assert pq.read_table(tmp_path / "t.parquet").num_rows == doc["reconciliation"]["evaluated"] + sum(
        v for k, v in doc["reconciliation"]["rejected"].items() if k.startswith("evaluation"))
    html = (tmp_path / "r.html").read_text()
    assert "<svg" in html and "Reconciliation" in html and "reconciles" in html
    code = main(["analyze", flows, "--nsg", nsgf, "--service-tags", "20240603", "--until", "2024-06-10", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["agreement"]["disagree"] == 0 and doc["reconciliation"]["files"] == 1
    code = main(["analyze", str(tmp_path / "missing"), "--nsg", nsgf])
    assert code == 2 and "no such file" in capsys.readouterr().err
    code = main(["analyze", flows, "--nsg", nsgf, "--since", "yesterday"])
    assert code == 2 and "--since expects an ISO date" in capsys.readouterr().err

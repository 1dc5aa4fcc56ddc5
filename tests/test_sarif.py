"""SARIF 2.1.0 from lint, lint --deep and exposure: valid against the official schema, results in place."""
from __future__ import annotations

import json

import jsonschema
import pytest

from adu_fw.cli import main
from adu_fw.demo import demo_dir
from adu_fw.jsonpos import load_located, read_json
from adu_fw.sarif import RULES, Locator

from conftest import DATA, shared
from nsgkit import nsg, rule

TAGS = "20240610"
SCHEMA = json.loads((DATA / "sarif" / "sarif-schema-2.1.0.json").read_text())
VALIDATOR = jsonschema.Draft4Validator(SCHEMA)


def valid(log):
    errors = sorted(VALIDATOR.iter_errors(log), key=str)
    assert not errors, errors[0]
    return log["runs"][0]


def run_json(capsys, *argv):
    code = main(list(argv))
    return code, json.loads(capsys.readouterr().out)


JSONC = '\ufeff' + """{
  // an NSG written by hand, with comments
  "name": "web-nsg", /* block
  comment */ "properties": {"securityRules": [
    {"name": "url-in-description", "properties": {"description": "see http://example.com/* not a comment",
      "priority": 100, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
      "sourceAddressPrefix": "*", "sourcePortRange": "*", "destinationAddressPrefix": "*", "destinationPortRange": "22"}},
        {"name": "second", "properties": {"priority": 110, "direction": "Inbound", "access": "Deny", "protocol": "*",
      "sourceAddressPrefix": "*", "sourcePortRange": "*", "destinationAddressPrefix": "*", "destinationPortRange": "*"}}
  ]}
}
"""


def test_positions_survive_a_bom_and_comments(tmp_path):
    f = tmp_path / "nsg.jsonc"
    f.write_text(JSONC, encoding="utf-8")
    doc = load_located(f)
    assert doc.value["properties"]["securityRules"][0]["properties"]["description"].endswith("/* not a comment")
    assert read_json(f) == doc.value
    assert doc.position(("properties", "securityRules", 0)) == (5, 5)
    assert doc.position(("properties", "securityRules", 1)) == (8, 9)
    loc = Locator()
    assert loc.locate(str(f), "web-nsg", "second")[:2] == (8, 9)
    assert loc.locate(str(f), "web-nsg")[:2] == (1, 1)


def test_lint_sarif_places_each_problem_on_its_rule(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"resources": [
        {"type": "Microsoft.Network/networkSecurityGroups", "name": "n1", "properties": {"securityRules": [
            rule("ok", 100), rule("bad-port", 110, dport="70000"), rule("dup", 110), rule("bad prefix", 120, src="10.0.0.300")]}}]},
        indent=2))
    code, log = run_json(capsys, "lint", str(bad), "--format", "sarif", "--service-tags", TAGS)
    assert code == 1
    run = valid(log)
    lines = bad.read_text().splitlines()
    got = {}
    for r in run["results"]:
        region = r["locations"][0]["physicalLocation"]["region"]
        line = lines[region["startLine"] - 1]
        assert line[region["startColumn"] - 1] == "{"
        got.setdefault(r["ruleId"], set()).add(region["startLine"])
        assert run["tool"]["driver"]["rules"][r["ruleIndex"]]["id"] == r["ruleId"]
        assert r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith("bad.json")
    assert set(got) == {"ADUFW-L001", "ADUFW-L002", "ADUFW-L003", "ADUFW-L004"}
    for d in run["tool"]["driver"]["rules"]:
        assert d["help"]["text"] and d["defaultConfiguration"]["level"] in ("error", "warning", "note")


def test_lint_deep_sarif(capsys):
    code, log = run_json(capsys, "lint", "--deep", str(demo_dir() / "client-nsg.json"), "--format", "sarif",
                         "--service-tags", TAGS)
    run = valid(log)
    assert code == 1
    assert {r["ruleId"] for r in run["results"]} == {"ADUFW-D001", "ADUFW-D003"}
    gen = next(r for r in run["results"] if r["ruleId"] == "ADUFW-D003")
    assert gen["relatedLocations"] and gen["properties"]["witness"]["direction"] == "Outbound"
    assert "region" in gen["locations"][0]["physicalLocation"]


def test_exposure_sarif_for_a_template_and_a_plan(tmp_path, capsys):
    f = tmp_path / "nsg.json"
    f.write_text(json.dumps(nsg("web", rule("https", 100, protocol="Tcp", src="Internet", dport="443"),
                                rule("ssh", 110, protocol="Tcp", src="Internet", dport="22")), indent=1))
    code, log = run_json(capsys, "exposure", "--nsg", str(f), "--vnet", "10.0.0.0/16", "--format", "sarif",
                         "--service-tags", TAGS)
    run = valid(log)
    assert code == 1
    assert sorted((r["ruleId"], r["level"]) for r in run["results"]) == [("ADUFW-E001", "error"), ("ADUFW-E002", "warning")]
    for r in run["results"]:
        line = f.read_text().splitlines()[r["locations"][0]["physicalLocation"]["region"]["startLine"] - 1]
        assert r["properties"]["exposure"]["rule"] in f.read_text()  # the rule object is on or near that line
        assert "{" in line
    plan = str(shared("data", "terraform", "zodiac_appgw_privateendpoint_plan.json"))
    code, log = run_json(capsys, "exposure", "--terraform-plan", plan + ":nic-vmfrontend", "--format", "sarif",
                         "--service-tags", TAGS)
    run = valid(log)
    (r,) = run["results"]
    logical = r["locations"][0]["logicalLocations"][0]
    assert logical == {"fullyQualifiedName": "module.webserver.azurerm_network_security_rule.nsg-rule", "kind": "resource"}
    assert r["locations"][0]["physicalLocation"]["region"]["startLine"] == 1  # the plan is one minified line


def test_every_descriptor_is_used_somewhere_in_the_code():
    assert len(RULES) == len({r["name"] for r in RULES.values()})


@pytest.mark.parametrize("name", ["checkov_3.2.495_terraform.sarif", "checkov_3.3.8_terraform.sarif"])
def test_the_schema_accepts_real_logs_of_another_tool(name):
    valid(json.loads(shared("data", "sarif", name).read_text()))

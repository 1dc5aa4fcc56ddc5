"""`adu-fw check` and `adu-fw lint`: options, output, exit codes."""
from __future__ import annotations

import json

from adu_fw.cli import main

from conftest import shared
from nsgkit import nsg, rule

HUB = ("data", "nsg", "azfw-dns-proxy-hub-spoke_azuredeploy.json")


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def write(tmp_path, name, doc):
    p = tmp_path / name
    p.write_text(json.dumps(doc))
    return p


FLOW = ["--direction", "outbound", "--protocol", "tcp", "--src", "10.0.0.4", "--src-port", "60000", "--dst-port", "80"]


def test_check_documented_ipfv_results_as_json(capsys, tmp_path):
    f = write(tmp_path, "default.json", nsg("default-nsg"))
    code, out, _ = run(capsys, "check", "--nsg", f, "--vnet", "10.0.0.0/16", *FLOW, "--dst", "13.107.21.200", "--json")
    doc = json.loads(out)
    assert code == 0
    assert (doc["access"], doc["rule"], doc["priority"], doc["nsg"]) == ("Allow", "AllowInternetOutBound", 65001, "default-nsg")
    assert doc["trail"][0]["rules"][-1]["rule"] == "AllowInternetOutBound"
    code, out, _ = run(capsys, "check", "--nsg", f, "--vnet", "10.0.0.0/16", *FLOW, "--dst", "172.31.0.100", "--json")
    assert code == 0 and json.loads(out)["rule"] == "DenyAllOutBound"  # exit 0 whatever the verdict


def test_check_text_and_explain(capsys):
    ref = f"{shared(*HUB)}:HubVnetAzureBastionSubnetNsg"
    code, out, _ = run(
        capsys, "check", "--nsg", ref, "--direction", "inbound", "--protocol", "tcp",
        "--src", "8.8.8.8", "--src-port", "1", "--dst", "192.168.1.4", "--dst-port", "22", "--explain",
    )
    assert code == 0
    assert out.startswith("Deny: rule DenyAllInBound (priority 1000) in NSG HubVnetAzureBastionSubnetNsg")
    assert "AllowHttpsInBound" in out and "MATCH" in out


def test_check_subnet_and_nic_pair_with_asg(capsys, tmp_path):
    asg_rule = rule("web", 100, dport="443", protocol="Tcp")
    del asg_rule["properties"]["destinationAddressPrefix"]
    asg_rule["properties"]["destinationApplicationSecurityGroups"] = [{"id": "/x/applicationSecurityGroups/AsgWeb"}]
    sub = write(tmp_path, "subnet.json", nsg("subnet-nsg", rule("allow-443", 100, dport="443")))
    nic = write(tmp_path, "nic.json", nsg("nic-nsg", asg_rule))
    args = ["check", "--subnet-nsg", sub, "--nic-nsg", nic, "--vnet", "10.0.0.0/16", "--asg", "AsgWeb=10.0.0.4",
            "--direction", "inbound", "--protocol", "tcp", "--src", "8.8.8.8", "--src-port", "1", "--dst-port", "443", "--json"]
    code, out, _ = run(capsys, *args, "--dst", "10.0.0.4")
    doc = json.loads(out)
    assert (doc["access"], doc["rule"], doc["nsg"]) == ("Allow", "web", "nic-nsg")
    assert [t["level"] for t in doc["trail"]] == ["subnet", "nic"]
    code, out, _ = run(capsys, *args, "--dst", "10.0.0.5")
    assert json.loads(out)["rule"] == "DenyAllInBound"


def test_check_input_errors_exit_2(capsys, tmp_path):
    f = write(tmp_path, "n.json", nsg("n"))
    code, _, err = run(capsys, "check", "--nsg", f, *FLOW, "--dst", "1.1.1.1")
    assert code == 2 and "--vnet" in err
    code, _, err = run(capsys, "check", "--nsg", f, "--vnet", "10.0.0.0/16", *FLOW, "--dst", "1.1.1")
    assert code == 2 and "not an IPv4 or IPv6 address: '1.1.1'" in err
    code, _, err = run(capsys, "check", *FLOW, "--dst", "1.1.1.1")
    assert code == 2 and "no policy" in err
    code, _, err = run(capsys, "check", "--nsg", tmp_path / "missing.json", "--vnet", "10.0.0.0/16", *FLOW, "--dst", "1.1.1.1")
    assert code == 2 and "cannot read the file" in err


def test_lint_real_templates_are_clean(capsys):
    code, out, _ = run(capsys, "lint", shared(*HUB), shared("data", "nsg", "netsec-demo-lab_vNets.json"))
    assert code == 0 and out.rstrip().endswith("0 problem(s)")


def test_lint_lists_every_problem_and_exits_1(capsys, tmp_path):
    bad = write(tmp_path, "bad.json", nsg("bad-nsg",
        rule("a", 50), rule("b", 100, src="10.0.0.0/33"), rule("c", 100), rule("d", 200, dst="NoSuchTag")))
    code, out, _ = run(capsys, "lint", bad, "--json")
    doc = json.loads(out)
    assert code == 1 and doc["problems"] == 4
    fields = sorted(p["field"] for p in doc["files"][0]["nsgs"][0]["problems"])
    assert fields == ["destinationAddressPrefix", "priority", "priority", "sourceAddressPrefix"]
    code, out, _ = run(capsys, "lint", bad)
    assert code == 1 and "unknown service tag 'NoSuchTag'" in out and "4 problem(s)" in out

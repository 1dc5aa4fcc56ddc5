"""The whole real corpus (../shared/data/arm-corpus, PROVENANCE there): every document is read, or
refused naming the parameter, function or option that is missing; the answers the documents write
down come out; and no command crashes on any of them. Skips cleanly without ../shared."""
from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest

from adu_fw import PolicyError
from adu_fw.arm import load_parameters_file
from adu_fw.cli import main
from adu_fw.firewall import FirewallPolicy
from adu_fw.nsg import load_nsg, read_nsgs
from adu_fw.policy import Policy

from conftest import SHARED, shared

CORPUS = SHARED / "data" / "arm-corpus"
TAGS = "20240610"
#: the parameter files the documents' repositories ship (raw/)
RAW = {"carml-nsg-deploy.json": "carml-nsg-test-parameters.json",
       "docs-multiplesecurityrules.json": "multiplesecurityrules.parameters.json"}
#: a reason a user can act on: the parameter, option or function that is missing, or the choice to make
REASON = re.compile(r"parameter '[^']+'|--location|--reference|--ip-group|--asg|--vnet|FILE:(NAME|NSGNAME|#N)|"
                    r"\w+\(\) is not evaluated offline|unknown service tag")


def _names(kind: str) -> list[str]:
    folder = CORPUS / kind
    return sorted(p.name for p in folder.glob("*.json")) if folder.is_dir() else ["(../shared absent)"]


def _params(name: str) -> dict:
    return load_parameters_file(str(shared("data", "arm-corpus", "raw", RAW[name]))) if name in RAW else {}


@pytest.mark.parametrize("name", _names("nsg"))
def test_every_nsg_document_is_read_or_refused_for_a_reason(name):
    path = shared("data", "arm-corpus", "nsg", name)
    for params in ([{}, _params(name)] if name in RAW else [{}]):
        try:
            nsgs = read_nsgs(path, params=params)
        except PolicyError as exc:
            assert REASON.search(str(exc)), str(exc)
            continue
        assert nsgs, name
        for p in nsgs.problems:
            assert REASON.search(str(p)) or "not fetched" in str(p), str(p)
        for n in nsgs:
            for e in n.errors:
                assert REASON.search(str(e)), str(e)
            for u in n.unread:
                assert "--reference" in u.reason


def test_what_the_corpus_needed_is_read():
    def nsgs(name, **kw):
        return read_nsgs(shared("data", "arm-corpus", "nsg", name), **kw)

    # comments (// and /* */) and multi-line strings
    assert [len(n.rules) for n in nsgs("aksb-hub-regionA-comments.json")] == [11]
    assert sum(len(n.rules) for n in nsgs("aksr-spoke-A0005-01-comments.json")) == 20
    # nested inline deployments
    assert [(n.aliases, len(n.rules), n.errors) for n in nsgs("eslz-bastion.json")] == [(["nsgName"], 10, [])]
    assert [len(n.rules) for n in nsgs("eslz-private-dns-resolver.json")] == [8, 8]
    # languageVersion 2.0, symbolic names, every AVM module
    avm = nsgs("avm-res-nsg-module.json")
    assert avm[0].aliases[0] == "networkSecurityGroup" and "parameter securityRules" in avm[0].warnings[-1]
    assert [len(n.rules) for n in nsgs("avm-ptn-iaas-vm-cosmosdb.json")] == [2, 1, 1, 1, 8]
    rules = json.loads(shared("data", "arm-corpus", "nsg", "carml-nsg-test-rules-list.json").read_text())
    v2 = nsgs("carml-nsg-main-v2.json", params={"name": "n", "securityRules": rules})
    assert [r.name for r in v2[0].rules] == ["Specific", "Ranges", "Port_8082"]
    # variable copy loops, with the parameters file its repository ships
    assert [r.name for r in nsgs("docs-multiplesecurityrules.json", params=_params("docs-multiplesecurityrules.json"))[0].rules] \
        == ["RDPAllow", "HTTPAllow"]
    assert "parameter 'securityRules'" in str(nsgs("docs-multiplesecurityrules.json")[0].errors[0])
    # lazy variables: a member needing coalesce()/resourceGroup() or a missing parameter does not sink a literal sibling
    assert [(len(n.rules), n.errors) for n in nsgs("bicep-vm-windows-cse.json")] == [(1, [])]
    assert [(len(n.rules), n.errors) for n in nsgs("as-eth-consortium-leader.json")] == [(3, []), (6, [])]
    # a child rule named by an expression is resolved before it is split at '/'
    child = nsgs("carml-security-rule-child.json", params={
        "networkSecurityGroupName": "nsg1", "name": "r1", "priority": 100, "direction": "Inbound", "access": "Allow",
        "protocol": "Tcp", "sourceAddressPrefix": "*", "destinationAddressPrefix": "*", "sourcePortRange": "*",
        "destinationPortRange": "443"})
    assert [(n.name, [r.name for r in n.rules]) for n in child] == [("nsg1", ["r1"])]
    assert "parameter 'networkSecurityGroupName'" in str(nsgs("carml-security-rule-child.json")[0].errors[0])
    # Mission LZ: three NSGs in modules three deployments deep, whose rules come from (empty) parameters
    mlz = nsgs("mlz-main.json")
    assert len(mlz) == 3 and all("NetworkSecurityGroupRules, not given" in n.warnings[-1] for n in mlz)
    # resource copy loops on NSGs whose count needs a parameter: refused, naming it
    with pytest.raises(PolicyError, match="parameter 'regionCount'"):
        nsgs("as-eth-poa-network-resources.json")
    ok = nsgs("as-eth-poa-network-resources.json", params={"regionCount": 2, "ethRpcPort": 8545, "vnetSettings": [
        {"vlNsgName": "nsg-a"}, {"vlNsgName": "nsg-b"}]})
    assert [n.name for n in ok][:2] == ["nsg-a", "nsg-b"]


def test_specific_allows_tcp_8080():
    """CARML's test parameters: rule Specific allows TCP 8080 (the copy loop inside properties)."""
    path = shared("data", "arm-corpus", "nsg", "carml-nsg-deploy.json")
    policy = Policy.from_nsg(path, params=_params("carml-nsg-deploy.json"), virtual_network=["10.0.0.0/16"], service_tags=TAGS,
                             asgs={"adp-<<namePrefix>>-az-asg-x-001": []})
    v = policy.check("Inbound", "tcp", "192.0.2.10", 50000, "10.0.0.4", 8080)
    assert (v.access, v.rule, v.priority) == ("Allow", "Specific", 100)
    assert policy.check("Inbound", "tcp", "192.0.2.10", 50000, "10.0.0.4", 8081).access == "Deny"
    same = Policy.from_nsg(shared("data", "arm-corpus", "nsg", "carml-nsg-test-rules-list.json"), virtual_network=["10.0.0.0/16"],
                           service_tags=TAGS, asgs={"adp-<<namePrefix>>-az-asg-x-001": []})
    assert same.check("Inbound", "tcp", "192.0.2.10", 50000, "10.0.0.4", 8080).rule == "Specific"


@pytest.fixture(scope="module")
def juice_shop():
    return FirewallPolicy.load(shared("data", "arm-corpus", "firewall", "fw-ans-juice-shop-rulegroups2019.json"), service_tags=TAGS)


def test_kali_http_and_smb_in_the_2019_rule_groups(juice_shop):
    hosts = ("10.0.27.68", "10.0.28.4", "10.0.27.4")  # NIC-Name2 (Kali), NIC-Name3, NIC-Name1
    for s in hosts:
        for d in hosts:
            if s != d:
                v = juice_shop.check("tcp", s, 50000, d, 445)
                assert (v.access, v.rule, v.collection) == ("Allow", "SMB", "IntraVNETandHTTPOutAccess")
    v = juice_shop.check("tcp", "10.0.27.68", 50000, "93.184.216.34", 80)
    assert (v.access, v.rule) == ("Allow", "Kali-HTTP")
    assert juice_shop.check("tcp", "10.0.27.4", 50000, "93.184.216.34", 80).access == "Deny"
    assert juice_shop.check("tcp", "10.0.27.69", 50000, "10.0.28.4", 445).access == "Deny"
    # its DNAT rules need the firewall's public IP: set aside and named, the rest read
    assert {r.name for r in juice_shop.unread} == {"DNATRule", "SSH-DNATRule"} and len(juice_shop.unread) == 5
    assert all("--reference SOCNSFWPIP.IpAddress=VALUE" in n for n in juice_shop.notes if "not read" in n)


def test_reference_values_answer_the_dnat_rules():
    fw = FirewallPolicy.load(shared("data", "arm-corpus", "firewall", "fw-ans-private-ip-dnat.json"), name="fp-azfw-hub-vnet-1",
                             service_tags=TAGS, deployment={"references": {"pip-1-azfw-hub-vnet-1.ipAddress": "20.10.0.1"}})
    assert not fw.unread
    v = fw.check("tcp", "203.0.113.5", 40000, "20.10.0.1", 53389)
    assert (v.access, v.kind, v.rule, v.translated) == ("Allow", "nat", "ToVM1-Rdp", "192.168.0.4:3389")
    with pytest.raises(PolicyError, match="holds 2 firewall policies.*FILE:NAME"):
        FirewallPolicy.load(shared("data", "arm-corpus", "firewall", "fw-ans-private-ip-dnat.json"), service_tags=TAGS)


@pytest.mark.parametrize("name", _names("firewall"))
def test_every_firewall_document_is_read_or_refused_for_a_reason(name):
    path = shared("data", "arm-corpus", "firewall", name)
    try:
        fw = FirewallPolicy.load(path, service_tags=TAGS)
    except PolicyError as exc:
        assert REASON.search(str(exc)), str(exc)
        return
    for r in fw.rules:
        assert r.action in ("Allow", "Deny", "Dnat", "unknown")
    for u in fw.unread:
        assert "--reference" in u.skipped or "--ip-group" in u.skipped, u.skipped


def _run(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, err.getvalue()


@pytest.mark.slow
def test_no_command_crashes_on_any_corpus_document(tmp_path):
    shared("data", "arm-corpus")
    flows = tmp_path / "flows.csv"
    flows.write_text("direction,protocol,src_ip,src_port,dst_ip,dst_port\nInbound,tcp,10.1.2.3,50000,10.0.0.4,443\n"
                     "Outbound,udp,10.0.0.4,50000,168.63.129.16,53\nInbound,tcp,2001:db8::1,1,2001:db8::2,22\n")
    for name in _names("nsg"):
        f = str(CORPUS / "nsg" / name)
        extra = ["--parameters", str(CORPUS / "raw" / RAW[name])] if name in RAW else []
        runs = [["lint", f, *extra], ["lint", f, "--deep", "--vnet", "10.0.0.0/8", *extra],
                ["check", "--nsg", f + ":#1", "--vnet", "10.0.0.0/8", "--direction", "inbound", "--protocol", "tcp",
                 "--src", "10.1.2.3", "--dst", "10.0.0.4", "--dst-port", "443", *extra],
                ["evaluate", "--nsg", f + ":#1", "--vnet", "10.0.0.0/8", "--flows", str(flows), "--out", str(tmp_path / "o.parquet"), *extra]]
        for argv in runs:
            code, err = _run(argv + ["--service-tags", TAGS])
            assert code in (0, 1, 2), (argv, code)
            if code == 2:
                assert REASON.search(err), (argv, err)
    for name in _names("firewall"):
        f = str(CORPUS / "firewall" / name)
        for argv in (["check", "--firewall-policy", f, "--protocol", "tcp", "--src", "10.1.2.3", "--dst", "10.0.0.4",
                      "--dst-port", "443", "--json"],
                     ["evaluate", "--firewall-policy", f, "--flows", str(flows), "--out", str(tmp_path / "o.csv")]):
            code, err = _run(argv + ["--service-tags", TAGS])
            assert code in (0, 1, 2), (argv, code)
            if code == 2:
                assert REASON.search(err), (argv, err)


def test_check_json_verdicts_use_azures_casing(capsys):
    """The classic firewall writes action "allow" in lower case; verdicts are always Allow/Deny."""
    f = str(shared("data", "arm-corpus", "firewall", "fw-ase-firewall-classic.json"))
    code = main(["check", "--firewall-policy", f, "--protocol", "udp", "--src", "10.0.0.4", "--src-port", "5", "--dst", "20.1.1.1",
                 "--dst-port", "123", "--service-tags", TAGS, "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and (doc["access"], doc["rule"]) == ("Allow", "NTP")
    for name in _names("firewall"):
        try:
            fw = FirewallPolicy.load(CORPUS / "firewall" / name, service_tags=TAGS)
        except PolicyError:
            continue
        assert fw.check("tcp", "10.0.0.4", 1, "10.0.1.4", 443).access in ("Allow", "Deny")


def test_an_unresolved_nsg_name_is_chosen_without_quoting():
    path = shared("data", "arm-corpus", "nsg", "aksb-spoke-A0008.json")
    assert load_nsg(f"{path}:nsg-clusterVNetName-appgw").raw_name == "[concat('nsg-', variables('clusterVNetName'), '-appgw')]"
    assert load_nsg(str(shared("data", "arm-corpus", "nsg", "avm-ptn-iaas-vm-cosmosdb.json")) + ":#5").path.startswith(
        "deployment bastionNsg")
    with pytest.raises(PolicyError, match="5 NSGs answer to 'networkSecurityGroup'.*FILE:#N"):
        load_nsg(str(shared("data", "arm-corpus", "nsg", "avm-ptn-iaas-vm-cosmosdb.json")) + ":networkSecurityGroup")
    assert Path(path).exists()


def test_lint_deep_writes_ipv6_witnesses_in_brackets(capsys):
    f = str(shared("data", "arm-corpus", "nsg", "qs-ipv6-in-vnet-stdlb.json"))
    code = main(["lint", f, "--deep", "--vnet", "10.0.0.0/16", "--vnet", "ace:cab:deca::/48", "--service-tags", TAGS])
    out = capsys.readouterr().out
    assert code == 1
    assert re.search(r"for example Outbound tcp \[ace:cab:deca:deed::\]:\d+ -> \[cab:cab:1111:2222::\]:5000", out), out
    assert re.search(r"10\.0\.0\.0:0 -> 10\.0\.0\.0:0", out)  # IPv4 stays addr:port

"""Bicep/AVM-shaped templates, one per evaluator feature, against the same rules written plainly.

Each fixture in tests/data/arm/ (README there) defines allow-443, allow-22 (from 10.0.0.0/8) and
deny-3389; reading it must give exactly the plain NSG's rules and the same verdicts.
"""
from __future__ import annotations

import json

import pytest

from adu_fw import PolicyError
from adu_fw.arm import Deployment
from adu_fw.cli import main
from adu_fw.firewall import FirewallPolicy
from adu_fw.nsg import load_nsg, read_nsgs
from adu_fw.policy import Policy

from conftest import DATA
from nsgkit import nsg, rule

ARM = DATA / "arm"
TAGS = "20240610"
PLAIN = nsg("web-nsg",
            rule("allow-443", 100, protocol="Tcp", dport="443"),
            rule("allow-22", 110, protocol="Tcp", src="10.0.0.0/8", dport="22"),
            rule("deny-3389", 120, protocol="Tcp", access="Deny", dport="3389"))
FLOWS = [("Inbound", "tcp", src, 50000, "10.1.0.4", port)
         for src in ("8.8.8.8", "10.2.3.4", "192.168.0.9") for port in (22, 80, 443, 3389)]


def _shape(n):
    return sorted((r.name, r.priority, r.direction, r.access, r.protocol, r.source, r.source_ports, r.destination,
                   r.destination_ports) for r in n.rules)


def _verdicts(n):
    p = Policy.from_nsg(n, virtual_network=["10.1.0.0/16"], service_tags=TAGS)
    return [(v.access, v.rule) for v in (p.check(*f) for f in FLOWS)]


@pytest.fixture(scope="module")
def plain():
    return load_nsg(PLAIN)


def _same(n, plain):
    assert not n.errors and not n.unread, [str(e) for e in n.errors]
    assert _shape(n) == _shape(plain)
    assert _verdicts(n) == _verdicts(plain)


@pytest.mark.parametrize("fixture", ["nested-inner", "nested-outer", "symbolic", "udf", "lazy", "comments"])
def test_each_feature_reads_the_plain_rules(fixture, plain):
    nsgs = read_nsgs(ARM / f"{fixture}.json")
    assert len(nsgs) == 1 and not nsgs.problems
    _same(nsgs[0], plain)
    assert nsgs[0].name == "web-nsg"


def test_every_copy_form_reads_the_plain_rules(plain):
    nsgs = read_nsgs(ARM / "copy-forms.json")
    assert [n.name for n in nsgs] == ["variable-copy", "property-copy", "resource-copy-1", "resource-copy-2",
                                      "module-copy-0", "module-copy-1"]
    for n in nsgs:
        _same(n, plain)
    # the counts follow the parameters: one rule and no resource-copy NSG
    one = read_nsgs(ARM / "copy-forms.json", params={"rules": [{"port": 22, "src": "*", "access": "Deny"}], "nsgCount": 0})
    assert [(n.name, [r.name for r in n.rules]) for n in one] == [
        ("variable-copy", ["deny-22"]), ("property-copy", ["deny-22"]), ("module-copy-0", ["deny-22"]),
        ("module-copy-1", ["deny-22"])]


def test_a_copied_rule_that_cannot_be_built_names_its_field_and_why():
    nsgs = read_nsgs(ARM / "copy-forms.json", params={"rules": [{"port": 22, "access": "Deny"}], "nsgCount": 0})
    bad = nsgs[0]
    assert [str(e).split(": ", 1)[1] for e in bad.errors] == [
        "NSG 'variable-copy' rule 'deny-22': field 'sourceAddressPrefix': cannot be resolved offline: property 'src' not "
        "found (the object has 'port', 'access')"]


def test_nested_inner_scope_sees_its_own_variables_and_the_parameters_passed():
    n = read_nsgs(ARM / "nested-inner.json", params={"prefix": "api"})[0]
    assert n.name == "api-nsg" and "deployment nsg-module-api" in n.path
    assert n.rule("allow-22").source.prefixes == ("10.0.0.0/8",)  # the inner 'src', not the outer one


def test_symbolic_names_existing_resources_and_nullable_parameters():
    nsgs = read_nsgs(ARM / "symbolic.json", params={"extraRule": {"port": "8443"}})
    assert nsgs[0].rule("allow-443").destination_ports == ((8443, 8443),)
    # the NSG is selectable by its symbolic name; a child rule named by an expression is resolved before the split
    assert load_nsg(str(ARM / "symbolic.json") + ":nsg").rule("deny-3389").access == "Deny"
    renamed = read_nsgs(ARM / "symbolic.json", params={"nsgName": "other"})
    assert [n.name for n in renamed] == ["other"] and len(renamed[0].rules) == 3


def test_lazy_members_the_rule_does_not_use_never_sink_it():
    n = read_nsgs(ARM / "lazy.json")[0]
    assert [r.name for r in n.rules] == ["allow-443", "allow-22", "deny-3389"]
    # the untaken if() branch calls reference(); taking it (suffix given) needs --reference
    n = read_nsgs(ARM / "lazy.json", params={"suffix": "x"})[0]
    assert [u.name for u in n.unread] == ["allow-22"] and "--reference mgmt-pip.ipAddress=VALUE" in n.unread[0].reason
    n = read_nsgs(ARM / "lazy.json", params={"suffix": "x"}, deployment=Deployment(references={"mgmt-pip.ipAddress": "203.0.113.7"}))[0]
    assert n.rule("allow-22").source.prefixes == ("203.0.113.7",)


def test_deployment_context_stand_ins_and_given_values():
    nsgs = read_nsgs(ARM / "deployment-context.json")
    n = nsgs[0]
    # the name uses the stand-in resource group (said so); uniqueString is Azure's own hash
    assert n.name.startswith("rg-offline-nsg-") and any("--resource-group" in w for w in n.warnings)
    # the location has no stand-in: the regional tag is refused naming --location; reference() is set aside
    assert any("--location" in str(e) for e in n.errors)
    assert [u.name for u in n.unread] == ["allow-bastion-ssh"] and "--reference bastion-pip.ipAddress=VALUE" in n.unread[0].reason
    dep = Deployment(resource_group="prod", location="westeurope", subscription_id="11111111-2222-3333-4444-555555555555",
                     references={"bastion-pip.ipAddress": "20.50.0.4"})
    n = read_nsgs(ARM / "deployment-context.json", deployment=dep)[0]
    assert not n.errors and not n.unread and not n.warnings
    assert n.name == "prod-nsg-" + __import__("adu_fw.arm", fromlist=["unique_string"]).unique_string(
        "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/prod")
    assert n.rule("allow-regional-storage").destination.tag == "Storage.westeurope"
    p = Policy.from_nsg(n, virtual_network=["10.0.0.0/16"], service_tags=TAGS)
    assert p.check("Inbound", "tcp", "20.50.0.4", 1, "10.0.0.4", 22).rule == "allow-bastion-ssh"
    assert p.check("Inbound", "tcp", "20.50.0.5", 1, "10.0.0.4", 22).rule == "deny-ssh"


def test_the_cli_takes_the_deployment_options(capsys):
    f = str(ARM / "deployment-context.json")
    code = main(["check", "--nsg", f, "--vnet", "10.0.0.0/16", "--direction", "inbound", "--protocol", "tcp", "--src", "20.50.0.4",
                 "--dst", "10.0.0.4", "--dst-port", "22", "--service-tags", TAGS, "--resource-group", "prod", "--location", "westeurope",
                 "--reference", "bastion-pip.ipAddress=20.50.0.4", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and (doc["access"], doc["rule"], doc["notes"]) == ("Allow", "allow-bastion-ssh", [])
    assert main(["check", "--nsg", f, "--vnet", "10.0.0.0/16", "--direction", "inbound", "--protocol", "tcp", "--src", "1.1.1.1",
                 "--dst", "10.0.0.4", "--dst-port", "22", "--service-tags", TAGS]) == 2
    assert "--location" in capsys.readouterr().err
    # lint never says ok for a rule it did not read
    code = main(["lint", f, "--location", "westeurope", "--service-tags", TAGS])
    out = capsys.readouterr().out
    assert code == 1 and "not read" in out and "--reference bastion-pip.ipAddress=VALUE" in out


def test_parameters_file_and_param_precedence(tmp_path, capsys):
    pf = tmp_path / "p.json"
    pf.write_text(json.dumps({"$schema": "x", "contentVersion": "1.0.0.0", "parameters": {"prefix": {"value": "file"}}}))
    code = main(["lint", str(ARM / "nested-inner.json"), "--parameters", str(pf), "--service-tags", TAGS, "--json"])
    assert code == 0 and json.loads(capsys.readouterr().out)["files"][0]["nsgs"][0]["name"] == "file-nsg"
    code = main(["lint", str(ARM / "nested-inner.json"), "--parameters", str(pf), "--param", "prefix=cli", "--service-tags", TAGS, "--json"])
    assert code == 0 and json.loads(capsys.readouterr().out)["files"][0]["nsgs"][0]["name"] == "cli-nsg"


def test_firewall_rule_groups_2019():
    fw = FirewallPolicy.load(ARM / "firewall-rulegroups-2019.json", service_tags=TAGS)
    assert fw.name == "fw-policy-2019"
    assert [(r.kind, r.collection, r.name, r.action) for r in fw.rules if not r.unread] == [
        ("network", "east-west", "smb", "Allow"), ("network", "east-west", "web-http", "Allow"),
        ("network", "block", "no-rdp", "Deny"), ("application", "web-out", "updates", "Allow")]
    assert [r.name for r in fw.unread] == ["to-jump"] and "--reference fw-pip.ipAddress=VALUE" in fw.notes[0]
    v = fw.check("tcp", "10.0.1.4", 5000, "10.0.2.4", 445)
    assert (v.access, v.rule, v.collection) == ("Allow", "smb", "east-west")
    assert "uncertain" in v.notes[0]  # the DNAT rule before it could not be read
    assert fw.check("tcp", "10.0.9.9", 5000, "10.0.2.4", 3389).to_dict()["access"] == "Deny"
    fw = FirewallPolicy.load(ARM / "firewall-rulegroups-2019.json", service_tags=TAGS,
                             deployment={"references": {"fw-pip.ipAddress": "198.51.100.1"}})
    v = fw.check("tcp", "203.0.113.9", 5000, "198.51.100.1", 2222)
    assert (v.access, v.kind, v.translated, v.notes) == ("Allow", "nat", "10.0.2.4:22", [])
    assert fw.check("tcp", "10.0.1.4", 5000, "93.184.216.34", 443, fqdn="archive.ubuntu.com").rule == "updates"


def test_firewall_evaluate_writes_the_nsg_columns(tmp_path, capsys):
    flows = tmp_path / "f.csv"
    flows.write_text("direction,protocol,src_ip,src_port,dst_ip,dst_port\nOutbound,tcp,10.0.1.4,5000,10.0.2.4,445\n"
                     "Outbound,tcp,10.0.9.9,5000,10.0.2.4,3389\nOutbound,tcp,10.0.9.9,5000,10.0.2.4,22\n")
    out = tmp_path / "o.csv"
    code = main(["evaluate", "--firewall-policy", str(ARM / "firewall-rulegroups-2019.json"), "--flows", str(flows),
                 "--out", str(out), "--service-tags", TAGS, "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["counts"] == {"rows": 3, "allowed": 1, "denied": 2, "rejected": 0, "evaluated": 3}
    lines = out.read_text().splitlines()
    head = lines[0].replace('"', "").split(",")
    assert {"access", "allowed", "rule", "rule_index", "nsg", "log_rule", "reject_reason"} <= set(head)
    assert lines[1].replace('"', "").split(",")[head.index("rule")] == "smb"


def test_nsg_named_by_an_expression_is_chosen_by_what_names_it(tmp_path, capsys):
    doc = {"parameters": {"env": {"type": "string"}},
           "variables": {"nsgName": "[format('nsg-{0}', parameters('env'))]"},
           "resources": [{"type": "Microsoft.Network/networkSecurityGroups", "name": "[variables('nsgName')]",
                          "properties": {"securityRules": PLAIN["properties"]["securityRules"]}},
                         {"type": "Microsoft.Network/networkSecurityGroups", "name": "[concat('web-', parameters('env'), '-nsg')]"}]}
    f = tmp_path / "t.json"
    f.write_text(json.dumps(doc))
    assert load_nsg(f"{f}:nsgName").raw_name == "[variables('nsgName')]"
    assert load_nsg(f"{f}:web-env-nsg").rules == []  # unknown parts written as their names
    with pytest.raises(PolicyError, match=r"#1 'nsgName'.*#2 'web-env-nsg'"):
        load_nsg(str(f))
    assert load_nsg(str(f), params={"env": "prod"}, name="nsg-prod").name == "nsg-prod"


def test_missing_vnet_names_the_file_and_the_nsg(tmp_path):
    f = tmp_path / "n.json"
    f.write_text(json.dumps(PLAIN))
    with pytest.raises(PolicyError, match=rf"{f}: .*NSG 'web-nsg'.*--vnet"):
        Policy.from_nsg(str(f), service_tags=TAGS)


def test_mangled_templates_get_adu_fw_errors_only():
    """Structured mutations of every fixture (dropped keys, wrong types, broken expressions, stray
    copy loops): reading returns NSGs / a policy or raises adu-fw's own error, nothing else."""
    import copy
    import random

    from adu_fw.errors import AduFwError

    rnd = random.Random(17)
    docs = [json.loads(p.read_text()) for p in sorted(ARM.glob("*.json")) if p.name != "comments.json"]
    docs.append({"resources": [{"type": "Microsoft.Network/azureFirewalls", "name": "[concat('fw-', 'x')]", "properties": {
        "networkRuleCollections": [{"name": "net", "properties": {"priority": 100, "action": {"type": "allow"}, "rules": [
            {"name": "ntp", "protocols": ["UDP"], "sourceAddresses": ["*"], "destinationAddresses": ["*"], "destinationPorts": ["123"]}]}}],
        "applicationRuleCollections": [{"name": "app", "properties": {"priority": 200, "action": {"type": "Allow"}, "rules": [
            {"name": "web", "protocols": [{"protocolType": "Https", "port": 443}], "sourceAddresses": ["10.0.0.0/8"],
             "targetFqdns": ["*.example.com"]}]}}],
        "natRuleCollections": [{"name": "nat", "properties": {"priority": 100, "action": {"type": "Dnat"}, "rules": [
            {"name": "ssh", "protocols": ["TCP"], "sourceAddresses": ["*"], "destinationAddresses": ["203.0.113.1"],
             "destinationPorts": ["2222"], "translatedAddress": "10.0.0.4", "translatedPort": "22"}]}}]}}]})
    junk = [None, 1, "x", [], {}, "[parameters('nope')]", "[copyIndex()]", {"copy": 5}, [{"name": 1}], "[x(", {"type": 3}]
    cuts = ["[", "]", "(", ")", "'", ",", ".", "copyIndex(", "parameters('", "[concat(", "lambda('x',", "range(0,", "[["]

    def mutate(o):
        if isinstance(o, dict):
            for k in list(o):
                r = rnd.random()
                if r < 0.05:
                    del o[k]
                elif r < 0.1:
                    o[k] = rnd.choice(junk)
                else:
                    o[k] = mutate(o[k])
        elif isinstance(o, list):
            for i in range(len(o)):
                o[i] = rnd.choice(junk) if rnd.random() < 0.1 else mutate(o[i])
        elif isinstance(o, str) and o.startswith("[") and rnd.random() < 0.2:
            i = rnd.randrange(len(o))
            return o[:i] + rnd.choice(cuts) + o[i:]
        return o

    for _ in range(400):
        doc = mutate(copy.deepcopy(rnd.choice(docs)))
        for read in (lambda: read_nsgs(doc), lambda: FirewallPolicy.load(doc, service_tags=TAGS)):
            try:
                read()
            except AduFwError:
                pass

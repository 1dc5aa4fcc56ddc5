"""Terraform plans: NSGs, separate rules, ASGs, pairs, unknown values, firewall groups, the diff of a plan."""
from __future__ import annotations

import glob
import json
from pathlib import Path

import pytest

from adu_fw.cli import main
from adu_fw.errors import PolicyError
from adu_fw.exposure import exposure
from adu_fw.plandiff import plan_diff
from adu_fw.sources import plan_firewall, plan_policy, read_nsgs_any
from adu_fw.terraform import TerraformPlan

from conftest import DATA, shared

TAGS = "20240610"
TF = DATA / "terraform"


def _rule(name, prio, **kw):
    r = {"name": name, "priority": prio, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
         "source_address_prefix": "*", "source_address_prefixes": [], "source_port_range": "*", "source_port_ranges": [],
         "destination_address_prefix": "*", "destination_address_prefixes": [], "destination_port_range": "22",
         "destination_port_ranges": [], "source_application_security_group_ids": [],
         "destination_application_security_group_ids": [], "description": ""}
    r.update(kw)
    return r


def _res(address, rtype, values, unknown=None, **extra):
    name = address.split(".")[-1].split("[")[0]
    return {"address": address, "mode": "managed", "type": rtype, "name": name, "values": values,
            "_unknown": unknown or {}, **extra}


def plan(resources, config=None, before=None):
    """A plan in the `terraform show -json` shape from (address, type, values, unknown) resources."""
    changes = []
    for r in resources:
        b = (before or {}).get(r["address"])
        changes.append({"address": r["address"], "mode": "managed", "type": r["type"], "name": r["name"],
                        "change": {"actions": ["update" if b else "create"], "before": b, "after": r["values"],
                                   "after_unknown": r["_unknown"]}})
    return {"format_version": "1.2", "terraform_version": "1.9.0",
            "planned_values": {"root_module": {"resources": [{k: v for k, v in r.items() if k != "_unknown"}
                                                             for r in resources]}},
            "resource_changes": changes, "configuration": {"root_module": {"resources": config or []}}}


def write(tmp_path, doc, name="plan.json"):
    p = tmp_path / name
    p.write_text(json.dumps(doc))
    return str(p)


NET = [
    _res("azurerm_virtual_network.vnet", "azurerm_virtual_network",
         {"name": "vnet1", "resource_group_name": "rg", "address_space": ["10.10.0.0/16"]}),
    _res("azurerm_subnet.web", "azurerm_subnet",
         {"name": "web", "resource_group_name": "rg", "virtual_network_name": "vnet1", "address_prefixes": ["10.10.1.0/24"]},
         {"id": True}),
]


def test_inline_and_separate_rules_join_by_name_and_resource_group(tmp_path):
    doc = plan([
        _res("azurerm_network_security_group.a", "azurerm_network_security_group",
             {"name": "nsg-a", "resource_group_name": "rg", "security_rule": [_rule("ssh", 100)]}),
        _res("azurerm_network_security_group.b", "azurerm_network_security_group",
             {"name": "nsg-a", "resource_group_name": "other-rg"}, {"security_rule": True}),
        _res("azurerm_network_security_rule.rdp", "azurerm_network_security_rule",
             dict(_rule("rdp", 110, destination_port_range="3389"), network_security_group_name="nsg-a",
                  resource_group_name="other-rg")),
    ])
    nsgs, _, kind = read_nsgs_any(write(tmp_path, doc))
    assert kind == "plan"
    assert {(n.raw_name, tuple(r.name for r in n.rules)) for n in nsgs} == {
        ("azurerm_network_security_group.a", ("ssh",)), ("azurerm_network_security_group.b", ("rdp",))}


def test_unknown_values_are_refused_with_the_attribute_or_widened(tmp_path, capsys):
    doc = plan(NET + [
        _res("azurerm_network_security_group.n", "azurerm_network_security_group",
             {"name": "nsg", "resource_group_name": "rg",
              "security_rule": [_rule("deny-pip", 100, access="Deny", destination_address_prefix=None),
                                _rule("ssh", 200)]},
             {"security_rule": [{"destination_address_prefix": True}, {}]}),
    ])
    f = write(tmp_path, doc)
    with pytest.raises(PolicyError, match=r"azurerm_network_security_group\.n\.security_rule\[0\].*"
                                          r"security_rule\[0\]\.destination_address_prefix.*unknown until apply"):
        plan_policy(f, virtual_network=["10.10.0.0/16"], service_tags=TAGS)
    p = plan_policy(f, assume_unknown="any", virtual_network=["10.10.0.0/16"], service_tags=TAGS)
    assert any("widened to *" in w and "Deny" in w for w in p.warnings)
    assert p.check("inbound", "tcp", "8.8.8.8", 1, "10.10.1.4", 22).rule == "deny-pip"
    code = main(["check", "--terraform-plan", f, "--direction", "inbound", "--protocol", "tcp", "--src", "8.8.8.8",
                 "--dst", "10.10.1.4", "--dst-port", "22", "--service-tags", TAGS])
    err = capsys.readouterr().err
    assert code == 2 and "destination_address_prefix" in err and "--assume-unknown any" in err


def test_asg_ids_computed_at_apply_follow_the_configuration(tmp_path):
    doc = plan([
        _res("azurerm_application_security_group.web", "azurerm_application_security_group",
             {"name": "asg-web", "resource_group_name": "rg"}, {"id": True}),
        _res("azurerm_network_security_group.n", "azurerm_network_security_group",
             {"name": "nsg", "resource_group_name": "rg",
              "security_rule": [_rule("web", 100, destination_address_prefix=None, destination_port_range="443")]},
             {"security_rule": [{"destination_application_security_group_ids": True}]}),
    ], config=[{"address": "azurerm_network_security_group.n", "type": "azurerm_network_security_group",
                "expressions": {"security_rule": [{"name": {"constant_value": "web"},
                                                   "destination_application_security_group_ids": {"references": [
                                                       "azurerm_application_security_group.web.id",
                                                       "azurerm_application_security_group.web"]}}]}}])
    f = write(tmp_path, doc)
    with pytest.raises(PolicyError, match="asg-web"):
        plan_policy(f, virtual_network=["10.10.0.0/16"], service_tags=TAGS)  # membership must be given
    p = plan_policy(f, virtual_network=["10.10.0.0/16"], service_tags=TAGS, asgs={"asg-web": ["10.10.1.5"]})
    assert p.check("inbound", "tcp", "8.8.8.8", 1, "10.10.1.5", 443).rule == "web"
    assert p.check("inbound", "tcp", "8.8.8.8", 1, "10.10.1.6", 443).rule == "DenyAllInBound"


def test_nic_pair_from_associations_with_ids_computed_at_apply(tmp_path, capsys):
    doc = plan(NET + [
        _res("azurerm_network_security_group.sub", "azurerm_network_security_group",
             {"name": "nsg-subnet", "resource_group_name": "rg", "security_rule": [
                 _rule("ssh-rdp", 100, source_address_prefix="Internet", destination_port_range=None,
                       destination_port_ranges=["22", "3389"])]}),
        _res("azurerm_network_security_group.nic", "azurerm_network_security_group",
             {"name": "nsg-nic", "resource_group_name": "rg", "security_rule": [
                 _rule("rdp", 100, destination_port_range="3389")]}),
        _res("azurerm_network_interface.vm", "azurerm_network_interface",
             {"name": "vm-nic", "resource_group_name": "rg", "ip_configuration": [{"name": "ipc"}]},
             {"id": True, "ip_configuration": [{"subnet_id": True}]}),
        _res("azurerm_subnet_network_security_group_association.a", "azurerm_subnet_network_security_group_association",
             {}, {"subnet_id": True, "network_security_group_id": True}),
        _res("azurerm_network_interface_security_group_association.b",
             "azurerm_network_interface_security_group_association", {},
             {"network_interface_id": True, "network_security_group_id": True}),
    ], config=[
        {"address": "azurerm_network_interface.vm", "expressions": {"ip_configuration": [
            {"subnet_id": {"references": ["azurerm_subnet.web.id", "azurerm_subnet.web"]}}]}},
        {"address": "azurerm_subnet_network_security_group_association.a", "expressions": {
            "subnet_id": {"references": ["azurerm_subnet.web.id", "azurerm_subnet.web"]},
            "network_security_group_id": {"references": ["azurerm_network_security_group.sub.id"]}}},
        {"address": "azurerm_network_interface_security_group_association.b", "expressions": {
            "network_interface_id": {"references": ["azurerm_network_interface.vm.id"]},
            "network_security_group_id": {"references": ["azurerm_network_security_group.nic.id"]}}},
    ])
    f = write(tmp_path, doc)
    p = plan_policy(f + ":vm-nic", service_tags=TAGS)  # the VNet space comes from the subnet's VNet
    assert [(lvl, n.name) for lvl, n in p.levels("Inbound")] == [("subnet", "nsg-subnet"), ("nic", "nsg-nic")]
    assert "10.10.0.0/16" in p.virtual_network
    report = exposure(p)
    assert [(e.to_dict()["ports"], e.rule) for e in report.exposures] == [(["3389"], "rdp")]
    with pytest.raises(PolicyError, match="choose one with FILE:NAME.*NIC vm-nic"):
        plan_policy(f, service_tags=TAGS)
    code = main(["exposure", "--terraform-plan", f + ":azurerm_network_interface.vm", "--service-tags", TAGS, "--json"])
    doc_out = json.loads(capsys.readouterr().out)
    assert code == 1 and doc_out["exposures"][0]["allowed_by"][0]["nsg"] == "nsg-subnet"


def test_every_real_plan_is_read_or_refused_with_the_attribute():
    files = sorted(glob.glob(str(shared("data", "terraform") / "*.json")))
    assert len(files) == 7
    seen = {}
    for f in files:
        nsgs, _, kind = read_nsgs_any(f)
        assert kind == "plan" and nsgs
        seen[Path(f).name] = {n.name: (len(n.rules), [str(e) for e in n.errors]) for n in nsgs}
    regula = seen["regula_nsg_no_inbound_22_plan.json"]["testnsg"][1]
    assert any("azurerm_network_security_rule.invalidrule1" in e and "source_address_prefix" in e for e in regula)
    assert any("priority 100 is already used" in e for e in regula)
    zodiac = seen["zodiac_appgw_privateendpoint_plan.json"]
    assert zodiac["nsg-bastion"] == (8, [])
    assert seen["tfcompliance_issue294_plan.json"]["myvm-nsg"] == (1, [])


def test_real_plan_pairs_and_exposure():
    f = str(shared("data", "terraform", "zodiac_appgw_privateendpoint_plan.json"))
    p = plan_policy(f + ":nic-vmappgw0", service_tags=TAGS)
    assert [n.name for n in p.nsgs] == ["nsg-vmappgw0"] and "172.16.0.0/16" in p.virtual_network
    (e,) = exposure(p).exposures
    assert e.to_dict()["ports"] == ["22", "80"] and e.high_ports == [22]
    bastion = plan_policy(f + ":module.bastion.azurerm_network_security_group.bastion", service_tags=TAGS)
    assert {tuple(x.to_dict()["ports"] or ()) for x in exposure(bastion).exposures} == {("443",)}


def test_firewall_rule_collection_groups_from_a_real_plan():
    f = str(shared("data", "terraform", "zodiac_appgw_privateendpoint_plan.json"))
    with pytest.raises(PolicyError, match=r"nat_rule_collection\[0\]\.rule\[0\].*destination_address.*unknown until apply"):
        plan_firewall(f + ":afwp-example", service_tags=TAGS)
    fw = plan_firewall(f + ":afwp-example", service_tags=TAGS, assume_unknown="any")
    assert any("destination_address" in n for n in fw.notes)
    v = fw.check("udp", "10.0.0.4", 5000, "8.8.8.8", 53)
    assert (v.access, v.rule, v.collection) == ("Allow", "All", "AllowNetworkRuleCollection")
    fe = plan_firewall(f + ":module.fe_azfw.azurerm_firewall_policy.example", service_tags=TAGS, assume_unknown="any")
    assert fe.check("udp", "10.0.0.4", 5000, "8.8.8.8", 53).access == "Deny"  # TCP from 1.2.3.4 only
    assert fe.check("tcp", "1.2.3.4", 5000, "8.8.8.8", 443).rule == "All"


def test_plan_diff_is_the_exact_change_of_the_pull_request(capsys):
    f = str(TF / "graft_nsg_rule_drift_plan.json")
    d = plan_diff(f, virtual_network=["10.0.0.0/16"], old_service_tags=TAGS, new_service_tags=TAGS)
    (c,) = d.nsgs
    assert c.change == "updated" and c.name == "graft-absorb-nested-test-nsg"
    # exactly: allow-https (TCP 443 from 10.0.0.0/8) disappears
    assert {(r.region["protocols"], r.region["dst_ports"], r.old["rule"]) for r in c.diff.changes} == {
        ("TCP", "443", "UserRule_allow-https")}
    src = set()
    for r in c.diff.changes:
        src |= set(r.region["src"])
    assert src == {"10.0.0.0/16", "10.1.0.0/16", "10.2.0.0/15", "10.4.0.0/14", "10.8.0.0/13", "10.16.0.0/12",
                   "10.32.0.0/11", "10.64.0.0/10", "10.128.0.0/9"}
    code = main(["diff", "--terraform-plan", f, "--vnet", "10.0.0.0/16", "--old-service-tags", TAGS,
                 "--new-service-tags", TAGS, "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and doc["region_count"] == 3 and doc["nsgs"][0]["change"] == "updated"
    code = main(["diff", "--terraform-plan", f, "--old-service-tags", TAGS, "--new-service-tags", TAGS])
    assert code == 2 and "--vnet" in capsys.readouterr().err


def test_plan_diff_of_created_nsgs_and_separate_rules():
    f = str(TF / "checkov_tfplan_extra_ref.json")
    d = plan_diff(f, virtual_network=["10.0.0.0/16"], old_service_tags=TAGS, new_service_tags=TAGS)
    kinds = {c.name: (c.change, len(c.diff.changes)) for c in d.nsgs}
    assert kinds["fail"] == ("created", 0)  # no custom rule: same as a fresh NSG
    assert kinds["pass"][0] == "created" and kinds["pass"][1] >= 1
    assert all(r.new["rule"] == "UserRule_pass" for c in d.nsgs for r in c.diff.changes)


def test_plan_as_a_lint_argument(capsys):
    f = str(shared("data", "terraform", "regula_nsg_no_inbound_22_plan.json"))
    code = main(["lint", f, "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and doc["files"][0]["kind"] == "plan" and doc["problems"] >= 7
    assert TerraformPlan.load(f).state("planned").which == "planned"

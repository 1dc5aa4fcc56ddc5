"""Reading NSGs: the real ARM samples, every other published shape, ARM expressions, selection."""
from __future__ import annotations

import copy
import json

import pytest

from adu_fw import PolicyError
from adu_fw.arm import Deployment
from adu_fw.nsg import load_nsg, read_nsgs
from adu_fw.policy import Policy

from conftest import shared
from nsgkit import nsg, rule

HUB = ("data", "nsg", "azfw-dns-proxy-hub-spoke_azuredeploy.json")
LAB = ("data", "nsg", "netsec-demo-lab_vNets.json")
LAB_PARAMS = {"resourceNames": {"nsg1": "nsg-spoke1", "nsg2": "nsg-spoke2", "vnet1": "hub", "vnet2": "spoke1", "vnet3": "spoke2"}}


# -- the real templates -------------------------------------------------------------------------------
def test_hub_spoke_template_four_nsgs_names_from_variables_and_defaults():
    nsgs = read_nsgs(shared(*HUB))
    assert [n.name for n in nsgs] == [
        "HubVnetCommonSubnetNsg",
        "DevelopmentVNetDefaultSubnetNsg",
        "ProductionVNetDefaultSubnetNsg",
        "HubVnetAzureBastionSubnetNsg",
    ]
    assert [len(n.rules) for n in nsgs] == [0, 0, 0, 10]  # three NSGs have no properties at all
    assert all(not n.errors for n in nsgs)
    # each NSG's VirtualNetwork comes from the VNet whose subnet references it
    assert [n.vnet_prefixes for n in nsgs] == [["192.168.0.0/16"], ["10.0.0.0/16"], ["10.1.0.0/16"], ["192.168.0.0/16"]]


def test_bastion_nsg_rules_as_written():
    bastion = load_nsg(str(shared(*HUB)) + ":HubVnetAzureBastionSubnetNsg")
    r = bastion.rule("AllowBastionHostCommunicationInBound")
    assert (r.priority, r.protocol, r.destination_ports) == (130, "*", ((5701, 5701), (8080, 8080)))
    assert r.source.tag == "VirtualNetwork" and r.destination.tag == "VirtualNetwork"
    # the template defines its own rule called DenyAllInBound at 1000 (a custom rule may reuse a default name)
    custom = [x for x in bastion.rules if x.name == "DenyAllInBound"]
    assert len(custom) == 1 and custom[0].priority == 1000 and not custom[0].default


def test_bastion_policy_uses_template_vnet_and_reports_the_custom_deny_as_a_user_rule():
    p = Policy.from_nsg(shared(*HUB), name="HubVnetAzureBastionSubnetNsg")
    assert p.virtual_network == ("192.168.0.0/16", "168.63.129.16/32")
    v = p.check("Inbound", "tcp", "8.8.8.8", 50000, "192.168.1.4", 443)
    assert (v.access, v.rule, v.priority) == ("Allow", "AllowHttpsInBound", 100)
    v = p.check("Inbound", "tcp", "8.8.8.8", 50000, "192.168.1.4", 22)
    assert (v.access, v.rule, v.priority, v.log_rule) == ("Deny", "DenyAllInBound", 1000, "UserRule_DenyAllInBound")
    v = p.check("Outbound", "tcp", "192.168.1.4", 50000, "20.119.27.200", 443)  # AzureCloud holds ADU's space
    assert (v.access, v.rule) == ("Allow", "AllowAzureCloudCommunicationOutBound")
    v = p.check("Inbound", "tcp", "192.168.1.9", 50000, "192.168.1.4", 8080)
    assert v.rule == "AllowBastionHostCommunicationInBound"


def test_lab_template_needs_its_parameters_for_names_and_vnets():
    nsgs = read_nsgs(shared(*LAB))
    # an unresolved name is shown as what names it, and can be selected by it or by the raw expression
    assert [n.name for n in nsgs] == ["resourceNames.nsg1", "resourceNames.nsg2"]
    assert [n.raw_name for n in nsgs] == ["[parameters('resourceNames').nsg1]", "[parameters('resourceNames').nsg2]"]
    assert all("not resolved" in n.warnings[0] and "resourceNames" in n.warnings[0] for n in nsgs)
    assert load_nsg(shared(*LAB), name="resourceNames.nsg2").raw_name == "[parameters('resourceNames').nsg2]"
    # rules resolve anyway: their fields use variables with values
    r = nsgs[0].rule("Allow-Spoke2-VNET")
    assert r.source.prefixes == ("10.0.28.0/24",) and r.destination.tag == "VirtualNetwork"
    with pytest.raises(PolicyError, match="--vnet"):
        Policy.from_nsg(shared(*LAB), name="[parameters('resourceNames').nsg1]")
    p = Policy.from_nsg(shared(*LAB), name="#1", virtual_network=["10.0.27.0/24"])
    assert p.check("Inbound", "tcp", "10.0.28.5", 1, "10.0.27.4", 22).rule == "Allow-Spoke2-VNET"


def test_lab_template_with_parameters():
    nsgs = read_nsgs(shared(*LAB), params=LAB_PARAMS)
    assert [(n.name, n.vnet_prefixes) for n in nsgs] == [("nsg-spoke1", ["10.0.27.0/24"]), ("nsg-spoke2", ["10.0.28.0/24"])]
    p = Policy.from_nsg(shared(*LAB), name="nsg-spoke1", params=LAB_PARAMS)
    assert p.check("Inbound", "tcp", "10.0.28.5", 1, "10.0.27.4", 22).rule == "Allow-Spoke2-VNET"
    assert p.check("Inbound", "tcp", "10.0.29.5", 1, "10.0.27.4", 22).rule == "DenyAllInBound"
    assert p.check("Outbound", "udp", "10.0.27.4", 1, "10.0.28.9", 53).rule == "Allow-Spoke2-VNET-outbound"


# -- the other shapes (made here from the spec's examples, docs/formats.md §3) ------------------------------
def _az_show(rules):
    flat = []
    for r in rules:
        d = {"name": r["name"], "etag": 'W/"x"', "id": "/subscriptions/s/.../securityRules/" + r["name"],
             "provisioningState": "Succeeded", "resourceGroup": "rg",
             "type": "Microsoft.Network/networkSecurityGroups/securityRules",
             "sourceAddressPrefixes": [], "destinationAddressPrefixes": [], "sourcePortRanges": [],
             "destinationPortRanges": [], "sourceApplicationSecurityGroups": None,
             "destinationApplicationSecurityGroups": None, "description": None}
        d.update(r["properties"])
        flat.append(d)
    defaults = [{"access": "Allow", "description": "Allow inbound traffic from azure load balancer",
                 "destinationAddressPrefix": "*", "destinationAddressPrefixes": [], "destinationPortRange": "*",
                 "direction": "Inbound", "name": "AllowAzureLoadBalancerInBound", "priority": 65001, "protocol": "*",
                 "sourceAddressPrefix": "AzureLoadBalancer", "sourceAddressPrefixes": [], "sourcePortRange": "*",
                 "sourcePortRanges": []}]
    return {"defaultSecurityRules": defaults, "securityRules": flat, "flowLogs": None, "id": "/subscriptions/s/x",
            "location": "centralus", "name": "az-nsg", "networkInterfaces": None, "subnets": None, "tags": None,
            "type": "Microsoft.Network/networkSecurityGroups"}


RULES = [rule("allow-https", 100, dport="443", protocol="Tcp", src="Internet"),
         rule("deny-rdp", 200, dport="3389", access="Deny")]


@pytest.mark.parametrize(
    "shape",
    ["rest", "az-show", "az-create", "rule-list", "rest-list", "arm-inline", "arm-separate", "arm-child", "bom-crlf"],
)
def test_every_shape_reads_the_same_rules(shape, tmp_path):
    rest = nsg("web-nsg", *copy.deepcopy(RULES))
    if shape == "rest":
        doc = rest
    elif shape == "az-show":
        doc = _az_show(copy.deepcopy(RULES))
    elif shape == "az-create":
        doc = {"NewNSG": _az_show(copy.deepcopy(RULES))}
    elif shape == "rule-list":
        doc = copy.deepcopy(RULES)
    elif shape == "rest-list":
        doc = {"value": [rest]}
    elif shape == "arm-inline":
        doc = {"$schema": "x", "resources": [dict(rest, apiVersion="2020-07-01")]}
    elif shape == "arm-separate":
        doc = {"parameters": {"nsgName": {"type": "string", "defaultValue": "web-nsg"}}, "resources": [
            {"type": "Microsoft.Network/networkSecurityGroups", "name": "[parameters('nsgName')]", "apiVersion": "2020-07-01"}]
            + [{"type": "Microsoft.Network/networkSecurityGroups/securityRules",
                "name": "[concat(parameters('nsgName'), '/', '" + r["name"] + "')]", "properties": r["properties"]}
               for r in copy.deepcopy(RULES)]}
    elif shape == "arm-child":
        doc = {"resources": [{"type": "Microsoft.Network/networkSecurityGroups", "name": "web-nsg",
                              "resources": [dict(r, type="securityRules") for r in copy.deepcopy(RULES)]}]}
    else:
        doc = rest
    path = tmp_path / "nsg.json"
    text = json.dumps(doc, indent=2)
    if shape == "bom-crlf":
        path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    else:
        path.write_text(text)
    got = load_nsg(str(path))
    assert sorted((r.name, r.priority, r.access, r.destination_ports) for r in got.rules) == [
        ("allow-https", 100, "Allow", ((443, 443),)), ("deny-rdp", 200, "Deny", ((3389, 3389),))]
    p = Policy.from_nsg(str(path), virtual_network=["10.0.0.0/16"])
    assert p.check("Inbound", "tcp", "8.8.8.8", 1, "10.0.0.4", 3389).rule == "deny-rdp"


def test_rules_from_a_parameter_array():
    doc = {"parameters": {"rules": {"type": "array", "defaultValue": copy.deepcopy(RULES)}},
           "resources": [{"type": "Microsoft.Network/networkSecurityGroups", "name": "n",
                          "properties": {"securityRules": "[parameters('rules')]"}}]}
    assert len(load_nsg(doc).rules) == 2


def test_unresolvable_expression_names_the_rule_and_field():
    r = rule("r", 100, src="[parameters('onprem')]")
    doc = {"parameters": {"onprem": {"type": "string"}},
           "resources": [{"type": "Microsoft.Network/networkSecurityGroups", "name": "n", "properties": {"securityRules": [r]}}]}
    with pytest.raises(PolicyError, match=r"NSG 'n' rule 'r': field 'sourceAddressPrefix': .*parameter 'onprem' has no default value; pass it"):
        load_nsg(doc)
    assert load_nsg(doc, params={"onprem": "172.16.0.0/12"}).rules[0].source.prefixes == ("172.16.0.0/12",)
    # a rule that needs a deployed resource's state is set aside (named), the rest of the NSG is read,
    # and an answer it could change says so; --reference gives the value
    doc["resources"][0]["properties"]["securityRules"] = [
        rule("r", 100, src="[reference('x').ip]", access="Deny"), rule("ok", 200, dport="22")]
    nsg = load_nsg(doc, params={"onprem": "-"})
    assert [x.name for x in nsg.rules] == ["ok"] and [u.name for u in nsg.unread] == ["r"]
    assert "pass --reference x.ip=VALUE" in nsg.warnings[0]
    v = Policy.from_nsg(nsg, virtual_network=["10.0.0.0/16"]).check("Inbound", "tcp", "8.8.8.8", 1, "10.0.0.4", 22)
    assert v.rule == "ok" and "uncertain: rule 'r'" in v.notes[0]
    nsg = load_nsg(doc, deployment=Deployment(references={"x.ip": "8.8.8.0/24"}))
    v = Policy.from_nsg(nsg, virtual_network=["10.0.0.0/16"]).check("Inbound", "tcp", "8.8.8.8", 1, "10.0.0.4", 22)
    assert (v.rule, v.access, v.notes) == ("r", "Deny", ())


def test_selecting_an_nsg():
    with pytest.raises(PolicyError, match="holds 4 NSGs .*choose one with FILE:NSGNAME"):
        load_nsg(shared(*HUB))
    with pytest.raises(PolicyError, match="no NSG named 'nope'"):
        load_nsg(shared(*HUB), name="nope")
    assert load_nsg(shared(*HUB), name="#4").name == "HubVnetAzureBastionSubnetNsg"
    assert load_nsg(shared(*HUB), name="hubvnetazurebastionsubnetnsg").name == "HubVnetAzureBastionSubnetNsg"


@pytest.mark.parametrize(
    "content, match",
    [
        ("{", "malformed JSON at line 1"),
        ('{"foo": 1}', "not an NSG definition"),
        ('"x"', "expected a JSON object or list"),
        ('{"resources": []}', "defines no Microsoft.Network/networkSecurityGroups"),
    ],
)
def test_unreadable_files(tmp_path, content, match):
    p = tmp_path / "n.json"
    p.write_text(content)
    with pytest.raises(PolicyError, match=match):
        load_nsg(str(p))
    with pytest.raises(PolicyError, match="cannot read the file"):
        load_nsg(str(tmp_path / "missing.json"))

"""--effective: Azure's effective rules as a policy (its own expansions), levels, and diff against a template."""
from __future__ import annotations

import json

import pytest

from adu_fw.cli import main
from adu_fw.effective import effective_policy, read_effective
from adu_fw.errors import PolicyError

from conftest import DATA
from nsgkit import nsg, rule

TAGS = "20240610"
SPEC = DATA / "effective" / "spec_2025-03-01_NetworkInterfaceEffectiveNSGList.json"


def _eff_rule(name, prio, direction="Inbound", access="Allow", src="0.0.0.0/0", dst="0.0.0.0/0", dport="0-65535",
              protocol="Tcp", expanded_src=None, expanded_dst=None):
    return {"name": name, "protocol": protocol, "sourcePortRange": "0-65535", "destinationPortRange": dport,
            "sourceAddressPrefix": src, "destinationAddressPrefix": dst,
            "expandedSourceAddressPrefix": expanded_src, "expandedDestinationAddressPrefix": expanded_dst or [],
            "access": access, "priority": prio, "direction": direction}


VNET_EXPANSION = ["10.9.0.0/16", "168.63.129.16/32", "10.0.0.0/16"]


def _defaults():
    return [
        _eff_rule("defaultSecurityRules/AllowVnetInBound", 65000, src="VirtualNetwork", dst="VirtualNetwork", protocol="All",
                  expanded_src=VNET_EXPANSION, expanded_dst=VNET_EXPANSION),
        _eff_rule("defaultSecurityRules/AllowAzureLoadBalancerInBound", 65001, src="AzureLoadBalancer", protocol="All",
                  expanded_src=["168.63.129.16/32"]),
        _eff_rule("defaultSecurityRules/DenyAllInBound", 65500, access="Deny", protocol="All"),
    ]


def two_entries():
    """The PowerShell documentation's case: RDP allowed on the NIC NSG, denied on the subnet NSG."""
    internet = ["1.0.0.0/8", "2.0.0.0/7", "4.0.0.0/6", "8.0.0.0/7"]
    return {"value": [
        {"networkSecurityGroup": {"id": "/subscriptions/s/resourceGroups/RG1/providers/Microsoft.Network/networkSecurityGroups/VM1-NIC1-NSG"},
         "association": {"networkInterface": {"id": "/subscriptions/s/resourceGroups/RG1/providers/Microsoft.Network/networkInterfaces/VM1-NIC1"}},
         "effectiveSecurityRules": [_eff_rule("securityRules/allowRDP", 1000, src="Internet", dport="3389-3389",
                                              expanded_src=internet)] + _defaults()},
        {"networkSecurityGroup": {"id": "/subscriptions/s/resourceGroups/RG1/providers/Microsoft.Network/networkSecurityGroups/Subnet1-NSG"},
         "association": {"subnet": {"id": "/subscriptions/s/resourceGroups/RG1/providers/Microsoft.Network/virtualNetworks/v/subnets/Subnet1"}},
         "effectiveSecurityRules": [_eff_rule("securityRules/denyRDP", 1000, access="Deny", src="Internet",
                                              dport="3389-3389", expanded_src=internet)] + _defaults()},
    ]}


def test_the_rest_example_reads_and_uses_azures_expansion():
    (n,) = read_effective(SPEC)
    assert n.name == "test-nsg" and n.level == "nsg"  # the example names a subnet and a NIC at once
    assert [r.name for r in n.rules] == ["rule1", "default-allow-rdp"]
    assert any("AllowVnetInBound" in w for w in n.warnings)  # missing defaults are Azure's documented ones
    p = effective_policy(SPEC, virtual_network=["10.0.0.0/16"], service_tags=TAGS)
    assert p.check("inbound", "tcp", "1.1.1.1", 5000, "10.0.0.4", 3389).rule == "default-allow-rdp"
    assert p.check("inbound", "tcp", "1.1.1.2", 5000, "10.0.0.4", 3389).rule == "DenyAllInBound"
    # AllowInternetOutBound is what Azure expanded it to in this file (1/8, 2/7, 4/6, 32/3), not the tag
    assert p.check("outbound", "tcp", "10.0.0.4", 5000, "1.2.3.4", 443).rule == "AllowInternetOutBound"
    assert p.check("outbound", "tcp", "10.0.0.4", 5000, "8.8.8.8", 443).rule == "DenyAllOutBound"


def test_subnet_and_nic_entries_are_evaluated_in_azures_order(tmp_path, capsys):
    f = tmp_path / "eff.json"
    f.write_text(json.dumps(two_entries()))
    levels = {n.name: n.level for n in read_effective(f)}
    assert levels == {"VM1-NIC1-NSG": "nic", "Subnet1-NSG": "subnet"}
    p = effective_policy(f, service_tags=TAGS)  # VirtualNetwork from Azure's own AllowVnetInBound expansion
    assert "10.9.0.0/16" in p.virtual_network
    v = p.check("inbound", "tcp", "8.8.8.8", 5000, "10.0.0.4", 3389)
    assert (v.access, v.rule, v.nsg) == ("Deny", "denyRDP", "Subnet1-NSG")
    code = main(["exposure", "--effective", str(f), "--service-tags", TAGS, "--json"])
    assert code == 0 and json.loads(capsys.readouterr().out)["exposures"] == []
    # diff against the template the NIC NSG came from: the effective list matches it on 3389 from the Internet
    tpl = tmp_path / "nic.json"
    tpl.write_text(json.dumps(nsg("VM1-NIC1-NSG", rule("allowRDP", 1000, protocol="Tcp", src="Internet", dport="3389"))))
    code = main(["diff", "--old-nsg", str(tpl), "--new-effective", str(f), "--vnet", "10.9.0.0/16", "--vnet",
                 "10.0.0.0/16", "--old-service-tags", TAGS, "--new-service-tags", TAGS, "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1  # the subnet NSG denies what the template alone allows, and Azure's Internet list is shorter
    assert any(r["old"]["rule"] == "UserRule_allowRDP" and r["new"]["rule"] == "UserRule_denyRDP" for r in doc["regions"])


def test_bad_effective_input_names_the_place(tmp_path):
    doc = two_entries()
    doc["value"][0]["effectiveSecurityRules"][0]["destinationPortRange"] = "70000"
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(doc))
    with pytest.raises(PolicyError, match=r"value\[0\]\.effectiveSecurityRules\[0\].*destinationPortRange"):
        effective_policy(f, service_tags=TAGS)
    doc = {"value": [{"association": {"networkManager": {"id": "/x/networkManagers/nm"}}, "effectiveSecurityRules": []}]}
    f.write_text(json.dumps(doc))
    with pytest.raises(PolicyError, match="network manager"):
        read_effective(f)

"""Reading AVNM security admin rules: every real example field by field, the ARM, az and PowerShell
shapes, collection selection, and validation errors that name file, rule, field and value."""
from __future__ import annotations

import json

import pytest

from adu_fw import PolicyError
from adu_fw.adminrules import AddressItem, AdminRules, load_admin_rules, read_admin_rules, split_admin_ref, strip_log_suffix
from adu_fw.samples import demo_admin_rules

from conftest import DATA, shared

AVNM = DATA / "avnm"
RID = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg1/providers/Microsoft.Network/networkManagers/"
       "mgr/securityAdminConfigurations/cfg/ruleCollections/coll/rules/")


def only(rules: AdminRules):
    assert not rules.errors, rules.errors
    (r,) = rules.rules
    return r


def test_rest_get_example_field_by_field():
    r = only(read_admin_rules(AVNM / "spec_2024-05-01_NetworkManagerAdminRuleGet.json"))
    assert (r.name, r.priority, r.direction, r.access, r.protocol) == ("SampleAdminRule", 1, "Inbound", "Deny", "Tcp")
    assert (r.sources, r.destinations) == ((), ())  # IPPrefix "*" is any address
    assert (r.source_ports, r.destination_ports) == (((0, 65535),), ((22, 22),))
    assert (r.network_manager, r.configuration, r.collection) == ("testNetworkManager", "myTestSecurityConfig", "testRuleCollection")
    assert (r.kind, r.description, r.resource_guid) == ("Custom", "This is Sample Admin Rule", "00000000-0000-0000-0000-000000000000")
    assert r.label == "myTestSecurityConfig/testRuleCollection" and r.log_name == "SampleAdminRule"


def test_rest_put_example_reads_the_response_with_a_service_tag():
    r = only(read_admin_rules(AVNM / "spec_2024-05-01_NetworkManagerAdminRulePut.json"))
    assert r.sources == (AddressItem("ServiceTag", "Internet"),) and r.destinations == ()
    assert (r.access, r.priority, r.destination_ports) == ("Deny", 1, ((22, 22),))


def test_rest_list_example_with_lowercase_networkmanagers_in_its_id():
    r = only(read_admin_rules(AVNM / "spec_2025-05-01_NetworkManagerAdminRuleList.json"))
    assert (r.network_manager, r.configuration, r.collection, r.name) == (
        "testNetworkManager", "myTestSecurityConfig", "testRuleCollection", "SampleAdminRule")


@pytest.mark.parametrize("name", ["spec_2022-05-01_NetworkManagerActiveSecurityAdminRulesList.json",
                                  "spec_2025-03-01_NetworkManagerEffectiveSecurityAdminRulesList.json"])
def test_active_and_effective_lists_read_default_rules_with_their_fields(name):
    r = only(read_admin_rules(AVNM / name))
    assert (r.kind, r.flag, r.name) == ("Default", "AllowVnetInbound", "SampleAdminRule")  # name from the id
    assert (r.access, r.priority, r.direction, r.protocol, r.destination_ports) == ("Deny", 1, "Inbound", "Tcp", ((22, 22),))
    assert r.applies_to == ("group1",) and r.description == "Sample Admin Rule"


def test_a_configuration_without_rules_is_a_clear_error():
    with pytest.raises(PolicyError, match="holds no rules itself"):
        read_admin_rules(shared("data", "avnm", "spec_2024-05-01_NetworkManagerSecurityAdminConfigurationPut.json"))


def test_demo_template_nested_children_and_expressions():
    rules = read_admin_rules(demo_admin_rules(), source_name="avnm.json")
    assert not rules.errors
    got = [(r.name, r.priority, r.direction, r.access, r.network_manager, r.label, r.applies_to) for r in rules.rules]
    assert got == [
        ("AllowSecurityScanner", 10, "Inbound", "AlwaysAllow", "adu-avnm", "org-guardrails/device-subnets", ("adu-devices",)),
        ("DenyHighRiskPortsFromInternet", 20, "Inbound", "Deny", "adu-avnm", "org-guardrails/device-subnets", ("adu-devices",)),
        ("AllowDeviceUpdateOut", 30, "Outbound", "Allow", "adu-avnm", "org-guardrails/device-subnets", ("adu-devices",)),
    ]
    assert rules.rules[0].sources == (AddressItem("IPPrefix", "198.51.100.0/28"),)  # parameters('scannerRange')
    assert rules.rules[1].destination_ports == ((20, 21), (23, 23), (135, 135), (445, 445), (3389, 3389), (5900, 5900))


def _rule_props(**over):
    p = {"access": "Deny", "direction": "Inbound", "priority": 10, "protocol": "Tcp",
         "sources": [{"addressPrefixType": "IPPrefix", "addressPrefix": "10.0.0.0/8"}],
         "destinations": [{"addressPrefixType": "IPPrefix", "addressPrefix": "*"}],
         "sourcePortRanges": ["0-65535"], "destinationPortRanges": ["22"]}
    p.update(over)
    return p


def test_top_level_child_resources_and_symbolic_names():
    template = {
        "languageVersion": "2.0",
        "parameters": {"mgr": {"type": "string", "defaultValue": "m1"}, "port": {"type": "string", "defaultValue": "3389"}},
        "resources": {
            "coll": {"type": "Microsoft.Network/networkManagers/securityAdminConfigurations/ruleCollections",
                     "name": "[format('{0}/{1}/{2}', parameters('mgr'), 'cfg', 'c1')]",
                     "properties": {"appliesToGroups": [{"networkGroupId": "/x/networkGroups/prod"}]}},
            "r1": {"type": "Microsoft.Network/networkManagers/securityAdminConfigurations/ruleCollections/rules",
                   "name": "[concat(parameters('mgr'), '/cfg/c1/deny-rdp')]", "kind": "Custom",
                   "properties": _rule_props(destinationPortRanges=["[parameters('port')]"])},
            "off": {"type": "Microsoft.Network/networkManagers/securityAdminConfigurations/ruleCollections/rules",
                    "condition": "[equals(parameters('mgr'), 'other')]", "name": "m1/cfg/c1/never", "kind": "Custom",
                    "properties": _rule_props()},
        },
    }
    rules = read_admin_rules(template, source_name="t.json")
    r = only(rules)
    assert (r.name, r.network_manager, r.configuration, r.collection, r.applies_to) == ("deny-rdp", "m1", "cfg", "c1", ("prod",))
    assert r.destination_ports == ((3389, 3389),)
    assert any("condition is false" in w for w in rules.warnings)


def test_az_flattened_output_and_powershell_capitalised_keys():
    az = [{"id": RID + "a", "name": "a", "kind": "Custom", **_rule_props(access="AlwaysAllow", protocol="Any")},
          {"id": RID + "b", "name": "b", "kind": "Custom", **_rule_props(priority=20, direction="Outbound")}]
    rules = read_admin_rules(az, source_name="az.json")
    assert [(r.name, r.access, r.protocol, r.direction) for r in rules.rules] == [
        ("a", "AlwaysAllow", "*", "Inbound"), ("b", "Deny", "Tcp", "Outbound")]
    ps = {"Value": [{"DisplayName": "ps-rule", "Protocol": "Udp", "Sources": [{"AddressPrefix": "Internet", "AddressPrefixType": "ServiceTag"}],
                     "Destinations": [{"AddressPrefix": "10.0.0.1", "AddressPrefixType": "IPPrefix"}],
                     "SourcePortRanges": ["100"], "DestinationPortRanges": ["99"], "Access": "Allow", "Priority": 100,
                     "Direction": "Inbound", "Id": RID + "ps-rule"}]}
    r = only(read_admin_rules(ps, source_name="ps.json"))
    assert (r.name, r.protocol, r.access, r.sources, r.destinations) == (
        "ps-rule", "Udp", "Allow", (AddressItem("ServiceTag", "Internet"),), (AddressItem("IPPrefix", "10.0.0.1"),))


@pytest.mark.parametrize("field,value,expect", [
    ("access", "Block", "expected Allow, Deny or AlwaysAllow"),
    ("priority", 0, "0 is outside 1-4096"),
    ("priority", 4097, "4097 is outside 1-4096"),
    ("priority", "ten", "expected an integer"),
    ("direction", "Both", "expected Inbound or Outbound"),
    ("protocol", "Gre", "expected Tcp, Udp, Icmp, Esp, Ah or Any"),
    ("destinationPortRanges", ["70000"], "ports are 0-65535"),
    ("destinationPortRanges", ["90-80"], "reversed range"),
    ("sourcePortRanges", ["x"], "is not a port"),
    ("sources", [{"addressPrefixType": "IPPrefix", "addressPrefix": "10.0.0.300"}], "not a valid IP address"),
    ("sources", [{"addressPrefixType": "Subnet", "addressPrefix": "x"}], "expected IPPrefix, ServiceTag or NetworkGroup"),
    ("destinations", "10.0.0.0/8", "expected a list"),
])
def test_validation_names_file_rule_field_and_value(tmp_path, field, value, expect):
    f = tmp_path / "rules.json"
    f.write_text(json.dumps({"id": RID + "bad-rule", "name": "bad-rule", "properties": _rule_props(**{field: value})}))
    rules = read_admin_rules(f)
    assert not rules.rules and len(rules.errors) == 1
    msg = str(rules.errors[0])
    assert str(f) in msg and "admin rule cfg/coll/bad-rule" in msg and f"field '{field}" in msg and expect in msg
    with pytest.raises(PolicyError, match=expect):
        load_admin_rules(str(f))


def test_every_bad_field_is_reported_not_just_the_first():
    rules = read_admin_rules({"name": "r", "properties": _rule_props(access="x", direction="y", priority=0)}, source_name="m")
    assert {e.field for e in rules.errors} == {"access", "direction", "priority"}


def test_host_bits_warn_and_evaluate_the_network():
    rules = read_admin_rules({"name": "r", "properties": _rule_props(
        sources=[{"addressPrefixType": "IPPrefix", "addressPrefix": "10.1.2.3/16"}])}, source_name="m")
    assert only(rules).sources == (AddressItem("IPPrefix", "10.1.0.0/16"),)
    assert any("host bits" in w for w in rules.warnings)


def test_a_default_rule_with_only_its_flag_cannot_be_evaluated():
    rules = read_admin_rules({"name": "d", "kind": "Default", "properties": {"flag": "AllowVnetInbound"}}, source_name="m")
    assert not rules.rules and "effective or active" in str(rules.errors[0])


def test_collection_selector(tmp_path):
    doc = [{"id": RID.replace("coll", c).replace("cfg", cfg) + n, "properties": _rule_props(priority=p)}
           for c, cfg, n, p in (("c1", "cfg", "a", 10), ("c2", "cfg", "b", 20), ("c1", "other", "c", 30))]
    f = tmp_path / "many.json"
    f.write_text(json.dumps({"value": doc}))
    assert [r.name for r in load_admin_rules(f"{f}:c1").rules] == ["a", "c"]
    assert [r.name for r in load_admin_rules(f"{f}:cfg/c1").rules] == ["a"]
    assert [r.name for r in load_admin_rules(f"{f}:other/*").rules] == ["c"]
    with pytest.raises(PolicyError, match=r"no rule collection 'nope'; the input holds cfg/c1, cfg/c2, other/c1"):
        load_admin_rules(f"{f}:nope")
    assert split_admin_ref("C:\\rules.json") == ("C:\\rules.json", None)


def test_configurations_keep_their_order_and_priorities_sort_within_one():
    a = read_admin_rules([{"id": RID.replace("cfg", "top") + "late", "properties": _rule_props(priority=50)},
                          {"id": RID.replace("cfg", "top") + "early", "properties": _rule_props(priority=5)}], source_name="a")
    b = read_admin_rules([{"id": RID.replace("cfg", "low") + "first", "properties": _rule_props(priority=1)}], source_name="b")
    both = AdminRules.combine([a, b])
    assert [r.name for r in both.evaluation_order("Inbound")] == ["early", "late", "first"]


def test_equal_priorities_in_one_configuration_warn():
    rules = read_admin_rules([{"id": RID + "x", "properties": _rule_props()},
                              {"id": RID.replace("coll", "c2") + "y", "properties": _rule_props()}], source_name="m")
    assert len(rules.rules) == 2 and any("share priority 10" in w for w in rules.warnings)


def test_log_names_lose_the_guid_real_logs_append():
    assert strip_log_suffix("BlockHighRiskTCPPortsFromInternet_8e593d16-5f9d-4b25-b3b2-df7b6951a08b") == \
        "BlockHighRiskTCPPortsFromInternet"
    assert strip_log_suffix("Internet") == "Internet" and strip_log_suffix("a_b") == "a_b"


def test_not_admin_rules_is_an_error(tmp_path):
    f = tmp_path / "x.json"
    f.write_text('{"hello": 1}')
    with pytest.raises(PolicyError, match="not security admin rules"):
        read_admin_rules(f)
    f.write_text('{"resources": []}')
    with pytest.raises(PolicyError, match="defines no Microsoft.Network/networkManagers"):
        read_admin_rules(f)

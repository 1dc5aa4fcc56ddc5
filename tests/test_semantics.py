"""Azure's NSG semantics, one worked case per bullet of docs/azure-semantics.md §1 and §4.

Each test name says the rule of the spec it checks; the docstring gives the reasoning.
Unless a test says otherwise the NIC is 10.0.0.4 in a VNet 10.0.0.0/16.
"""
from __future__ import annotations

import pytest

from adu_fw import PolicyError
from adu_fw.policy import Policy

from nsgkit import nsg, rule

VNET = ["10.0.0.0/16"]
VM = "10.0.0.4"


def pol(*rules, **kw):
    kw.setdefault("virtual_network", VNET)
    return Policy.from_nsg(nsg("nsg1", *rules), **kw)


# -- IP flow verify's documented results (§4, [IPFV-TUT]) -----------------------------------------
def test_ipfv_outbound_to_internet_address_is_allowed_by_AllowInternetOutBound():
    """13.107.21.200 lies in 12.0.0.0/6, part of Internet: the default NSG allows it at 65001."""
    v = pol().check("Outbound", "TCP", VM, 60000, "13.107.21.200", 80)
    assert (v.access, v.rule, v.priority, v.log_rule) == ("Allow", "AllowInternetOutBound", 65001, "DefaultRule_AllowInternetOutBound")


def test_ipfv_outbound_to_private_address_outside_vnet_is_denied_by_DenyAllOutBound():
    """172.31.0.100 is private (172.16.0.0/12) and outside the VNet: neither VirtualNetwork nor Internet."""
    v = pol().check("Outbound", "TCP", VM, 60000, "172.31.0.100", 80)
    assert (v.access, v.rule, v.priority) == ("Deny", "DenyAllOutBound", 65500)


def test_ipfv_inbound_from_private_address_outside_vnet_is_denied_by_DenyAllInBound():
    v = pol().check("Inbound", "TCP", "172.31.0.100", 60000, VM, 80)
    assert (v.access, v.rule, v.priority) == ("Deny", "DenyAllInBound", 65500)


# -- default rules (§1.3) -----------------------------------------------------------------------------
def test_AllowVnetInBound_covers_vnet_to_vnet_any_protocol():
    v = pol().check("Inbound", 47, "10.0.9.9", 0, VM, 0)  # GRE inside the VNet
    assert (v.access, v.rule, v.priority) == ("Allow", "AllowVnetInBound", 65000)


def test_AllowVnetOutBound():
    v = pol().check("Outbound", "udp", VM, 5000, "10.0.200.1", 53)
    assert (v.access, v.rule) == ("Allow", "AllowVnetOutBound")


def test_host_vip_is_in_VirtualNetwork_so_probes_hit_AllowVnetInBound_first():
    """Edge case 8: 168.63.129.16 is in VirtualNetwork and AzureLoadBalancer; 65000 comes before 65001."""
    v = pol().check("Inbound", "tcp", "168.63.129.16", 50000, VM, 80)
    assert (v.access, v.rule, v.priority) == ("Allow", "AllowVnetInBound", 65000)


def test_AllowAzureLoadBalancerInBound_when_destination_is_outside_VirtualNetwork():
    """The LB rule's destination is '*': it decides when the VNet rule's destination test fails."""
    v = pol().check("Inbound", "tcp", "168.63.129.16", 50000, "8.8.8.8", 80)
    assert (v.access, v.rule, v.priority) == ("Allow", "AllowAzureLoadBalancerInBound", 65001)


def test_internet_inbound_is_denied_by_default():
    v = pol().check("Inbound", "tcp", "8.8.8.8", 50000, VM, 22)
    assert (v.access, v.rule) == ("Deny", "DenyAllInBound")


def test_vnet_prefixes_beyond_the_nic_vnet_count_as_VirtualNetwork():
    """Peered and on-premises space given with --vnet is VirtualNetwork (and so not Internet)."""
    p = pol(virtual_network=["10.0.0.0/16", "172.31.0.0/16"])
    assert p.check("Outbound", "tcp", VM, 1, "172.31.0.100", 80).rule == "AllowVnetOutBound"


def test_vnet_space_is_never_guessed():
    with pytest.raises(PolicyError, match="--vnet"):
        Policy.from_nsg(nsg("n"))


# -- Internet (product decision 2) ------------------------------------------------------------------
@pytest.mark.parametrize(
    "dst, internet",
    [
        ("13.107.21.200", True),
        ("8.8.8.8", True),
        ("20.119.27.200", True),  # Azure public space is Internet too
        ("172.31.0.100", False),
        ("192.168.1.1", False),
        ("100.64.0.1", False),
        ("169.254.169.254", False),
        ("224.0.0.1", False),
        ("10.1.0.1", False),  # private, outside the VNet
        ("2001:db8::1", True),  # global unicast 2000::/3
        ("fc00::1", False),
        ("fe80::1", False),
    ],
)
def test_internet_tag(dst, internet):
    src = "2001:db8:1::4" if ":" in dst else VM
    v = pol().check("Outbound", "tcp", src, 1000, dst, 443)
    assert (v.rule == "AllowInternetOutBound") is internet, v


# -- priorities and first match (§1.2, edge case 2) ---------------------------------------------------------
def test_first_match_by_priority_not_by_specificity():
    """A broad allow at 100 beats a specific deny at 200 that also matches."""
    p = pol(
        rule("deny-one-host", 200, access="Deny", src="8.8.8.8/32", dport="22"),
        rule("allow-ssh", 100, src="Internet", dport="22", protocol="Tcp"),
    )
    v = p.check("Inbound", "tcp", "8.8.8.8", 1, VM, 22)
    assert (v.access, v.rule, v.priority) == ("Allow", "allow-ssh", 100)


def test_rule_order_in_the_file_does_not_matter():
    a = rule("a", 300, access="Deny", dport="80")
    b = rule("b", 150, dport="80")
    assert pol(a, b).check("Inbound", "tcp", "8.8.8.8", 1, VM, 80).rule == "b"
    assert pol(b, a).check("Inbound", "tcp", "8.8.8.8", 1, VM, 80).rule == "b"


def test_same_priority_in_both_directions_is_fine():
    p = pol(rule("in", 100, "Inbound", dport="80"), rule("out", 100, "Outbound", access="Deny", dport="80"))
    assert p.check("Inbound", "tcp", "8.8.8.8", 1, VM, 80).rule == "in"
    assert p.check("Outbound", "tcp", VM, 1, "8.8.8.8", 80).rule == "out"


def test_rules_of_the_other_direction_never_match():
    p = pol(rule("deny-out-all", 100, "Outbound", access="Deny"))
    assert p.check("Inbound", "tcp", "10.0.1.1", 1, VM, 80).rule == "AllowVnetInBound"


def test_custom_rule_overrides_a_default_rule():
    p = pol(rule("deny-vnet", 4096, access="Deny", src="VirtualNetwork", dst="VirtualNetwork"))
    v = p.check("Inbound", "tcp", "10.0.1.1", 1, VM, 80)
    assert (v.access, v.rule, v.log_rule) == ("Deny", "deny-vnet", "UserRule_deny-vnet")


# -- protocols (§1.1, decisions 4 and 5) -------------------------------------------------------------------
@pytest.mark.parametrize(
    "rule_proto, flow_proto, matches",
    [
        ("Tcp", "tcp", True),
        ("Tcp", "udp", False),  # Tcp never matches UDP to the same port
        ("Udp", "udp", True),
        ("Icmp", "icmp", True),
        ("Icmp", "tcp", False),
        ("Icmp", 58, False),  # ICMPv6 is not an NSG protocol
        ("Esp", "esp", True),
        ("Esp", 50, True),
        ("Ah", "ah", True),
        ("Ah", "esp", False),
        ("*", "tcp", True),
        ("*", "esp", True),
        ("*", 47, True),  # decision 4: '*' is every IP protocol
        ("TCP", "tcp", True),  # case varies in the wild
    ],
)
def test_protocol_matching(rule_proto, flow_proto, matches):
    p = pol(rule("r", 100, access="Deny", protocol=rule_proto, src="8.8.8.8"))
    assert (p.check("Inbound", flow_proto, "8.8.8.8", 0, VM, 0).rule == "r") is matches


def test_ports_are_not_checked_for_protocols_without_ports():
    """Decision 5 (edge case 12): an ICMP/ESP flow passes any port criterion."""
    p = pol(rule("r", 100, access="Deny", protocol="*", src="8.8.8.8", dport="443", sport="1000-2000"))
    assert p.check("Inbound", "icmp", "8.8.8.8", 0, VM, 0).rule == "r"
    assert p.check("Inbound", "esp", "8.8.8.8", 0, VM, 0).rule == "r"
    assert p.check("Inbound", "tcp", "8.8.8.8", 0, VM, 443).rule == "DenyAllInBound"  # port 0 not in 1000-2000
    assert p.check("Inbound", "tcp", "8.8.8.8", 1500, VM, 443).rule == "r"


# -- augmented rules (§1.1, edge case 13) ---------------------------------------------------------------------
def test_augmented_rule_prefix_and_port_lists():
    p = pol(rule("web", 100, src=["8.8.8.0/24", "1.1.1.1"], dport=["80", "8000-8080", "443"], protocol="Tcp"))
    for src, port, hit in [
        ("8.8.8.200", 80, True),
        ("1.1.1.1", 8080, True),
        ("1.1.1.1", 8000, True),
        ("1.1.1.2", 443, False),
        ("8.8.8.1", 8081, False),
        ("8.8.8.1", 443, True),
    ]:
        assert (pol_rule := p.check("Inbound", "tcp", src, 1, VM, port).rule) == ("web" if hit else "DenyAllInBound"), (src, port, pol_rule)


def test_comma_list_in_a_single_port_field():
    """'80, 10000-10005' in one field is a list (§1.1)."""
    p = pol(rule("r", 100, dport="80, 10000-10005"))
    assert p.check("Inbound", "tcp", "8.8.8.8", 1, VM, 10003).rule == "r"
    assert p.check("Inbound", "tcp", "8.8.8.8", 1, VM, 10006).rule == "DenyAllInBound"


def test_singular_and_plural_fields_together_mean_any_element():
    r = rule("r", 100, src="1.1.1.1")
    r["properties"]["sourceAddressPrefixes"] = ["2.2.2.2"]
    p = pol(r)
    assert p.check("Inbound", "tcp", "2.2.2.2", 1, VM, 1).rule == "r"
    assert p.check("Inbound", "tcp", "1.1.1.1", 1, VM, 1).rule == "r"


def test_port_edges():
    p = pol(rule("lo", 100, dport="0"), rule("hi", 110, dport="65535"))
    assert p.check("Inbound", "udp", "8.8.8.8", 1, VM, 0).rule == "lo"
    assert p.check("Inbound", "udp", "8.8.8.8", 1, VM, 65535).rule == "hi"
    assert p.check("Inbound", "udp", "8.8.8.8", 1, VM, 1).rule == "DenyAllInBound"


# -- service tags (§2, decision 7) ------------------------------------------------------------------------
def test_service_tag_allows_device_update_and_nothing_else():
    p = pol(
        rule("adu", 100, "Outbound", protocol="Tcp", dst="AzureDeviceUpdate", dport="443"),
        rule("deny-internet", 200, "Outbound", access="Deny", dst="Internet"),
    )
    assert p.check("Outbound", "tcp", VM, 50000, "20.119.27.200", 443).rule == "adu"
    assert p.check("Outbound", "tcp", VM, 50000, "20.119.27.200", 80).rule == "deny-internet"
    assert p.check("Outbound", "tcp", VM, 50000, "20.119.27.191", 443).rule == "deny-internet"


def test_service_tag_names_are_case_insensitive_and_regional_tags_work():
    p = pol(rule("st", 100, "Outbound", dst="storage.westeurope"), rule("adu", 110, "Outbound", dst="azuredeviceupdate"))
    weu = "13.69.40.16"  # first prefix of Storage.WestEurope (13.69.40.16/28)
    assert p.check("Outbound", "tcp", VM, 1, weu, 443).rule == "st"
    assert p.check("Outbound", "tcp", VM, 1, "20.119.27.200", 443).rule == "adu"


def test_service_tag_ipv6_prefixes_depend_on_the_file_version():
    r = rule("adu", 100, "Outbound", dst="AzureDeviceUpdate")
    src, dst = "2001:db8::4", "2603:1030:210:11::201"
    new = pol(r, virtual_network=VNET + ["2001:db8::/64"])
    old = pol(r, virtual_network=VNET + ["2001:db8::/64"], service_tags="20240603")
    assert new.check("Outbound", "tcp", src, 1, dst, 443).rule == "adu"
    assert old.check("Outbound", "tcp", src, 1, dst, 443).rule == "AllowInternetOutBound"


def test_unknown_service_tag_is_an_error_naming_nsg_rule_and_field():
    with pytest.raises(PolicyError, match=r"NSG 'nsg1' rule 'r': field 'destinationAddressPrefix': unknown service tag 'AzureDeviceUpdat'"):
        pol(rule("r", 100, "Outbound", dst="AzureDeviceUpdat"))


def test_tag_without_NSG_feature_is_accepted_with_a_warning(tags_old):
    no_nsg = next(t for t in tags_old if t.network_features is None)
    p = pol(rule("r", 100, "Outbound", dst=no_nsg.name), service_tags="20240603")
    assert any("does not list NSG" in w for w in p.warnings)


# -- ASGs (§1.2, edge case 14) ----------------------------------------------------------------------------
def asg_rule(name, prio, side, asgs, **kw):
    r = rule(name, prio, **kw)
    key = "destinationAddressPrefix" if side == "destination" else "sourceAddressPrefix"
    del r["properties"][key]
    r["properties"][key.replace("AddressPrefix", "ApplicationSecurityGroups")] = [
        {"id": f"/subscriptions/x/resourceGroups/rg/providers/Microsoft.Network/applicationSecurityGroups/{a}"} for a in asgs
    ]
    return r


def test_asg_rule_applies_only_to_member_nics():
    p = pol(
        asg_rule("web-in", 100, "destination", ["AsgWeb"], dport="443", protocol="Tcp", src="Internet"),
        asgs={"AsgWeb": ["10.0.0.4"], "AsgDb": ["10.0.0.5"]},
    )
    assert p.check("Inbound", "tcp", "8.8.8.8", 1, "10.0.0.4", 443).rule == "web-in"
    assert p.check("Inbound", "tcp", "8.8.8.8", 1, "10.0.0.5", 443).rule == "DenyAllInBound"


def test_source_asg():
    p = pol(asg_rule("from-web", 100, "source", ["asgweb"], access="Deny"), asgs={"AsgWeb": "10.0.0.4,10.0.0.6"})
    assert p.check("Inbound", "tcp", "10.0.0.6", 1, "10.0.0.5", 1433).rule == "from-web"
    assert p.check("Inbound", "tcp", "10.0.0.7", 1, "10.0.0.5", 1433).rule == "AllowVnetInBound"


def test_unknown_asg_membership_is_an_error_that_names_the_option():
    with pytest.raises(PolicyError, match=r"rule 'r'.*'AsgX': membership unknown; pass --asg AsgX="):
        pol(asg_rule("r", 100, "source", ["AsgX"]))


# -- IPv6 (§1.9) --------------------------------------------------------------------------------------
def test_ipv6_rules_match_ipv6_flows_only():
    p = pol(
        rule("v6", 100, src="2001:db8:aaaa::/48", access="Deny"),
        rule("v4", 110, src="0.0.0.0/0", access="Deny"),
        virtual_network=VNET + ["2001:db8:1::/64"],
    )
    assert p.check("Inbound", "tcp", "2001:db8:aaaa::1", 1, "2001:db8:1::4", 80).rule == "v6"
    assert p.check("Inbound", "tcp", "2001:db8:bbbb::1", 1, "2001:db8:1::4", 80).rule == "DenyAllInBound"
    assert p.check("Inbound", "tcp", "8.8.8.8", 1, VM, 80).rule == "v4"


def test_ipv6_prefix_edges_128_and_0():
    p = pol(rule("host", 100, src="2001:db8::1/128", access="Deny"), rule("all6", 110, src="::/0"), virtual_network=VNET + ["2001:db8:1::/64"])
    assert p.check("Inbound", "udp", "2001:db8::1", 1, "2001:db8:1::4", 1).rule == "host"
    assert p.check("Inbound", "udp", "2001:db8::2", 1, "2001:db8:1::4", 1).rule == "all6"


# -- subnet NSG + NIC NSG (§1.6, edge cases 3 and 4) ----------------------------------------------------------------
ALLOW_80 = rule("allow-80", 100, dport="80", protocol="Tcp")
DENY_80 = rule("deny-80", 100, dport="80", access="Deny", protocol="Tcp")
ALLOW_OUT = rule("allow-out-80", 100, "Outbound", dport="80", protocol="Tcp")
DENY_OUT = rule("deny-out-80", 100, "Outbound", dport="80", access="Deny", protocol="Tcp")


def pair(subnet, nic):
    return Policy.from_nsgs(
        subnet=nsg("subnet-nsg", *subnet) if subnet is not None else None,
        nic=nsg("nic-nsg", *nic) if nic is not None else None,
        virtual_network=VNET,
    )


def test_inbound_subnet_deny_ends_evaluation_before_the_nic_nsg():
    v = pair([DENY_80], [ALLOW_80]).check("Inbound", "tcp", "8.8.8.8", 1, VM, 80)
    assert (v.access, v.rule, v.nsg, [t.level for t in v.trail]) == ("Deny", "deny-80", "subnet-nsg", ["subnet"])


def test_inbound_needs_both_nsgs_to_allow():
    v = pair([ALLOW_80], []).check("Inbound", "tcp", "8.8.8.8", 1, VM, 80)
    assert (v.access, v.rule, v.nsg) == ("Deny", "DenyAllInBound", "nic-nsg")


def test_inbound_allow_is_reported_by_the_last_nsg_that_allowed_the_nic():
    v = pair([ALLOW_80], [ALLOW_80]).check("Inbound", "tcp", "8.8.8.8", 1, VM, 80)
    assert (v.access, v.nsg, [t.level for t in v.trail]) == ("Allow", "nic-nsg", ["subnet", "nic"])


def test_outbound_nic_first_then_subnet():
    v = pair([ALLOW_OUT], [DENY_OUT]).check("Outbound", "tcp", VM, 1, "8.8.8.8", 80)
    assert (v.access, v.nsg, [t.level for t in v.trail]) == ("Deny", "nic-nsg", ["nic"])
    v = pair([DENY_OUT], [ALLOW_OUT]).check("Outbound", "tcp", VM, 1, "8.8.8.8", 80)
    assert (v.access, v.nsg, [t.level for t in v.trail]) == ("Deny", "subnet-nsg", ["nic", "subnet"])
    v = pair([ALLOW_OUT], [ALLOW_OUT]).check("Outbound", "tcp", VM, 1, "8.8.8.8", 80)
    assert (v.access, v.nsg) == ("Allow", "subnet-nsg")  # the last NSG that allowed outbound


def test_a_missing_nsg_allows_at_its_level():
    v = pair(None, [ALLOW_80]).check("Inbound", "tcp", "8.8.8.8", 1, VM, 80)
    assert (v.access, v.nsg, v.rule) == ("Allow", "nic-nsg", "allow-80")
    v = pair([ALLOW_80], None).check("Inbound", "tcp", "8.8.8.8", 1, VM, 80)
    assert (v.access, v.nsg) == ("Allow", "subnet-nsg")


def test_no_nsg_at_all_allows_everything():
    v = Policy.from_nsgs(virtual_network=VNET).check("Inbound", "tcp", "8.8.8.8", 1, VM, 22)
    assert (v.access, v.rule, v.nsg, v.trail) == ("Allow", None, None, ())


# -- the trail (NSG diagnostics, §4) ----------------------------------------------------------------------------
def test_trail_reports_the_five_field_matches_per_rule():
    p = pol(rule("r", 100, protocol="Udp", src="8.8.8.8", dport="53"))
    v = p.check("Inbound", "tcp", "8.8.8.8", 1, VM, 53)
    (t,) = v.trail
    first = t.rules[0]
    assert (first.rule, first.protocol, first.source, first.source_port, first.destination, first.destination_port) == (
        "r", False, True, True, True, True)
    assert [r.rule for r in t.rules] == ["r", "AllowVnetInBound", "AllowAzureLoadBalancerInBound", "DenyAllInBound"]
    assert t.rules[-1].matched and not any(r.matched for r in t.rules[:-1])
    d = v.to_dict()
    assert {"access", "rule", "priority", "nsg", "trail"} <= set(d)
    assert d["trail"][0]["rules"][0]["protocolMatched"] is False


# -- flow input errors --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args, match",
    [
        (("sideways", "tcp", VM, 1, "8.8.8.8", 1), "unknown direction"),
        (("Inbound", "tcpx", VM, 1, "8.8.8.8", 1), "unknown protocol"),
        (("Inbound", "*", VM, 1, "8.8.8.8", 1), "a flow has one protocol"),
        (("Inbound", "tcp", "10.0.0.256", 1, "8.8.8.8", 1), "not an IPv4 or IPv6 address"),
        (("Inbound", "tcp", VM, 70000, "8.8.8.8", 1), "outside 0-65535"),
        (("Inbound", "tcp", VM, 1, "::1", 1), "must both be IPv4 or both IPv6"),
        (("Inbound", 256, VM, 1, "8.8.8.8", 1), "outside 0-255"),
    ],
)
def test_bad_flows_are_clear_errors(args, match):
    with pytest.raises(PolicyError, match=match):
        pol().check(*args)


# -- platform traffic (decision 6) and the AzurePlatform* tags (§1.8) ----------------------------------------
def test_platform_traffic_is_evaluated_like_any_flow_by_default():
    p = pol(rule("deny-all-out", 100, "Outbound", access="Deny"))
    v = p.check("Outbound", "udp", VM, 50000, "168.63.129.16", 53)
    assert (v.access, v.rule) == ("Deny", "deny-all-out")


def test_platform_bypass_option_models_the_data_plane():
    rules = [rule("deny-all-out", 100, "Outbound", access="Deny")]
    p = pol(*rules, platform_bypass=True)
    v = p.check("Outbound", "udp", VM, 50000, "168.63.129.16", 53)
    assert (v.access, v.rule) == ("Allow", "PlatformBypass")
    assert p.check("Outbound", "tcp", VM, 50000, "169.254.169.254", 80).rule == "PlatformBypass"
    assert p.check("Outbound", "tcp", VM, 50000, "8.8.8.8", 80).rule == "deny-all-out"  # other traffic as usual
    t = p.evaluate({"direction": ["O", "O"], "protocol": ["udp", "tcp"], "src_ip": [VM, VM], "src_port": [1, 1],
                    "dst_ip": ["168.63.129.16", "8.8.8.8"], "dst_port": [53, 80]})
    assert t.column("rule").to_pylist() == ["PlatformBypass", "deny-all-out"]


def test_platform_tags_filter_platform_traffic_even_with_the_bypass():
    p = pol(rule("no-imds", 100, "Outbound", access="Deny", dst="AzurePlatformIMDS"),
            rule("no-dns", 110, "Outbound", access="Deny", dst="azureplatformdns", dport="53", protocol="Udp"),
            platform_bypass=True)
    assert p.check("Outbound", "tcp", VM, 1, "169.254.169.254", 80).rule == "no-imds"
    assert p.check("Outbound", "udp", VM, 1, "168.63.129.16", 53).rule == "no-dns"
    assert p.check("Outbound", "tcp", VM, 1, "168.63.129.16", 80).rule == "PlatformBypass"
    with pytest.raises(PolicyError, match="AzurePlatformLKM"):
        pol(rule("lkm", 100, "Outbound", dst="AzurePlatformLKM"))

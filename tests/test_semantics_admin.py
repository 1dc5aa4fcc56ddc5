"""Security admin rules before the NSGs (docs/semantics.md, "Security admin rules"): a worked case for
each action, Allow followed by an NSG deny, no NSG, several configurations, subnet+NIC, IPv6, tags,
network groups, platform bypass; the compiled matcher answers the same as the reference for each."""
from __future__ import annotations

import pytest

from adu_fw import Policy, PolicyError
from adu_fw.adminrules import read_admin_rules

from nsgkit import nsg, rule

TAGS = "20240610"
VNET = ["10.0.0.0/16", "2001:db8::/48"]
RID = ("/subscriptions/0/resourceGroups/rg/providers/Microsoft.Network/networkManagers/{m}/securityAdminConfigurations/{c}/"
       "ruleCollections/{k}/rules/{n}")


def admin(name, priority, access, direction="Inbound", protocol="Tcp", src="*", dst="*", dports=("*",), *, c="cfg",
          k="coll", m="mgr", src_type="IPPrefix", dst_type="IPPrefix"):
    def items(v, t):
        return [{"addressPrefixType": t, "addressPrefix": x} for x in ([v] if isinstance(v, str) else v)]

    return {"id": RID.format(m=m, c=c, k=k, n=name), "kind": "Custom",
            "properties": {"priority": priority, "access": access, "direction": direction, "protocol": protocol,
                           "sources": items(src, src_type), "destinations": items(dst, dst_type),
                           "sourcePortRanges": ["0-65535"], "destinationPortRanges": list(dports)}}


ADMIN = [
    admin("scanner-always", 10, "AlwaysAllow", src="198.51.100.0/24"),
    admin("deny-rdp", 20, "Deny", dports=["3389"]),
    admin("allow-web", 30, "Allow", dports=["80", "443"]),
    admin("deny-v6-telnet", 40, "Deny", src="2001:db8:bad::/48", dports=["23"]),
]
APP = nsg("app-nsg",
          rule("allow-ssh", 100, protocol="Tcp", dport="22"),
          rule("deny-web-from-bad", 200, access="Deny", protocol="Tcp", src="203.0.113.0/24", dport="80"),
          rule("allow-web", 300, protocol="Tcp", dport="80"))


def policy(admin_rules=ADMIN, **kw):
    kw.setdefault("virtual_network", VNET)
    kw.setdefault("service_tags", TAGS)
    if "subnet" in kw or "nic" in kw:
        return Policy.from_nsgs(admin_rules=admin_rules, **kw)
    return Policy.from_nsg(kw.pop("nsg_doc", APP), admin_rules=admin_rules, **kw)


def both(p, direction, proto, src, sport, dst, dport):
    """The reference verdict, after checking the compiled matcher answers the same (access, rule, NSG column)."""
    v = p.check(direction, proto, src, sport, dst, dport)
    t = p.evaluate({"direction": [direction], "protocol": [proto], "src_ip": [src], "src_port": [sport], "dst_ip": [dst],
                    "dst_port": [dport]})
    assert (t.column("access")[0].as_py(), t.column("rule")[0].as_py(), t.column("nsg")[0].as_py(),
            t.column("log_rule")[0].as_py()) == (v.access, v.rule, v.nsg, v.log_rule)
    return v


def test_deny_ends_it_and_the_nsg_is_not_consulted():
    v = both(policy(), "Inbound", "tcp", "8.8.8.8", 5000, "10.0.0.4", 3389)
    assert (v.access, v.rule, v.nsg, v.layer, v.log_rule) == ("Deny", "deny-rdp", "cfg/coll", "admin", "deny-rdp")
    assert [t.level for t in v.trail] == ["admin"] and v.trail[0].access == "Deny"


def test_always_allow_ends_it_even_where_the_nsg_denies():
    v = both(policy(), "Inbound", "tcp", "198.51.100.7", 5000, "10.0.0.4", 3389)  # the NSG would deny (DenyAllInBound)
    assert (v.access, v.rule, v.layer) == ("Allow", "scanner-always", "admin")
    assert v.trail[0].access == "AlwaysAllow" and len(v.trail) == 1


def test_allow_hands_over_to_the_nsg_which_denies():
    v = both(policy(), "Inbound", "tcp", "203.0.113.9", 5000, "10.0.0.4", 80)
    assert (v.access, v.rule, v.nsg, v.layer) == ("Deny", "deny-web-from-bad", "app-nsg", "nsg")
    assert [(t.level, t.access, t.rule) for t in v.trail] == [("admin", "Allow", "allow-web"), ("nsg", "Deny", "deny-web-from-bad")]


def test_allow_hands_over_to_the_nsg_which_allows_and_reports():
    v = both(policy(), "Inbound", "tcp", "8.8.8.8", 5000, "10.0.0.4", 80)
    assert (v.access, v.rule, v.nsg, v.layer) == ("Allow", "allow-web", "app-nsg", "nsg")
    v = both(policy(), "Inbound", "tcp", "8.8.8.8", 5000, "10.0.0.4", 443)  # admin Allow, the NSG denies by default
    assert (v.access, v.rule) == ("Deny", "DenyAllInBound")


def test_no_admin_match_goes_to_the_nsg_with_the_admin_stage_in_the_trail():
    v = both(policy(), "Inbound", "tcp", "8.8.8.8", 5000, "10.0.0.4", 22)
    assert (v.access, v.rule, v.layer) == ("Allow", "allow-ssh", "nsg")
    admin_trail = v.trail[0]
    assert (admin_trail.level, admin_trail.access, admin_trail.rule) == ("admin", None, None)
    assert [r.rule for r in admin_trail.rules] == ["scanner-always", "deny-rdp", "allow-web", "deny-v6-telnet"]
    assert not any(r.matched for r in admin_trail.rules) and admin_trail.rules[0].collection == "cfg/coll"


def test_direction_matters():
    v = both(policy(), "Outbound", "tcp", "10.0.0.4", 5000, "8.8.8.8", 3389)  # deny-rdp is inbound only
    assert (v.access, v.rule, v.layer) == ("Allow", "AllowInternetOutBound", "nsg")


def test_ipv6():
    v = both(policy(), "Inbound", "tcp", "2001:db8:bad::5", 5000, "2001:db8::4", 23)
    assert (v.access, v.rule) == ("Deny", "deny-v6-telnet")
    v = both(policy(), "Inbound", "tcp", "2001:db8::99", 5000, "2001:db8::4", 23)
    assert (v.access, v.rule) == ("Allow", "AllowVnetInBound")  # inside the VNet's IPv6 space


def test_no_nsg_admin_allow_is_reported_and_no_match_allows_without_a_rule():
    p = Policy.from_nsgs(admin_rules=ADMIN, virtual_network=VNET, service_tags=TAGS)
    v = both(p, "Inbound", "tcp", "8.8.8.8", 5000, "10.0.0.4", 443)
    assert (v.access, v.rule, v.layer) == ("Allow", "allow-web", "admin")
    v = both(p, "Inbound", "tcp", "8.8.8.8", 5000, "10.0.0.4", 8080)
    assert (v.access, v.rule, v.nsg, v.layer) == ("Allow", None, None, None)
    v = both(p, "Inbound", "tcp", "8.8.8.8", 5000, "10.0.0.4", 3389)
    assert (v.access, v.rule) == ("Deny", "deny-rdp")


def test_subnet_and_nic_after_the_admin_stage():
    sub = nsg("subnet-nsg", rule("allow-web", 100, protocol="Tcp", dport="80"))
    nic = nsg("nic-nsg", rule("deny-web", 100, access="Deny", protocol="Tcp", dport="80"))
    p = policy(subnet=sub, nic=nic)
    v = both(p, "Inbound", "tcp", "8.8.8.8", 5000, "10.0.0.4", 80)
    assert (v.access, v.rule, v.nsg) == ("Deny", "deny-web", "nic-nsg")
    assert [t.level for t in v.trail] == ["admin", "subnet", "nic"]
    v = both(p, "Inbound", "tcp", "198.51.100.1", 5000, "10.0.0.4", 80)
    assert (v.access, v.rule, v.layer) == ("Allow", "scanner-always", "admin")


def test_the_first_configuration_given_wins_a_conflict():
    top = [admin("top-allow", 100, "AlwaysAllow", dports=["3389"], c="top", m="root-mgr")]
    low = [admin("low-deny", 1, "Deny", dports=["3389"], c="low", m="sub-mgr")]
    p = policy([top, low])
    v = both(p, "Inbound", "tcp", "8.8.8.8", 5000, "10.0.0.4", 3389)
    assert (v.access, v.rule, v.nsg) == ("Allow", "top-allow", "top/coll")
    p = policy([low, top])
    assert both(p, "Inbound", "tcp", "8.8.8.8", 5000, "10.0.0.4", 3389).rule == "low-deny"
    # an Allow of the first configuration hands the flow on to the NSGs, not to the next configuration
    p = policy([[admin("top-allow", 100, "Allow", dports=["3389"], c="top", m="root-mgr")], low])
    v = both(p, "Inbound", "tcp", "8.8.8.8", 5000, "10.0.0.4", 3389)
    assert (v.access, v.rule, v.layer) == ("Deny", "DenyAllInBound", "nsg")


def test_service_tags_and_context_tags_in_admin_rules():
    rules = [admin("deny-internet-ssh", 10, "Deny", src="Internet", src_type="ServiceTag", dports=["22"]),
             admin("allow-adu", 20, "AlwaysAllow", direction="Outbound", dst="AzureDeviceUpdate", dst_type="ServiceTag",
                   dports=["443"])]
    p = policy(rules)
    assert both(p, "Inbound", "tcp", "8.8.8.8", 5000, "10.0.0.4", 22).rule == "deny-internet-ssh"
    assert both(p, "Inbound", "tcp", "10.0.9.9", 5000, "10.0.0.4", 22).rule == "allow-ssh"  # VNet space is not Internet
    assert both(p, "Outbound", "tcp", "10.0.0.4", 5000, "20.119.27.200", 443).rule == "allow-adu"
    with pytest.raises(PolicyError, match="needs the VNet address space"):
        Policy.from_nsgs(admin_rules=rules, service_tags=TAGS)
    with pytest.raises(PolicyError, match="unknown service tag 'NoSuchTag'"):
        policy([admin("x", 1, "Deny", src="NoSuchTag", src_type="ServiceTag")])


def test_network_groups_need_their_address_space():
    rules = [admin("deny-from-prod", 10, "Deny", protocol="Any", src="/subscriptions/0/networkGroups/prod", src_type="NetworkGroup")]
    with pytest.raises(PolicyError, match="--network-group prod=CIDR"):
        policy(rules)
    p = policy(rules, network_groups={"prod": ["10.50.0.0/16"]})
    assert both(p, "Inbound", "udp", "10.50.1.1", 5000, "10.0.0.4", 53).rule == "deny-from-prod"
    assert both(p, "Inbound", "udp", "10.51.1.1", 5000, "10.0.0.4", 53).rule == "DenyAllInBound"


def test_platform_traffic_meets_the_admin_rules_first():
    rules = [admin("deny-dns", 10, "Deny", direction="Outbound", protocol="Udp", dst="168.63.129.16/32", dports=["53"])]
    p = policy(rules, platform_bypass=True)
    v = both(p, "Outbound", "udp", "10.0.0.4", 5000, "168.63.129.16", 53)
    assert (v.access, v.rule, v.layer) == ("Deny", "deny-dns", "admin")
    v = both(p, "Outbound", "tcp", "10.0.0.4", 5000, "168.63.129.16", 80)
    assert (v.access, v.rule) == ("Allow", "PlatformBypass")


def test_admin_rules_alone_without_a_vnet():
    p = Policy.from_nsgs(admin_rules=[admin("deny-rdp", 20, "Deny", dports=["3389"])], service_tags=TAGS)
    assert both(p, "Inbound", "tcp", "1.2.3.4", 1, "10.0.0.4", 3389).rule == "deny-rdp"


def test_policy_accepts_an_adminrules_object_and_a_path(tmp_path):
    import json

    f = tmp_path / "admin.json"
    f.write_text(json.dumps({"value": ADMIN}))
    p1 = policy(str(f))
    p2 = policy(read_admin_rules(f))
    p3 = policy(f"{f}:cfg/coll")
    for p in (p1, p2, p3):
        assert [r.name for r in p.admin_stage("Inbound")] == ["scanner-always", "deny-rdp", "allow-web", "deny-v6-telnet"]

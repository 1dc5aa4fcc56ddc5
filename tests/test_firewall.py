"""Azure Firewall policies: the documented order, DNAT, network and application rules, IP Groups,
service tags, Any-with-port, and the compiled network-rule matcher against the reference."""
from __future__ import annotations

import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adu_fw import PolicyError
from adu_fw.cli import main
from adu_fw.firewall import FirewallPolicy
from adu_fw.policy import Policy


def net_rule(name, src=("*",), dst=("*",), ports=("*",), protos=("TCP",), **extra):
    return {"ruleType": "NetworkRule", "name": name, "ipProtocols": list(protos), "sourceAddresses": list(src),
            "destinationAddresses": list(dst), "destinationPorts": list(ports), **extra}


def coll(name, prio, action, rules, kind="FirewallPolicyFilterRuleCollection"):
    return {"ruleCollectionType": kind, "name": name, "priority": prio, "action": {"type": action}, "rules": rules}


def group(name, prio, *collections):
    return {"name": name, "properties": {"priority": prio, "ruleCollections": list(collections)}}


def app_rule(name, fqdns, protocols=(("Https", 443),), src=("*",)):
    return {"ruleType": "ApplicationRule", "name": name, "sourceAddresses": list(src), "targetFqdns": list(fqdns),
            "protocols": [{"protocolType": t, "port": p} for t, p in protocols]}


def nat_rule(name, fw_ip, port, to):
    return {"ruleType": "NatRule", "name": name, "ipProtocols": ["TCP"], "sourceAddresses": ["*"],
            "destinationAddresses": [fw_ip], "destinationPorts": [str(port)], "translatedAddress": to, "translatedPort": "22"}


def test_documented_ten_collection_order():
    """FW-RP-NEW worked example: parent groups first, then by group and collection priority, DNAT -> network -> app."""
    r = lambda n: [net_rule(n)]  # noqa: E731
    a = lambda n: [app_rule(n, ["x.example"])]  # noqa: E731
    nat = lambda n: [nat_rule(n, "203.0.113.1", 1000 + len(n), "10.0.0.4")]  # noqa: E731
    parent = [
        group("BaseRCG1", 200, coll("DNATRC1", 600, "Dnat", nat("DNATRC1"), "FirewallPolicyNatRuleCollection"),
              coll("DNATRC3", 610, "Dnat", nat("DNATRC3"), "FirewallPolicyNatRuleCollection"), coll("NetworkRC1", 800, "Allow", r("NetworkRC1"))),
        group("BaseRCG2", 300, coll("AppRC2", 1200, "Allow", a("AppRC2")), coll("NetworkRC2", 1300, "Allow", r("NetworkRC2"))),
    ]
    child = [
        group("ChildRCG1", 300, coll("ChNetRC1", 700, "Allow", r("ChNetRC1")), coll("ChAppRC1", 900, "Allow", a("ChAppRC1"))),
        group("ChildRCG2", 650, coll("ChNetRC2", 1100, "Allow", r("ChNetRC2")), coll("ChAppRC2", 2000, "Allow", a("ChAppRC2")),
              coll("ChDNATRC3", 3000, "Dnat", nat("ChDNATRC3"), "FirewallPolicyNatRuleCollection")),
    ]
    fw = FirewallPolicy.load(child, parents=[parent])
    order = []
    for rule in fw.rules:
        if rule.collection not in order:
            order.append(rule.collection)
    assert order == ["DNATRC1", "DNATRC3", "ChDNATRC3", "NetworkRC1", "NetworkRC2", "ChNetRC1", "ChNetRC2", "AppRC2", "ChAppRC1", "ChAppRC2"]


@pytest.fixture(scope="module")
def fw():
    policy = [group("DefaultNetworkRuleCollectionGroup", 200,
        coll("deny-bad", 100, "Deny", [net_rule("deny-one", dst=["20.119.27.200"], ports=["443"])]),
        coll("allow-adu", 200, "Allow", [net_rule("adu", src=["10.0.0.0/16"], dst=["AzureDeviceUpdate"], ports=["443"])]),
        coll("allow-dns", 300, "Allow", [net_rule("dns-any", dst=["168.63.129.16"], ports=["53"], protos=["Any"])]),
        coll("allow-icmp", 400, "Allow", [net_rule("icmp-any", dst=["192.0.2.0/24"], ports=["*"], protos=["Any"])]),
        coll("groups", 500, "Allow", [net_rule("from-group", src=[], dst=["198.51.100.0/24"], sourceIpGroups=["/x/ipGroups/web"]),
                                      net_rule("from-empty", src=[], dst=["198.51.100.0/24"], ports=["8080"], sourceIpGroups=["/x/ipGroups/empty"])]),
        coll("fqdn", 600, "Allow", [net_rule("kms", dst=[], ports=["1688"], destinationFqdns=["kms.core.windows.net", "unknown.example"])]),
    ), group("DefaultApplicationRuleCollectionGroup", 300,
        coll("apps", 100, "Allow", [app_rule("github", ["github.com", "*.githubusercontent.com"])]),
    ), group("DefaultDnatRuleCollectionGroup", 100,
        coll("dnat", 100, "Dnat", [nat_rule("ssh-in", "203.0.113.10", 2222, "10.0.0.4")], "FirewallPolicyNatRuleCollection"),
    )]
    return FirewallPolicy.load(policy, ip_groups={"web": ["10.0.1.0/24", "10.0.2.1-10.0.2.3"], "empty": []},
                               dns={"kms.core.windows.net": ["20.118.99.224"]})


def test_network_rules_tags_and_order(fw):
    assert fw.check("tcp", "10.0.0.4", 50000, "20.119.27.200", 443).rule == "deny-one"  # earlier collection wins
    v = fw.check("tcp", "10.0.0.4", 50000, "20.119.27.201", 443)
    assert (v.access, v.rule, v.collection, v.kind) == ("Allow", "adu", "allow-adu", "network")
    assert fw.check("tcp", "10.9.0.4", 50000, "20.119.27.201", 443).access == "Deny"  # default deny


def test_any_with_a_port_is_tcp_and_udp_and_any_without_is_every_protocol(fw):
    assert fw.check("udp", "10.0.0.4", 5000, "168.63.129.16", 53).rule == "dns-any"
    assert fw.check("tcp", "10.0.0.4", 5000, "168.63.129.16", 53).rule == "dns-any"
    assert fw.check("icmp", "10.0.0.4", 0, "168.63.129.16", 0).rule is None  # Any + port 53 is TCP+UDP only
    assert fw.check("icmp", "10.0.0.4", 0, "192.0.2.9", 0).rule == "icmp-any"
    assert fw.check(47, "10.0.0.4", 0, "192.0.2.9", 0).rule == "icmp-any"  # Any: every IANA protocol


def test_ip_groups_and_empty_group_skips_the_rule(fw):
    assert fw.check("tcp", "10.0.2.2", 1, "198.51.100.9", 8080).rule == "from-group"  # range member
    assert fw.check("tcp", "10.0.3.1", 1, "198.51.100.9", 8080).rule is None
    assert any("IP Group 'empty' is empty" in n for n in fw.notes)


def test_fqdns_resolved_through_the_dns_map_and_unresolved_reported(fw):
    assert fw.check("tcp", "10.0.0.4", 1, "20.118.99.224", 1688).rule == "kms"
    assert any("unknown.example" in n and "not in the DNS map" in n for n in fw.notes)


def test_application_rules_need_an_fqdn(fw):
    assert fw.check("tcp", "10.0.0.4", 1, "140.82.121.4", 443, fqdn="github.com").rule == "github"
    assert fw.check("tcp", "10.0.0.4", 1, "185.199.108.133", 443, fqdn="raw.githubusercontent.com").kind == "application"
    assert fw.check("tcp", "10.0.0.4", 1, "140.82.121.4", 80, fqdn="github.com").rule is None  # https port only
    v = fw.check("tcp", "10.0.0.4", 1, "140.82.121.4", 443)
    assert v.rule is None and "no FQDN" in v.notes[0]


def test_dnat_translates_and_allows(fw):
    v = fw.check("tcp", "8.8.8.8", 40000, "203.0.113.10", 2222)
    assert (v.access, v.kind, v.translated) == ("Allow", "nat", "10.0.0.4:22")


def test_service_tag_as_source_is_an_error():
    bad = [group("g", 100, coll("c", 100, "Allow", [net_rule("r", src=["AzureCloud"])]))]
    with pytest.raises(PolicyError, match="service tag 'AzureCloud' as a source"):
        FirewallPolicy.load(bad)
    with pytest.raises(PolicyError, match="IP Group 'nope': members unknown"):
        FirewallPolicy.load([group("g", 100, coll("c", 100, "Allow", [net_rule("r", src=[], sourceIpGroups=["/x/ipGroups/nope"])]))])


def test_bulk_evaluate_with_fqdn_column(fw):
    t = fw.evaluate({"protocol": ["tcp", "tcp", "udp", "tcp", "tcp"], "src_ip": ["10.0.0.4", "8.8.8.8", "10.0.0.4", "10.0.0.4", "10.0.0.4"],
                     "src_port": [1, 2, 3, 4, 5], "dst_ip": ["20.119.27.201", "203.0.113.10", "168.63.129.16", "140.82.121.4", "140.82.121.4"],
                     "dst_port": [443, 2222, 53, 443, 443], "fqdn": [None, None, None, "github.com", None]})
    assert t.column("rule").to_pylist() == ["adu", "ssh-in", "dns-any", "github", None]
    assert t.column("access").to_pylist() == ["Allow", "Allow", "Allow", "Allow", "Deny"]
    assert t.schema.metadata[b"flows_without_fqdn_unmatched"] == b"1"


def test_arm_template_and_cli(tmp_path, capsys):
    template = {"resources": [
        {"type": "Microsoft.Network/firewallPolicies", "name": "fp", "apiVersion": "2020-05-01"},
        {"type": "Microsoft.Network/firewallPolicies/ruleCollectionGroups", "name": "fp/DefaultNetworkRuleCollectionGroup",
         "properties": {"priority": 200, "ruleCollections": [coll("c", 100, "Allow", [net_rule("adu", dst=["AzureDeviceUpdate"], ports=["443"])])]}}]}
    p = tmp_path / "fw.json"
    p.write_text(json.dumps(template))
    code = main(["check", "--firewall-policy", str(p), "--protocol", "tcp", "--src", "10.0.0.4", "--src-port", "1",
                 "--dst", "20.119.27.201", "--dst-port", "443", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and (doc["access"], doc["rule"]) == ("Allow", "adu")
    assert isinstance(Policy.from_firewall(p), FirewallPolicy)


POOL = ["10.0.0.0/8", "10.0.0.0/16", "10.1.2.3", "192.0.2.0/24", "*", "AzureDeviceUpdate", "2001:db8::/32", "10.0.0.1-10.0.0.9"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(POOL[:5] + POOL[6:]), st.sampled_from(POOL), st.sampled_from(["*", "443", "80-90", "53"]),
                          st.sampled_from(["TCP", "UDP", "ICMP", "Any"]), st.sampled_from(["Allow", "Deny"])), min_size=1, max_size=8),
       st.integers(0, 2**32))
def test_compiled_network_rules_equal_the_reference(specs, seed):
    colls = [coll(f"c{i}", 100 + i, action, [net_rule(f"r{i}", src=[s], dst=[d], ports=[port], protos=[proto])])
             for i, (s, d, port, proto, action) in enumerate(specs)]
    fw = FirewallPolicy.load([group("g", 100, *colls)])
    rng = random.Random(seed)
    cands4 = ["10.0.0.0", "10.0.0.1", "10.0.0.9", "10.0.0.10", "10.1.2.3", "10.255.255.255", "11.0.0.0", "192.0.2.1", "20.119.27.200", "8.8.8.8"]
    cands6 = ["2001:db8::1", "2001:db9::1", "2603:1030:210:11::201"]
    rows = []
    for _ in range(80):
        pool = cands4 if rng.random() < 0.8 else cands6
        proto = rng.choice([6, 17, 1, 47])
        rows.append((proto, rng.choice(pool), rng.choice([0, 52, 53, 80, 85, 90, 91, 443]), rng.choice(pool), rng.choice([0, 53, 80, 85, 443, 444])))
    t = fw.evaluate({"protocol": [r[0] for r in rows], "src_ip": [r[1] for r in rows], "src_port": [r[2] for r in rows],
                     "dst_ip": [r[3] for r in rows], "dst_port": [r[4] for r in rows]})
    for row, got_rule, got_access in zip(rows, t.column("rule").to_pylist(), t.column("access").to_pylist()):
        v = fw.check(*row)
        assert (got_access, got_rule) == (v.access, v.rule), row


def test_analyze_flow_logs_through_a_firewall_policy(tmp_path, capsys):
    from adu_fw.demo import demo_dir

    policy = [group("g", 100, coll("adu", 100, "Allow", [net_rule("adu-443", src=["10.20.0.0/16", "2001:db8:20::/48"],
                                                                     dst=["AzureDeviceUpdate"], ports=["443"])]))]
    p = tmp_path / "fw.json"
    p.write_text(json.dumps(policy))
    code = main(["analyze", str(demo_dir() / "flowlogs"), "--firewall-policy", str(p), "--service-tags", "20240610", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and doc["policy"]["firewall_policy"] == str(p)
    rec = doc["reconciliation"]
    assert rec["reconciles"] and rec["evaluated"] > 0
    hits = {r["rule"]: r["flows"] for r in doc["rules"]}
    assert hits["adu-443"] == doc["tag"]["outbound_to_tag"]["allowed"] > 0


def test_classic_rule_collections():
    classic = {"resources": [{"type": "Microsoft.Network/azureFirewalls", "name": "fw", "properties": {
        "networkRuleCollections": [{"name": "net", "properties": {"priority": 200, "action": {"type": "Allow"}, "rules": [
            {"name": "adu", "protocols": ["TCP"], "sourceAddresses": ["10.0.0.0/16"], "destinationAddresses": ["AzureDeviceUpdate"],
             "destinationPorts": ["443"]}]}},
            {"name": "deny-first", "properties": {"priority": 100, "action": {"type": "Deny"}, "rules": [
                {"name": "block", "protocols": ["Any"], "sourceAddresses": ["10.0.9.0/24"], "destinationAddresses": ["*"],
                 "destinationPorts": ["*"]}]}}],
        "applicationRuleCollections": [{"name": "app", "properties": {"priority": 300, "action": {"type": "Allow"}, "rules": [
            {"name": "gh", "sourceAddresses": ["*"], "targetFqdns": ["github.com"], "protocols": [{"protocolType": "Https", "port": 443}]}]}}],
        "natRuleCollections": []}}]}
    fw = FirewallPolicy.load(classic)
    assert fw.check("tcp", "10.0.9.4", 1, "20.119.27.201", 443).rule == "block"  # collection priority 100 first
    assert fw.check("tcp", "10.0.1.4", 1, "20.119.27.201", 443).rule == "adu"
    assert fw.check("tcp", "10.0.1.4", 1, "140.82.121.4", 443, fqdn="github.com").rule == "gh"


def test_base_policy_inside_one_template_is_processed_first():
    """A child's group with a better priority still comes after every group of its basePolicy."""
    template = {"resources": [
        {"type": "Microsoft.Network/firewallPolicies", "name": "parent"},
        {"type": "Microsoft.Network/firewallPolicies", "name": "child",
         "properties": {"basePolicy": {"id": "[resourceId('Microsoft.Network/firewallPolicies', 'parent')]"}}},
        {"type": "Microsoft.Network/firewallPolicies/ruleCollectionGroups", "name": "child/ChildGroup",
         "properties": {"priority": 100, "ruleCollections": [coll("child-allow", 100, "Allow", [net_rule("child-rule", ports=["443"])])]}},
        {"type": "Microsoft.Network/firewallPolicies/ruleCollectionGroups", "name": "parent/ParentGroup",
         "properties": {"priority": 500, "ruleCollections": [coll("parent-deny", 100, "Deny", [net_rule("parent-rule", ports=["443"])])]}},
    ]}
    fw = FirewallPolicy.load(template)
    assert [r.name for r in fw.rules] == ["parent-rule", "child-rule"]
    assert fw.check("tcp", "10.0.0.4", 1, "8.8.8.8", 443).rule == "parent-rule"

"""Rule anomalies and what-if diffs: hand-built cases per class, witnesses confirmed, the ADU diff."""
from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adu_fw.anomalies import anomalies
from adu_fw.cli import main
from adu_fw.demo import demo_dir
from adu_fw.policy import Policy
from adu_fw.servicetags import load_cached
from adu_fw.whatif import diff

from nsgkit import nsg, rule

VNET = ["10.0.0.0/16"]


def pol(*rules, **kw):
    kw.setdefault("virtual_network", VNET)
    return Policy.from_nsg(nsg("n", *rules), **kw)


def kinds(policy):
    return sorted((f.kind, f.rule) for f in anomalies(policy) if not f.default)


def confirm(policy, finding):
    """The witness flow, checked with the reference evaluator, behaves as the finding says."""
    w = finding.witness
    v = policy.check(w["direction"], w["protocol"], w["src"], w["src_port"], w["dst"], w["dst_port"])
    return v


def test_fully_shadowed_by_a_broader_earlier_rule():
    p = pol(rule("all-ssh", 100, src="*", dport="22", protocol="Tcp"),
            rule("ssh-from-corp", 200, src="203.0.113.0/24", dport="22", protocol="Tcp", access="Deny"))
    (f,) = [f for f in anomalies(p) if f.rule == "ssh-from-corp"]
    assert f.kind == "shadowed" and [r["rule"] for r in f.related] == ["all-ssh"]
    assert confirm(p, f).rule == "all-ssh"


def test_shadowed_only_through_a_tags_prefixes():
    """AzureDeviceUpdate's 20.119.27.192/26 lies inside 20.119.0.0/17: visible only with the tag expanded."""
    p = pol(rule("azure-east", 100, "Outbound", dst="20.119.0.0/17", access="Deny"),
            rule("one-adu-prefix", 200, "Outbound", dst="20.119.27.192/26"),
            rule("adu", 300, "Outbound", dst="AzureDeviceUpdate"))
    found = {f.rule: f for f in anomalies(p)}
    assert found["one-adu-prefix"].kind == "shadowed"
    assert found["adu"].kind == "correlation"  # partly inside 20.119.0.0/17, partly not
    v = confirm(p, found["adu"])
    assert v.rule == "azure-east"


def test_shadowed_by_the_union_of_several_rules():
    p = pol(rule("low", 100, src="0.0.0.0/1"), rule("high", 110, src="128.0.0.0/1"),
            rule("v4-all", 120, src="0.0.0.0/0", access="Deny"))
    f = next(f for f in anomalies(p) if f.rule == "v4-all")
    assert f.kind == "shadowed" and {r["rule"] for r in f.related} == {"low", "high"}


def test_redundant_rule_and_a_custom_copy_of_a_default_rule():
    p = pol(rule("deny-telnet", 100, dport="23", access="Deny"),
            rule("vnet-in", 4000, src="VirtualNetwork", dst="VirtualNetwork"))  # repeats AllowVnetInBound
    found = {(f.kind, f.rule): f for f in anomalies(p) if not f.default}
    red = found[("redundant", "vnet-in")]
    assert red.related[0]["rule"] == "AllowVnetInBound"
    assert ("correlation", "vnet-in") in found  # deny-telnet carves port 23 out of it
    v = confirm(p, red)
    assert v.rule == "vnet-in"  # the witness is decided by the redundant rule ...
    p2 = pol(rule("deny-telnet", 100, dport="23", access="Deny"))
    w = red.witness
    assert p2.check(w["direction"], w["protocol"], w["src"], w["src_port"], w["dst"], w["dst_port"]).access == v.access  # ... and the same without it
    assert not any(rule_name == "deny-telnet" for _, rule_name in found)  # it decides flows later rules would allow


def test_generalization_and_correlation():
    tcp = {"protocol": "Tcp"}  # with '*', ICMP flows ignore ports (decision 5) and every pair would overlap
    p = pol(rule("allow-corp-ssh", 100, src="203.0.113.0/24", dport="22", **tcp),
            rule("deny-ssh", 200, src="*", dport="22", access="Deny", **tcp),  # generalizes the exception above
            rule("allow-web", 300, src="198.51.100.0/24", dport="80-443", **tcp),
            rule("deny-some", 400, src="198.51.100.128/25", dport="443-8443", access="Deny", **tcp))  # correlated
    # deny-some is also redundant: what it alone decides, DenyAllInBound denies anyway
    assert kinds(p) == [("correlation", "deny-some"), ("generalization", "deny-ssh"), ("redundant", "deny-some")]
    f = next(f for f in anomalies(p) if f.rule == "deny-some" and f.kind == "correlation")
    assert f.overlap["dst_ports"] == "443" and f.overlap["IPv4"]["src"] == ["198.51.100.128/25"]
    assert confirm(p, f).rule == "allow-web"


def test_default_rules_take_part():
    p = pol(rule("deny-all-in", 100, access="Deny"))
    shadowed = {f.rule for f in anomalies(p) if f.kind == "shadowed"}
    assert {"AllowVnetInBound", "AllowAzureLoadBalancerInBound", "DenyAllInBound"} <= shadowed


RULE_POOL = ["10.0.0.0/8", "10.0.0.0/16", "10.0.1.0/24", "8.8.8.0/24", "*", "Internet", "VirtualNetwork", "AzureDeviceUpdate", "2001:db8::/32"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(RULE_POOL), st.sampled_from(RULE_POOL), st.sampled_from(["*", "22", "80-443", "443"]),
                          st.sampled_from(["Tcp", "*", "Udp"]), st.sampled_from(["Allow", "Deny"])), min_size=1, max_size=6))
def test_every_witness_behaves_as_claimed(specs):
    rules = []
    for i, (src, dst, port, proto, access) in enumerate(specs):
        if (":" in src and ("." in dst)) or (":" in dst and "." in src):
            continue
        rules.append(rule(f"r{i}", 100 + i, "Outbound", access=access, protocol=proto, src=src, dst=dst, dport=port))
    p = pol(*rules, virtual_network=VNET + ["2001:db8:1::/64"], service_tags=load_cached("20240610"))
    order = p.nsgs[0].evaluation_order("Outbound")
    for f in anomalies(p):
        if f.direction != "Outbound":
            continue
        v = confirm(p, f)
        names = [r.name for r in order]
        if f.kind == "shadowed":
            assert v.rule in {r["rule"] for r in f.related}  # decided by a covering rule, not by f.rule
            assert names.index(v.rule) < names.index(f.rule)
        elif f.kind == "redundant":
            assert v.rule == f.rule
            nxt = f.related[0]["rule"]
            assert next(r for r in order if r.name == nxt).access == f.access
        else:
            assert names.index(v.rule) <= names.index(f.related[0]["rule"])


# -- what-if diffs ---------------------------------------------------------------------------------------
def test_adu_tag_diff_is_exactly_the_58_new_ipv6_prefixes():
    """An NSG allowing outbound AzureDeviceUpdate:443 and denying the rest of the Internet, 20240603 -> 20240610."""
    rules = [rule("adu", 100, "Outbound", protocol="Tcp", dst="AzureDeviceUpdate", dport="443"),
             rule("no-internet", 200, "Outbound", access="Deny", dst="Internet")]
    vnet = ["10.0.0.0/16", "2001:db8:1::/64"]
    old = pol(*rules, virtual_network=vnet, service_tags="20240603")
    new = pol(*rules, virtual_network=vnet, service_tags="20240610")
    d = diff(old, new)
    (c,) = d.changes
    assert c.direction == "Outbound" and c.region["family"] == "IPv6" and c.region["protocols"] == "TCP"
    assert c.region["dst_ports"] == "443" and c.region["src"] == ["*"]
    assert c.region["dst_addresses"] == 1072  # 58 prefixes: 52 /124, 4 /123, 2 /122
    assert (c.old["access"], c.old["rule"], c.new["access"], c.new["rule"]) == ("Deny", "UserRule_no-internet", "Allow", "UserRule_adu")
    w = c.witness
    assert old.check(**{"direction": w["direction"], "protocol": w["protocol"], "src": w["src"], "src_port": w["src_port"],
                        "dst": w["dst"], "dst_port": w["dst_port"]}).access == "Deny"
    assert new.check(w["direction"], w["protocol"], w["src"], w["src_port"], w["dst"], w["dst_port"]).access == "Allow"
    assert not diff(new, new).changes


def test_nsg_diff_and_cli(capsys):
    a = nsg("n", rule("ssh", 100, dport="22", src="203.0.113.0/24"))
    b = nsg("n", rule("ssh", 100, dport="22", src="203.0.113.0/25"))
    d = diff(Policy.from_nsg(a, virtual_network=VNET), Policy.from_nsg(b, virtual_network=VNET))
    assert len(d.changes) >= 1
    assert all(c.region["src"] == ["203.0.113.128/25"] for c in d.changes)
    nsgf = str(demo_dir() / "client-nsg.json")
    code = main(["diff", "--nsg", nsgf, "--old-service-tags", "20240603", "--new-service-tags", "20240610",
                 "--flows", str(demo_dir() / "flowlogs"), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and doc["region_count"] == 1 and doc["flows_changed"] > 0
    assert all(f["dst_ip"].startswith("2603:") for f in doc["flow_changes"])
    code = main(["diff", "--nsg", nsgf])
    assert code == 2


def test_lint_deep_cli(capsys):
    code = main(["lint", "--deep", str(demo_dir() / "client-nsg.json"), "--service-tags", "20240610", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1
    assert {(a["kind"], a["rule"]) for a in doc["anomalies"]} == {("shadowed", "AllowInternetOutBound"), ("generalization", "deny-internet-out")}


def test_diff_cli_with_subnet_and_nic_pairs(tmp_path, capsys):
    sub = tmp_path / "subnet.json"
    sub.write_text(json.dumps(nsg("subnet-nsg", rule("allow-443", 100, dport="443", protocol="Tcp"))))
    nic_old = tmp_path / "nic-old.json"
    nic_old.write_text(json.dumps(nsg("nic-nsg", rule("allow-443", 100, dport="443", protocol="Tcp"))))
    nic_new = tmp_path / "nic-new.json"
    nic_new.write_text(json.dumps(nsg("nic-nsg", rule("allow-443", 100, dport="443", protocol="Tcp", src="203.0.113.0/24"))))
    code = main(["diff", "--subnet-nsg", str(sub), "--old-nic-nsg", str(nic_old), "--new-nic-nsg", str(nic_new),
                 "--vnet", "10.0.0.0/16", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and doc["region_count"] >= 1
    assert all(r["direction"] == "Inbound" and r["old"]["rule"] == "UserRule_allow-443" and r["new"]["nsg"] == "nic-nsg"
               for r in doc["regions"])
    # outside 203.0.113.0/24 the NIC now denies, except where a default rule still allows (VNet, probes)
    assert {r["new"]["rule"] for r in doc["regions"]} == {"DefaultRule_DenyAllInBound", "DefaultRule_AllowVnetInBound",
                                                         "DefaultRule_AllowAzureLoadBalancerInBound"}

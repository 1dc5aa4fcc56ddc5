"""`adu-fw exposure`: the cases text patterns get wrong, the JSON contract, exit codes, the real files."""
from __future__ import annotations

import json

from adu_fw.cli import main
from adu_fw.exposure import HIGH_PORTS, exposure
from adu_fw.policy import Policy

from conftest import shared
from nsgkit import nsg, rule

VNET = ["10.0.0.0/16"]
TAGS = "20240610"


def pol(*rules, **kw):
    kw.setdefault("virtual_network", VNET)
    kw.setdefault("service_tags", TAGS)
    return Policy.from_nsg(nsg("n", *rules), **kw)


def regions(policy, source="Internet", to=None):
    return [(e.protocol, e.to_dict()["ports"], e.rule, e.severity) for e in exposure(policy, source, to).exposures]


def confirm(policy, report):
    for e in report.exposures:
        w = e.witness
        v = policy.check(w["direction"], w["protocol"], w["src"], w["src_port"], w["dst"], w["dst_port"])
        assert v.access == "Allow" and v.rule == e.rule


def test_a_higher_priority_deny_shadows_the_ssh_rule():
    p = pol(rule("deny-ssh", 100, access="Deny", protocol="Tcp", dport="22"),
            rule("ssh-from-anywhere", 200, protocol="Tcp", src="*", dport="22"))
    assert regions(p) == []


def test_a_range_and_a_list_hide_admin_ports():
    p = pol(rule("ftp-ish", 100, protocol="Tcp", src="Internet", dport="20-30"),
            rule("web-and-rdp", 110, protocol="Tcp", src="*", dport=["80", "3389"]))
    report = exposure(p)
    by_rule = {e.rule: e for e in report.exposures}
    assert by_rule["ftp-ish"].to_dict()["ports"] == ["20-30"] and by_rule["ftp-ish"].high_ports == [22, 23]
    assert by_rule["web-and-rdp"].to_dict()["ports"] == ["80", "3389"] and by_rule["web-and-rdp"].severity == "high"
    assert by_rule["web-and-rdp"].witness["dst_port"] == 3389  # the witness shows the admin port
    confirm(p, report)


def test_any_port_is_high_and_other_protocols_are_reported_apart():
    p = pol(rule("everything", 100, src="Internet"))
    got = regions(p)
    assert ("TCP", ["0-65535"], "everything", "high") in got and ("UDP", ["0-65535"], "everything", "high") in got
    other = [g for g in got if g[1] is None]
    assert other == [("any but TCP/UDP", None, "everything", "medium")]


def test_internet_tag_versus_0_0_0_0_slash_0():
    """0.0.0.0/0 matches IPv4 only (decision 9); the Internet tag excludes private space but includes IPv6."""
    v4only = pol(rule("ssh", 100, protocol="Tcp", src="0.0.0.0/0", dport="22"), virtual_network=VNET + ["2001:db8:1::/64"])
    fams = {e.family for e in exposure(v4only).exposures}
    assert fams == {4}
    tag = pol(rule("ssh", 100, protocol="Tcp", src="Internet", dport="22"), virtual_network=VNET + ["2001:db8:1::/64"])
    fams = {e.family for e in exposure(tag).exposures}
    assert fams == {4, 6}
    # from a private range outside the VNet: 0.0.0.0/0 lets it in, the Internet tag does not
    assert regions(v4only, "172.16.0.0/12") and not regions(tag, "172.16.0.0/12")


def test_subnet_and_nic_pair_needs_both_to_allow():
    subnet = nsg("subnet-nsg", rule("ssh-rdp", 100, protocol="Tcp", src="Internet", dport=["22", "3389"]))
    nic = nsg("nic-nsg", rule("rdp-only", 100, protocol="Tcp", src="*", dport="3389"))
    p = Policy.from_nsgs(subnet=subnet, nic=nic, virtual_network=VNET, service_tags=TAGS)
    report = exposure(p)
    assert [(e.to_dict()["ports"], e.nsg, e.rule) for e in report.exposures] == [(["3389"], "nic-nsg", "rdp-only")]
    assert [a["nsg"] for a in report.exposures[0].allowed_by] == ["subnet-nsg", "nic-nsg"]
    confirm(p, report)
    deny_nic = Policy.from_nsgs(subnet=subnet, nic=nsg("nic-nsg"), virtual_network=VNET, service_tags=TAGS)
    assert exposure(deny_nic).exposures == []  # the NIC NSG's DenyAllInBound stops it


def test_source_ports_destination_and_from_options():
    p = pol(rule("odd", 100, protocol="Udp", src="Internet", sport="53", dport="1024-65535", dst="10.0.1.0/24"))
    (e,) = exposure(p).exposures
    d = e.to_dict()
    assert d["source_ports"] == ["53"] and d["destinations"] == ["10.0.1.0/24"] and d["severity"] == "high"
    assert regions(p, to=["10.0.2.0/24"]) == []
    assert regions(p, source="AzureDeviceUpdate")  # a service tag as the source
    # from 10.0.0.0/8 the rule does not apply (not Internet): only the VNet part gets in, by AllowVnetInBound
    assert {r[2] for r in regions(p, source="10.0.0.0/8")} == {"AllowVnetInBound"}


def test_json_contract_exit_codes_and_sarif(capsys, tmp_path):
    f = tmp_path / "nsg.json"
    f.write_text(json.dumps(nsg("web", rule("https", 100, protocol="Tcp", src="Internet", dport="443"),
                                rule("ssh", 110, protocol="Tcp", src="Internet", dport="22"))))
    code = main(["exposure", "--nsg", str(f), "--vnet", "10.0.0.0/16", "--service-tags", TAGS, "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and set(doc) == {"exposures", "summary"}
    required = {"nsg", "direction", "protocol", "ports", "sources", "destinations", "rule", "priority", "severity", "witness"}
    assert all(required <= set(e) for e in doc["exposures"])
    assert {(e["rule"], e["severity"]) for e in doc["exposures"]} == {("https", "medium"), ("ssh", "high")}
    assert len(doc["exposures"][0]["sources"]) > 12  # complete, never abbreviated
    assert doc["summary"]["high"] == 1 and doc["summary"]["source"] == "Internet"
    code = main(["exposure", "--nsg", str(f), "--vnet", "10.0.0.0/16", "--service-tags", TAGS, "--to", "10.0.9.0/24",
                 "--from", "203.0.113.0/24", "--format", "text"])
    out = capsys.readouterr().out
    assert code == 1 and "HIGH" in out and "witness: tcp 203.0.113.0" in out
    g = tmp_path / "ok.json"
    g.write_text(json.dumps(nsg("web", rule("https", 100, protocol="Tcp", src="Internet", dport="443"))))
    assert main(["exposure", "--nsg", str(g), "--vnet", "10.0.0.0/16", "--service-tags", TAGS]) == 0
    capsys.readouterr()
    assert main(["exposure", "--nsg", str(g), "--vnet", "10.0.0.0/16", "--from", "no-such-tag", "--service-tags", TAGS]) == 2


def test_every_high_port_is_high():
    for port in HIGH_PORTS:
        p = pol(rule("one", 100, protocol="Tcp", src="Internet", dport=str(port)))
        assert [e.severity for e in exposure(p).exposures] == ["high"]


def test_real_bastion_template():
    path = shared("data", "nsg", "azfw-dns-proxy-hub-spoke_azuredeploy.json")
    p = Policy.from_nsg(f"{path}:HubVnetAzureBastionSubnetNsg", service_tags=TAGS)
    report = exposure(p)
    confirm(p, report)
    # Bastion: 443 from the Internet is open, and its own DenyAllInBound (1000) closes the rest
    assert {(e.protocol, tuple(e.to_dict()["ports"] or ())) for e in report.exposures} == {("TCP", ("443",))}

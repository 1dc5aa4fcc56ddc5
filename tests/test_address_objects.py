"""Address arguments as ``ipaddress`` and netaddr objects: the same answers as their text."""
from __future__ import annotations

import ipaddress

import netaddr
import pytest

from adu_fw import PolicyError, ServiceTagError
from adu_fw.ip import prefix_texts
from adu_fw.policy import Policy
from adu_fw.servicetags import load_cached

from nsgkit import nsg, rule

TAGS = load_cached("20240610")
DOC = nsg("n", rule("web", 100, protocol="Tcp", src=None, dport="443",
                    sourceApplicationSecurityGroups=[{"id": "/x/applicationSecurityGroups/AsgWeb"}]),
          rule("vnet-out", 100, "Outbound", dst="VirtualNetwork", access="Deny"))
DOC["properties"]["securityRules"][0]["properties"].pop("sourceAddressPrefix")
FLOWS = {"direction": ["Inbound"] * 4 + ["Outbound"] * 4, "protocol": ["tcp"] * 8,
         "src_ip": ["10.0.0.4", "10.0.0.9", "10.0.0.10", "2001:db8::5", "10.0.0.4", "10.0.0.4", "10.0.0.4", "2001:db8::5"],
         "src_port": [5000] * 8,
         "dst_ip": ["10.0.0.5", "10.0.0.5", "10.0.0.5", "2001:db8::6", "10.1.255.255", "10.2.0.0", "168.63.129.16", "2001:db8:0:1::1"],
         "dst_port": [443] * 8}


def _answers(**kw):
    return Policy.from_nsg(DOC, service_tags=TAGS, **kw).evaluate(FLOWS).column("rule").to_pylist()


def test_objects_give_the_answers_of_their_text():
    text = _answers(virtual_network=["10.0.0.0/15", "2001:db8::/64"],
                    asgs={"AsgWeb": ["10.0.0.4/30", "10.0.0.8/31", "2001:db8::5"]})
    assert text[:3] == ["web", "web", "AllowVnetInBound"] and text[4:7] == ["vnet-out", "DenyAllOutBound", "vnet-out"]
    variants = [
        dict(virtual_network=[ipaddress.ip_network("10.0.0.0/15"), ipaddress.ip_network("2001:db8::/64")],
             asgs={"AsgWeb": [ipaddress.ip_network("10.0.0.4/30"), ipaddress.ip_network("10.0.0.8/31"),
                              ipaddress.ip_address("2001:db8::5")]}),
        dict(virtual_network=netaddr.IPSet(["10.0.0.0/16", "10.1.0.0/16", "2001:db8::/64"]),  # one IPSet: its CIDRs
             asgs={"AsgWeb": [netaddr.IPRange("10.0.0.4", "10.0.0.9"), netaddr.IPAddress("2001:db8::5")]}),
        dict(virtual_network=(netaddr.IPNetwork("10.0.0.0/15"), "2001:db8::/64"),
             asgs={"AsgWeb": netaddr.IPSet(["10.0.0.4/30", "10.0.0.8/31", "2001:db8::5/128"])}),
        dict(virtual_network=[netaddr.IPGlob("10.0.*.*"), netaddr.IPNetwork("10.1.0.0/16"), "2001:db8::/64"],
             asgs={"AsgWeb": "10.0.0.4/30,10.0.0.8/31,2001:db8::5"}),
    ]
    for kw in variants:
        assert _answers(**kw) == text, kw


def test_prefix_texts():
    assert prefix_texts(netaddr.IPRange("10.0.0.1", "10.0.0.6")) == ["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"]
    assert prefix_texts([ipaddress.ip_address("::1"), "8.8.8.8", netaddr.IPNetwork("fe80::/10")]) == ["::1", "8.8.8.8", "fe80::/10"]
    with pytest.raises(ValueError, match="expected an IP prefix"):
        prefix_texts(42)


def test_host_bits_are_refused_as_in_text():
    for bad in (netaddr.IPNetwork("10.0.0.1/16"), ipaddress.ip_interface("10.0.0.1/16"), "10.0.0.1/16"):
        with pytest.raises(PolicyError, match="host bits"):
            Policy.from_nsg(DOC, service_tags=TAGS, virtual_network=[bad], asgs={"AsgWeb": []})
    with pytest.raises(PolicyError, match="host bits"):
        Policy.from_nsg(DOC, service_tags=TAGS, virtual_network=["10.0.0.0/16"], asgs={"AsgWeb": [netaddr.IPNetwork("10.0.0.1/24")]})
    with pytest.raises(PolicyError, match="expected an IP prefix"):
        Policy.from_nsg(DOC, service_tags=TAGS, virtual_network=[3.5], asgs={"AsgWeb": []})


def test_service_tag_lookups_take_address_objects():
    text = TAGS.match("20.119.27.200")
    assert text and TAGS.match(ipaddress.ip_address("20.119.27.200")) == text
    assert TAGS.lookup(netaddr.IPAddress("20.119.27.200")) == [t for t, _ in text]
    assert TAGS.lookup(ipaddress.IPv6Address("2603:1030:210:11::201")) == TAGS.lookup("2603:1030:210:11::201")
    col = TAGS.lookup_many([ipaddress.ip_address("20.119.27.200"), netaddr.IPAddress("8.8.8.8"), "20.119.27.200"])
    assert col.to_pylist()[0] == col.to_pylist()[2] == [t for t, _ in text]
    with pytest.raises(ServiceTagError, match="expected an IP address"):
        TAGS.lookup(ipaddress.ip_network("20.119.27.192/26"))

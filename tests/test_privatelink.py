"""Device Update private endpoints: the seed's DNS tables, connection states, custom DNS, the NSG path."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from adu_fw.cli import main
from adu_fw.privatelink import Topology, TopologyError

TOPO = Path(__file__).resolve().parent / "data" / "topology" / "contoso.json"
HOST = "contoso.api.adu.microsoft.com"
PL = "contoso.api.privatelink.adu.microsoft.com"


@pytest.fixture(scope="module")
def topo():
    return Topology.load(TOPO)


def rows(res):
    return [(r.name, r.type, r.value) for r in res.records]


def test_dns_table_outside_the_vnet(topo):
    """ADU doc: from outside, CNAME to the privatelink name, CNAME to the Traffic Manager profile."""
    res = topo.resolve(HOST)
    assert res.status == "NOERROR"
    assert rows(res) == [(HOST, "CNAME", PL), (PL, "CNAME", "<Azure Traffic Manager profile>")]


def test_dns_table_inside_the_vnet(topo):
    """ADU doc: inside the VNet hosting the endpoint, the privatelink name answers the endpoint IP (an A record)."""
    res = topo.resolve(HOST, from_vnet="hub")
    assert rows(res) == [(HOST, "CNAME", PL), (PL, "A", "10.0.0.5")]
    assert res.address == "10.0.0.5"


def test_both_zone_spellings_and_the_longest_zone_wins(topo):
    doc = json.loads(TOPO.read_text())
    doc["private_dns_zones"] = [
        {"name": "privatelink.adu.microsoft.com", "records": {"contoso.api": "10.0.0.99"}, "links": [{"vnet": "hub"}]},
        {"name": "privatelink.api.adu.microsoft.com", "records": {"contoso": "10.0.0.5"}, "links": [{"vnet": "hub"}]},
    ]
    t = Topology(doc, source="t", base_dir=TOPO.parent)
    assert t.resolve(HOST, from_vnet="hub").address == "10.0.0.5"  # privatelink.api.adu... is longer


def test_nxdomain_trap_and_fallback(topo):
    res = topo.resolve("fabrikam.api.adu.microsoft.com", from_vnet="hub")
    assert res.status == "NXDOMAIN" and "no fallback" in res.notes[0]
    doc = json.loads(TOPO.read_text())
    doc["private_dns_zones"][0]["links"][0]["fallback_to_internet"] = True
    t = Topology(doc, source="t", base_dir=TOPO.parent)
    res = t.resolve("fabrikam.api.adu.microsoft.com", from_vnet="hub")
    assert res.status == "NOERROR" and rows(res)[-1][2] == "<Azure Traffic Manager profile>"


def test_unlinked_vnet_gets_the_public_answer(topo):
    assert rows(topo.resolve(HOST, from_vnet="unlinked"))[-1] == (PL, "CNAME", "<Azure Traffic Manager profile>")


@pytest.mark.parametrize(
    "kw, status, address",
    [
        ({"from_vnet": "custom-dns"}, "NOERROR", "10.0.0.5"),  # custom DNS forwarding to Azure DNS in a linked VNet
        ({"from_vnet": "custom-dns-noforward"}, "NOERROR", None),  # custom DNS resolving on the Internet: public answer
        ({"from_onprem": "office"}, "NOERROR", "10.0.0.5"),  # conditional forwarder to the forwarding server in Azure
        ({"from_onprem": "branch"}, "SERVFAIL", None),  # forwarding to 168.63.129.16 from outside Azure
        ({"from_onprem": "lab"}, "NOERROR", "10.0.0.5"),  # the server's own A record
    ],
)
def test_custom_dns(topo, kw, status, address):
    res = topo.resolve(HOST, **kw)
    assert (res.status, res.address) == (status, address), res.notes


@pytest.mark.parametrize(
    "state, works",
    [("Approved", True), ("Pending", False), ("Rejected", False), ("Disconnected", False)],
)
def test_connection_state_rows_public_access_disabled(state, works):
    """Seed table: with public access disabled and manual approval, only Approved lets management work."""
    doc = json.loads(TOPO.read_text())
    doc["private_endpoints"][0]["state"] = state
    t = Topology(doc, source="t", base_dir=TOPO.parent)
    v = t.can_manage("contoso", from_vnet="spoke", client_ip="10.1.0.9")
    assert v.works is works
    if not works:
        assert any(state in r for r in v.reasons)


def test_transitions():
    t = Topology.load(TOPO)
    assert Topology.initial_state(True) == "Approved" and Topology.initial_state(False) == "Pending"
    p = t.transition("fabrikam-pe", "approve")
    assert p.endpoints["fabrikam-pe"]["state"] == "Approved"
    r = t.transition("fabrikam-pe", "reject")
    assert r.endpoints["fabrikam-pe"]["state"] == "Rejected"
    with pytest.raises(TopologyError, match="never be approved again: delete the endpoint and create a new one"):
        r.transition("fabrikam-pe", "approve")
    d = r.transition("fabrikam-pe", "remove")
    assert d.endpoints["fabrikam-pe"]["state"] == "Disconnected"
    for action in ("approve", "reject", "remove"):
        with pytest.raises(TopologyError, match="is Disconnected: cannot .*allowed from Disconnected: none"):
            d.transition("fabrikam-pe", action)
    with pytest.raises(TopologyError, match="is Approved: cannot approve; allowed from Approved: reject \\(Rejected\\), remove"):
        p.transition("fabrikam-pe", "approve")
    assert t.endpoints["fabrikam-pe"]["state"] == "Pending"  # the original is unchanged


def test_nsg_path_with_endpoint_network_policies(topo):
    ok = topo.can_manage("contoso", from_vnet="spoke", client_ip="10.1.0.9")
    assert ok.works  # allow-spoke-443 restricts source ports to 1-2, but for endpoints source ports are '*'
    denied = topo.can_manage("contoso", from_vnet="hub", client_ip="10.0.1.200")
    assert not denied.works and any("deny-hub-clients" in r for r in denied.reasons)
    client = topo.can_manage("contoso", from_vnet="hub", client_subnet="clients", client_ip="10.0.1.10")
    assert not client.works and any("client subnet NSG" in r and "Deny" in r for r in client.reasons)
    doc = json.loads(TOPO.read_text())
    doc["vnets"][0]["subnets"][0]["private_endpoint_network_policies"] = "Disabled"
    t = Topology(doc, source="t", base_dir=TOPO.parent)
    v = t.can_manage("contoso", from_vnet="hub", client_ip="10.0.1.200")
    assert v.works and any("does not apply" in r for r in v.reasons)


def test_reachability_and_public_path(topo):
    assert not topo.can_manage("contoso", from_vnet="isolated", client_ip="10.9.0.4").works  # linked, not peered
    v = topo.can_manage("contoso")
    assert not v.works and "public network access Disabled" in v.reasons[0]
    assert topo.can_manage("fabrikam").works  # public access enabled, resolved publicly


def test_linked_iot_hub_warning():
    doc = json.loads(TOPO.read_text())
    doc["accounts"][0]["linked_iot_hub"]["public_network_access"] = "Disabled"
    v = Topology(doc, source="t", base_dir=TOPO.parent).can_manage("contoso", from_vnet="spoke", client_ip="10.1.0.9")
    assert any("not supported by Device Update" in w for w in v.warnings)


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda d: d["private_endpoints"][0].update(vnet="nowhere"), "private endpoint 'contoso-pe': field 'vnet': unknown VNet 'nowhere'"),
        (lambda d: d["private_endpoints"][0].update(ip="10.0.1.5"), "10.0.1.5 is outside its subnet 10.0.0.0/24"),
        (lambda d: d["private_endpoints"][0].update(subnet="x"), "VNet 'hub' has no subnet 'x'"),
        (lambda d: d["private_endpoints"][0].update(account="nope"), "unknown account 'nope'"),
        (lambda d: d["private_endpoints"][0].update(state="Maybe"), "expected one of Pending, Approved"),
        (lambda d: d["private_dns_zones"][0]["links"].append({"vnet": "ghost"}), "link to unknown VNet 'ghost'"),
        (lambda d: d["vnets"][0]["subnets"][0].update(prefix="11.0.0.0/24"), "outside the VNet address space"),
        (lambda d: d["vnets"].append(copy.deepcopy(d["vnets"][0])), "duplicate name 'hub'"),
        (lambda d: d["vnets"][4].update(dns_servers=["10.2.0.99"]), "DNS server 10.2.0.99 is not defined"),
    ],
)
def test_bad_references_are_clear_errors(mutate, match):
    doc = json.loads(TOPO.read_text())
    mutate(doc)
    with pytest.raises(TopologyError, match=match):
        Topology(doc, source="bad.json")


def test_cli(capsys, tmp_path):
    code = main(["endpoint", "resolve", HOST, "--topology", str(TOPO), "--from", "hub", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["address"] == "10.0.0.5" and doc["records"][1]["type"] == "A"
    code = main(["endpoint", "check", "contoso", "--topology", str(TOPO), "--from", "hub", "--client-ip", "10.0.1.200"])
    assert code == 1 and "does NOT work" in capsys.readouterr().out
    out = tmp_path / "t.json"
    code = main(["endpoint", "reject", "fabrikam-pe", "--topology", str(TOPO), "--out", str(out)])
    assert code == 0 and json.loads(out.read_text())["private_endpoints"][1]["state"] == "Rejected"
    code = main(["endpoint", "approve", "fabrikam-pe", "--topology", str(out)])
    assert code == 2 and "never be approved again" in capsys.readouterr().err

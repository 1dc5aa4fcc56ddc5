"""Service tags: both published shapes, lookups proven against a brute-force scan, diffs, errors."""
from __future__ import annotations

import copy
import datetime as dt
import ipaddress
import json
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import adu_fw
from adu_fw import ServiceTagError, ServiceTags
from adu_fw.servicetags import default_path, embedded_files, resolve_path

from conftest import shared

ADU_V4_COUNT = 96
ADU_V6_ADDED = 58


# -- the shipped files -------------------------------------------------------------------
def test_embedded_files_are_the_real_weeks_and_the_current_default():
    names = [p.name for p in embedded_files()]
    assert names == ["ServiceTags_Public_20240603.json", "ServiceTags_Public_20240610.json",
                     "ServiceTags_Public_20251028.json"]
    assert default_path().name == "ServiceTags_Public_20251028.json"


def test_embedded_files_equal_the_shared_originals():
    for p in embedded_files():
        assert p.read_bytes() == shared("data", "servicetags", p.name).read_bytes()


def test_default_data_comes_from_the_installed_package_not_the_checkout():
    """An installed wheel must carry its defaults: the path lives under the imported package."""
    pkg = Path(adu_fw.__file__).resolve().parent
    assert default_path().resolve().is_relative_to(pkg)


def test_load_default(tags_current):
    t = ServiceTags.load()
    assert (t.cloud, t.change_number, t.date, t.shape) == ("Public", 375, dt.date(2025, 10, 28), "download")
    assert len(t) == len(tags_current) == 3039 and t.prefix_count == 93362
    adu = t["AzureDeviceUpdate"]
    assert (adu.change_number, len(adu.ipv4_prefixes), len(adu.ipv6_prefixes)) == (3, 96, 61)


def test_load_by_date(tags_new):
    t = ServiceTags.load(resolve_path("20240610"))
    assert (t.cloud, t.change_number, t.date, t.shape) == ("Public", 310, dt.date(2024, 6, 10), "download")
    assert len(t) == len(tags_new) == 2604


def test_tag_fields(tags_old):
    adu = tags_old["azuredeviceupdate"]  # case-insensitive
    assert adu.name == "AzureDeviceUpdate"
    assert (adu.change_number, adu.region, adu.region_id, adu.platform) == (1, "", 0, "Azure")
    assert adu.system_service == "AzureDeviceUpdate"
    assert adu.network_features == ("API", "NSG", "UDR", "FW")
    assert len(adu.ipv4_prefixes) == ADU_V4_COUNT and adu.ipv6_prefixes == []
    weu = tags_old["Storage.westeurope"]
    assert (weu.name, weu.region, weu.region_id) == ("Storage.WestEurope", "westeurope", 18)
    assert tags_old["ActionGroup.AustraliaCentral"].network_features is None
    assert tags_old.prefixes("AzureDeviceUpdate")[0] == "20.37.71.192/28"


def test_select_by_region_and_feature(tags_old):
    weu = tags_old.select(region="WestEurope")
    assert weu and all(t.region == "westeurope" for t in weu)
    nsg_global = tags_old.select(region="", feature="nsg")
    assert "AzureDeviceUpdate" in {t.name for t in nsg_global}
    assert all(t.has_feature("NSG") and not t.region for t in nsg_global)


def test_unknown_tag_suggests(tags_old):
    with pytest.raises(KeyError, match="AzureDeviceUpdate"):
        tags_old["AzureDeviceUpdat"]


# -- lookups against a brute-force scan -------------------------------------------------------
@pytest.fixture(scope="module")
def brute(tags_new):
    """Every (tag, network) of the newest file as ipaddress objects: the obviously correct answer."""
    nets = []
    for tag in tags_new:
        for p in tag.address_prefixes:
            nets.append((tag.name, ipaddress.ip_network(p)))
    return nets


def _brute_lookup(nets, ip):
    addr = ipaddress.ip_address(ip)
    best: dict[str, int] = {}
    for name, net in nets:
        if net.version == addr.version and addr in net:
            best[name] = max(best.get(name, -1), net.prefixlen)
    return best


def _sample_addresses(tags, rng, n_inside, n_random):
    out = []
    all_prefixes = [p for t in tags for p in t.address_prefixes]
    for p in rng.sample(all_prefixes, n_inside):
        net = ipaddress.ip_network(p)
        off = rng.randrange(net.num_addresses)
        out.append(str(net.network_address + off))
        out.append(str(net.network_address))
        out.append(str(net.broadcast_address))
        if int(net.broadcast_address) + 1 < (2**32 if net.version == 4 else 2**128):
            out.append(str(net.broadcast_address + 1))
    for _ in range(n_random):
        out.append(str(ipaddress.IPv4Address(rng.getrandbits(32))))
        out.append(str(ipaddress.IPv6Address((0x2603 << 112) | rng.getrandbits(112))))
    return out


def test_lookup_equals_brute_force(tags_new, brute):
    rng = random.Random(1234)
    ips = _sample_addresses(tags_new, rng, 40, 15)
    lists = tags_new.lookup_many(ips).to_pylist()
    for ip, got_many in zip(ips, lists):
        expected = _brute_lookup(brute, ip)
        got = tags_new.match(ip)
        assert [n for n, _ in got] == got_many
        assert {n for n, _ in got} == set(expected), ip
        plens = [int(p.split("/")[1]) for _, p in got]
        assert plens == sorted(plens, reverse=True), "most specific prefix first"
        for name, prefix in got:
            assert int(prefix.split("/")[1]) == expected[name]
            assert ipaddress.ip_address(ip) in ipaddress.ip_network(prefix)


def test_lookup_adu_addresses(tags_old, tags_new):
    assert tags_new.lookup("20.119.27.200")[0] == "AzureDeviceUpdate"
    assert tags_new.lookup("2603:1030:210:11::201")[0] == "AzureDeviceUpdate"
    assert "AzureDeviceUpdate" not in tags_old.lookup("2603:1030:210:11::201")
    assert tags_new.lookup("10.0.0.1") == []
    assert tags_new.lookup("20.119.27.191")[:1] != ["AzureDeviceUpdate"]  # one below 20.119.27.192/26


def test_lookup_many_inputs(tags_new):
    ints = np.array([int(ipaddress.IPv4Address("20.119.27.200")), 0], dtype=np.uint32)
    res = tags_new.lookup_many(ints).to_pylist()
    assert res[0][0] == "AzureDeviceUpdate" and res[1] == []
    res = tags_new.lookup_many(pa.array(["20.119.27.200", None])).to_pylist()
    assert res[1] is None
    res = tags_new.lookup_many(pa.array(["20.119.27.200"] * 3).dictionary_encode()).to_pylist()
    assert all(r[0] == "AzureDeviceUpdate" for r in res)


def test_bad_addresses_are_clear_errors(tags_new):
    with pytest.raises(ServiceTagError, match="not an IPv4 or IPv6 address: '20.119.27'"):
        tags_new.lookup("20.119.27")
    with pytest.raises(ServiceTagError, match=r"row 1 .*'300.1.1.1' \(2 bad rows"):
        tags_new.lookup_many(["1.1.1.1", "300.1.1.1", "x"])


# -- diff --------------------------------------------------------------------------------------
def test_diff_adu_between_weeks(tags_old, tags_new):
    d = tags_old.diff(tags_new)
    assert d.added == (
        "MicrosoftCloudAppSecurity.BrazilSouth",
        "MicrosoftCloudAppSecurity.CentralIndia",
        "MicrosoftCloudAppSecurity.WestUS3",
    )
    assert d.removed == ()
    assert len(d.changed) == 421  # every value whose changeNumber moved (PROVENANCE.md)
    adu = d.change("AzureDeviceUpdate")
    assert (adu.old_change_number, adu.new_change_number) == (1, 2)
    assert len(adu.added) == ADU_V6_ADDED and adu.removed == ()
    assert all(":" in p for p in adu.added)
    assert set(adu.added) == set(tags_new["AzureDeviceUpdate"].ipv6_prefixes)
    assert not tags_new.diff(tags_new)
    back = tags_new.diff(tags_old)
    assert back.removed == d.added and len(back.change("AzureDeviceUpdate").removed) == ADU_V6_ADDED


# -- the az network list-service-tags / REST shape (made here from the real file) -----------------
def _api_shape(doc: dict, *, next_link: bool = True) -> dict:
    values = []
    for v in doc["values"]:
        p = v["properties"]
        props = {
            "changeNumber": str(p["changeNumber"]),
            "region": p["region"],
            "state": "GA",
            "systemService": p["systemService"],
            "addressPrefixes": p["addressPrefixes"],
            "networkFeatures": p["networkFeatures"],
        }
        values.append({"name": v["name"], "id": v["id"], "serviceTagChangeNumber": "86", "properties": props})
    out = {
        "name": "public",
        "id": "/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Network/serviceTags/public",
        "type": "Microsoft.Network/serviceTags",
        "changeNumber": str(doc["changeNumber"]),
        "cloud": doc["cloud"],
        "values": values,
    }
    if next_link:
        out["nextLink"] = "https://management.azure.com/next?$skipToken=abc"
    return out


@pytest.fixture(scope="module")
def real_doc():
    return json.loads(resolve_path("20240610").read_text())


def test_api_shape_loads(real_doc, tmp_path, tags_new):
    path = tmp_path / "az-list-service-tags.json"
    path.write_text(json.dumps(_api_shape(real_doc), indent=2))
    t = ServiceTags.load(path)
    assert (t.shape, t.change_number, t.cloud, t.date) == ("api", 310, "Public", None)
    assert t.next_link and t.next_link.startswith("https://")
    adu = t["AzureDeviceUpdate"]
    assert (adu.change_number, adu.region_id, adu.platform, adu.state) == (2, None, None, "GA")
    assert t.lookup("2603:1030:210:11::201") == tags_new.lookup("2603:1030:210:11::201")
    assert not tags_new.diff(t).added and not tags_new.diff(t).changed


def test_bom_crlf_and_pascal_case(real_doc, tmp_path):
    small = {"changeNumber": 1, "cloud": "AzureGovernment", "values": copy.deepcopy(real_doc["values"][:5])}
    small["values"][0]["properties"]["networkFeatures"] = None
    text = json.dumps(small, indent=2).replace("\n", "\r\n")
    path = tmp_path / "ServiceTags_AzureGovernment_20240101.json"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    t = ServiceTags.load(path)
    assert (t.cloud, t.date, len(t)) == ("AzureGovernment", dt.date(2024, 1, 1), 5)
    pascal = {
        "ChangeNumber": 1,
        "Cloud": "China",
        "Values": [{"Name": "Foo", "Id": "Foo", "Properties": {"ChangeNumber": 3, "AddressPrefixes": ["1.0.0.0/8"]}}],
    }
    (tmp_path / "p.json").write_text(json.dumps(pascal))
    t = ServiceTags.load(tmp_path / "p.json")
    assert t.cloud == "China" and t.lookup("1.2.3.4") == ["Foo"]


# -- bad input ---------------------------------------------------------------------------------
def _write(tmp_path, obj, name="bad.json"):
    p = tmp_path / name
    p.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return p


def _doc(*values):
    return {"changeNumber": 1, "cloud": "Public", "values": list(values)}


def _tag(name, prefixes, **props):
    return {"name": name, "id": name, "properties": {"changeNumber": 1, "addressPrefixes": prefixes, **props}}


@pytest.mark.parametrize(
    "content, pattern",
    [
        ('{"values": [', r"bad\.json: malformed JSON at line 1"),
        ({"cloud": "Public"}, r"bad\.json: top level: missing key 'values'"),
        ({"values": {}}, r"field 'values': expected a list"),
        (_doc({"name": "A"}), r"tag 'A': missing key 'properties'"),
        (_doc({"name": "A", "properties": {}}), r"tag 'A': missing key 'addressPrefixes'"),
        (_doc(_tag("A", ["10.0.0.0/8", "10.0.0.300/32"])), r"tag 'A': field 'addressPrefixes': '10.0.0.300/32': not a CIDR"),
        (_doc(_tag("A", ["10.0.0.1/8"])), r"tag 'A': field 'addressPrefixes': '10.0.0.1/8': host bits are set"),
        (_doc(_tag("A", "10.0.0.0/8")), r"expected a list of CIDR strings"),
        (_doc(_tag("A", []), _tag("a", [])), r"tag 'a': field 'name': duplicate tag name 'a' \(already defined as 'A'"),
        (_doc(_tag("A", [], changeNumber="x")), r"tag 'A': field 'changeNumber': expected an integer"),
        (_doc(_tag("A", [], networkFeatures="NSG")), r"field 'networkFeatures': expected a list of strings or null"),
        (_doc({"name": "", "properties": {}}), r"values\[0\]: field 'name'"),
        ([1, 2], r"top level: expected a JSON object"),
    ],
)
def test_errors_name_file_tag_and_value(tmp_path, content, pattern):
    with pytest.raises(ServiceTagError, match=pattern):
        ServiceTags.load(_write(tmp_path, content))


def test_missing_and_non_utf8_files(tmp_path):
    with pytest.raises(ServiceTagError, match="cannot read the file"):
        ServiceTags.load(tmp_path / "nope.json")
    p = tmp_path / "latin1.json"
    p.write_bytes(b'{"values": ["\xe9"]}')
    with pytest.raises(ServiceTagError, match="not UTF-8"):
        ServiceTags.load(p)

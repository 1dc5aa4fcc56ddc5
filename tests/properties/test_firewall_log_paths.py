"""The columnar firewall-log path (pyarrow's JSON reader, checks column by column) answers exactly what
the record-by-record reader answers: the same rows, the same rejects with the same reasons and
locations, the same counts, on random resource-specific records with odd values, odd keys and odd times."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adu_fw import firewall_logs
from adu_fw.firewall_logs import read

CATEGORIES = ["AZFWNetworkRule", "AZFWApplicationRule", "AZFWNatRule"]
ODD = st.sampled_from(["", "   ", None, "\t x \n", "\x1c", "ü", "²"])
IPS = st.sampled_from(["10.0.0.1", " 10.0.0.2 ", "2001:DB8::1", "2001:db8:0:0::2", "fe80::1%eth0", "10.0.0.256", "010.0.0.1",
                       "::ffff:1.2.3.4", "x", "1.128.0.0"])
PORTS = st.one_of(st.integers(-5, 70000), st.sampled_from([0, 65535, 65536, 443]))
PROTOS = st.sampled_from(["TCP", "tcp", " Udp ", "ICMP", "HTTP", "HTTPS", "MSSQL", "6", "17", "255", "256", "²", "", "GRE"])
ACTIONS = st.sampled_from(["Allow", "allow", "Deny", "DENY", " Deny ", "Dnat", "Alert", "", "Drop"])
REASONS = st.sampled_from(["", "Default Action", "SNI TLS extension was missing", "default policy", "x"])
FQDNS = st.sampled_from(["", "github.com", " Host.Example ", "a..b"])
URLS = st.sampled_from(["", "https://WWW.Microsoft.com/en-us", "http://[::1]:80/x", "ftp://", "https://x.example:99999/",
                        "no-scheme.example/path"])
TIMES = st.sampled_from(["2024-03-20T23:39:59.8494370Z", "2025-11-26T14:17:22.259698+00:00", "2022-06-08T22:40:23+02:00",
                         "2022-06-08T20:40:23Z", "2022-06-08 20:40:23Z", "2022-06-08T20:40:23", "2024-02-30T00:00:00Z",
                         "1969-12-31T23:59:59.9999999Z", "1600-01-01T00:00:00Z", "2500-01-01T00:00:00Z",
                         "6/8/2022, 8:40:23.214 PM", "2022-06-08T24:00:00Z", "2022-06-08T20:40:60Z", "", "garbage",
                         "2022-06-08T20:40:23.1234567890123Z", "2022-06-08T20:40:23+0200"])
FIELDS = {"Action": ACTIONS, "ActionReason": REASONS, "DestinationIp": IPS, "DestinationPort": PORTS, "Fqdn": FQDNS,
          "Policy": st.sampled_from(["p", " p ", ""]), "Protocol": PROTOS, "Rule": st.sampled_from(["r1", " r2", "", "R1"]),
          "RuleCollection": st.sampled_from(["c", ""]), "RuleCollectionGroup": st.sampled_from(["g", ""]), "SourceIp": IPS,
          "SourcePort": PORTS, "TargetUrl": URLS, "TranslatedIp": IPS, "TranslatedPort": PORTS,
          "WebCategory": st.sampled_from(["w", ""])}


@st.composite
def record(draw):
    props = {}
    for name, values in FIELDS.items():
        choice = draw(st.integers(0, 9))
        if choice == 0:
            continue  # absent
        odd_ok = not name.endswith("Port")  # a string port is a type the columnar path leaves to the record reader
        props[name] = None if choice == 1 else draw(ODD) if choice == 2 and odd_ok else draw(values)
    if draw(st.integers(0, 4)) == 0:
        props["IsTlsInspected"] = draw(st.booleans())
    rec = {"category": draw(st.sampled_from(CATEGORIES)), "properties": props,
           "resourceId": draw(st.sampled_from(["/SUBSCRIPTIONS/X/AZUREFIREWALLS/FW", " ", ""])),
           "time": draw(TIMES)}
    odd = draw(st.integers(0, 250)) - 120  # the odd shapes sit mid-range: Hypothesis favours the bounds
    if odd == 0:  # shapes the columnar path leaves to the record reader
        rec["category"] = draw(st.sampled_from(["azfwnetworkrule", "AZFWDnsQuery", "AzureFirewallNetworkRule"]))
    elif odd == 1:
        props["sourceIp"] = props.pop("SourceIp", "10.0.0.9")
    elif odd == 2:
        props["DestinationPort"] = str(props.get("DestinationPort"))
    elif odd == 3:
        rec["SourceIp"] = "10.9.9.9"
    elif odd == 4:
        props["Rule_s"] = "from-suffix"
    elif odd == 5:
        rec["properties"] = json.dumps(props)
    return rec


USED = {"fast": 0, "fallback": 0}


def _read(path, fast, **kw):
    old = firewall_logs.USE_FAST
    firewall_logs.USE_FAST = fast
    try:
        stream = read(path, **kw)
        if fast:
            raw = path.read_bytes()
            took = firewall_logs._fast_table(raw, str(path), firewall_logs.FirewallLogStats(), None, None) is not None
            USED["fast" if took else "fallback"] += 1
        rows = [r for t in stream for r in t.to_pylist()]
        st_ = stream.stats
        return rows, (st_.files, st_.records, st_.read, dict(st_.rejected), st_.examples, dict(st_.categories))
    finally:
        firewall_logs.USE_FAST = old


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(record(), min_size=1, max_size=25), st.booleans(), st.booleans(), st.sampled_from(["", "\n", "\n\n"]))
def test_columnar_path_equals_the_record_reader(tmp_path_factory, records, window, blank, tail):
    path = tmp_path_factory.mktemp("fw") / "PT1H.json"
    lines = [json.dumps(r) for r in records]
    if blank and len(lines) > 1:
        lines.insert(1, "")
    path.write_text("\n".join(lines) + tail)
    kw = {"since": dt.datetime(2022, 6, 8, 21, tzinfo=dt.timezone.utc), "until": dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)} \
        if window else {}
    fast, slow = _read(path, True, **kw), _read(path, False, **kw)
    assert fast[1] == slow[1]
    assert fast[0] == slow[0]


def test_most_examples_took_the_columnar_path():
    """A guard against a vacuous property: the examples above mostly went through the columnar path."""
    assert USED["fast"] > USED["fallback"], USED


GOOD = {"category": "AZFWNetworkRule", "time": "2024-03-20T23:39:59.8494370Z", "resourceId": "/x",
        "properties": {"Action": "Allow", "Protocol": "TCP", "SourceIp": "10.0.0.1", "SourcePort": 1, "DestinationIp": "1.1.1.1",
                       "DestinationPort": 443, "Rule": "r"}}


def _odd(kind):
    rec = json.loads(json.dumps(GOOD))
    props = rec["properties"]
    if kind == "category case":
        rec["category"] = "azfwnetworkrule"
    elif kind == "other category":
        rec["category"] = "AZFWDnsQuery"
    elif kind == "key case":
        props["sourceIp"] = props.pop("SourceIp")
    elif kind == "string port":
        props["DestinationPort"] = "443"
    elif kind == "flat key":
        rec["SourceIp"] = "10.9.9.9"
    elif kind == "suffix key":
        props["Rule_s"] = "x"
    elif kind == "properties as text":
        rec["properties"] = json.dumps(props)
    elif kind == "legacy":
        rec = {"category": "AzureFirewallNetworkRule", "properties": {"msg": "UDP request from 10.0.0.1:5 to 10.0.0.2:53. Action: Allow. "},
               "time": GOOD["time"]}
    return rec


@pytest.mark.parametrize("kind", ["category case", "other category", "key case", "string port", "flat key", "suffix key",
                                  "properties as text", "legacy"])
def test_odd_shapes_go_to_the_record_reader_and_agree(tmp_path, kind):
    path = tmp_path / "PT1H.json"
    path.write_text(json.dumps(GOOD) + "\n" + json.dumps(_odd(kind)) + "\n")
    assert firewall_logs._fast_table(path.read_bytes(), str(path), firewall_logs.FirewallLogStats(), None, None) is None
    assert _read(path, True) == _read(path, False)


def test_the_columnar_path_is_taken_for_the_usual_shape(tmp_path, monkeypatch):
    taken = []
    real = firewall_logs._fast_rows
    monkeypatch.setattr(firewall_logs, "_fast_rows", lambda *a: taken.append(1) or real(*a))
    path = tmp_path / "a.json"
    path.write_text("\n".join(json.dumps(
        {"category": "AZFWNetworkRule", "time": "2024-03-20T23:39:59.8494370Z", "resourceId": "/x",
         "properties": {"Action": "Allow", "Protocol": "TCP", "SourceIp": "10.0.0.1", "SourcePort": 1, "DestinationIp": "1.1.1.1",
                        "DestinationPort": 443, "Rule": "r"}}) for _ in range(3)))
    rows, stats = _read(path, True)
    assert taken and len(rows) == 3 and stats[2] == 3

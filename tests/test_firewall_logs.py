"""Azure Firewall logs: every real sample read field by field, every shape, the reconciliation, and
the replay of logs generated from a policy agreeing on every record (library and CLI)."""
from __future__ import annotations

import datetime as dt
import json
import random

import pyarrow.parquet as pq
import pytest

from adu_fw.cli import main
from adu_fw.firewall import FirewallPolicy
from adu_fw.firewall_logs import FirewallLogError, looks_like_firewall_logs, parse_msg, parse_time, read, write_records
from adu_fw.firewall_replay import replay
from adu_fw.samples import firewall_log_rows

from conftest import DATA
from test_firewall import app_rule, coll, group, nat_rule, net_rule

LOGS = DATA / "firewall-logs"
UTC = dt.timezone.utc
FIELDS = ("category", "kind", "protocol", "app_protocol", "src_ip", "src_port", "dst_ip", "dst_port", "fqdn", "logged_action",
          "logged_default", "logged_policy", "logged_group", "logged_collection", "logged_rule", "translated_ip",
          "translated_port", "record_index")


def rows_of(name):
    stream = read(LOGS / name)
    rows = [r for t in stream for r in t.to_pylist()]
    return stream.stats, rows


def pick(row):
    return tuple(row[f] for f in FIELDS)


def test_resource_specific_network_rule_sample():
    stats, rows = rows_of("elastic_AZFWNetworkRule.log")
    assert (stats.records, stats.read, dict(stats.rejected)) == (2, 2, {})
    assert [pick(r) for r in rows] == [
        ("AZFWNetworkRule", "network", 6, None, "1.128.0.0", 1234, "1.128.0.0", 1234, None, "Allow", False, "policy",
         "NetworkRuleGroup", "NetworkRuleSet", "NetworkSecurityRule", None, None, 1),
        ("AZFWNetworkRule", "network", 17, None, "1.128.0.0", 35242, "1.128.0.0", 53, None, "Allow", False,
         "test-azfw-premium-policy", "DefaultNetworkRuleCollectionGroup", "DNS", "Allow-DNS", None, None, 2)]
    assert rows[0]["time"] == dt.datetime(2024, 3, 20, 23, 39, 59, 849437, tzinfo=UTC)  # 7 decimals, Z
    assert rows[1]["time"] == dt.datetime(2025, 11, 26, 14, 17, 22, 259698, tzinfo=UTC)  # 6 decimals, +00:00
    assert rows[0]["action_reason"] == "action reason" and rows[1]["action_reason"] is None
    assert rows[0]["resource_id"].endswith("/AZUREFIREWALLS/TEST-FW01")


def test_resource_specific_nat_rule_sample():
    stats, rows = rows_of("elastic_AZFWNatRule.log")
    assert [pick(r) for r in rows] == [
        ("AZFWNatRule", "nat", 6, None, "1.128.0.0", 1234, "1.128.0.0", 999, None, "Dnat", False, "policy", "NATRuleGroup",
         "NATRuleSet", "NATSecurityRule", "1.128.0.0", 999, 1),
        ("AZFWNatRule", "nat", 6, None, "1.128.0.0", 49108, "1.128.0.0", 22, None, "Dnat", False, "test-azfw-premium-policy",
         "DefaultDnatRuleCollectionGroup", "ssh", "ssh-nat", "1.128.0.0", 22, 2)]


def test_resource_specific_application_rule_sample():
    stats, rows = rows_of("elastic_AZFWApplicationRule.log")
    assert [pick(r) for r in rows] == [
        # Fqdn is empty: the target comes from TargetUrl
        ("AZFWApplicationRule", "application", 6, "HTTP", "1.128.0.0", 1234, "1.128.0.0", 123, "www.microsoft.com", "Allow",
         False, "policy", "ApplicationRuleGroup", "ApplicationRuleSet", "ApplicationRule", None, None, 1),
        # no DestinationIp key at all
        ("AZFWApplicationRule", "application", 6, "HTTPS", "1.128.0.0", 59956, None, 443,
         "test.us.endpoint.security.microsoft.com", "Allow", False, "test-azfw-premium-policy",
         "DefaultApplicationRuleCollectionGroup", "App-Collection", "Microsoft", None, None, 2)]
    assert (rows[0]["target_url"], rows[0]["web_category"]) == ("https://www.microsoft.com/en-us/about", "category")


def test_legacy_network_rule_sample_every_line():
    stats, rows = rows_of("elastic_AzureFirewallNetworkRule_legacy.log")
    assert (stats.records, stats.read) == (12, 8)
    assert dict(stats.rejected) == {"IDPS signature line (not a rule decision)": 3,
                                    "threat intelligence line (not a rule decision)": 1}
    assert stats.examples["IDPS signature line (not a rule decision)"][0].endswith("_legacy.log:6")
    assert [pick(r) for r in rows] == [
        ("AzureFirewallNetworkRule", "network", 1, None, "192.168.0.2", 0, "89.160.20.156", 0, None, "Deny", False, None, None,
         None, None, None, None, 1),
        ("AzureFirewallNetworkRule", "network", 17, None, "192.168.0.2", 51106, "89.160.20.156", 53, None, "Allow", False, None,
         None, None, None, None, None, 2),
        ("AzureFirewallNetworkRule", "network", 6, None, "192.168.0.2", 49680, "89.160.20.156", 1688, None, "Deny", False, None,
         None, None, None, None, None, 3),
        ("AzureFirewallNetworkRule", "nat", 6, None, "192.168.0.2", 50306, "89.160.20.156", 3389, None, "Dnat", False, None,
         None, None, None, "10.0.0.2", 3389, 4),
        ("AzureFirewallNetworkRule", "nat", 6, None, "192.168.0.2", 50306, "89.160.20.156", 3389, None, "Dnat", False,
         "policy-01", "DefaultDnatRuleCollectionGroup", "DNAT", "rule", "10.0.0.2", 3389, 5),
        # "Action: Allow.." with a double period, classic rules (no policy, no group)
        ("AzureFirewallNetworkRule", "network", 6, None, "192.168.0.2", 50306, "89.160.20.156", 3389, None, "Allow", False,
         None, None, "Permit_RFC1918", "Permit_RFC1918", None, None, 10),
        ("AzureFirewallNetworkRule", "nat", 6, None, "192.168.0.2", 50306, "89.160.20.156", 3388, None, "Dnat", False, None,
         None, "DNAT", "rule", "10.0.0.2", 3388, 11),
        # extra top-level tenantId / correlationId
        ("AzureFirewallNetworkRule", "network", 1, None, "192.168.0.2", 0, "89.160.20.156", 0, None, "Deny", False, None, None,
         None, None, None, None, 12),
    ]
    assert rows[-1]["time"] == dt.datetime(2026, 5, 7, 15, 45, 12, 345678, tzinfo=UTC)


def test_legacy_application_rule_sample_every_line():
    stats, rows = rows_of("elastic_AzureFirewallApplicationRule_legacy.log")
    assert (stats.records, stats.read) == (6, 4)
    assert dict(stats.rejected) == {"the target name did not resolve (not a rule decision)": 1,
                                    "application request denied before rule processing (SNI TLS extension was missing)": 1}
    assert [pick(r) for r in rows] == [
        ("AzureFirewallApplicationRule", "application", 6, "HTTPS", "10.0.2.4", 56029, None, 443,
         "md-qp4jv5snxgk5.z13.blob.storage.azure.net", "Deny", True, None, None, None, None, None, None, 1),
        ("AzureFirewallApplicationRule", "application", 6, "HTTPS", "10.0.0.1", 49553, None, 443, "guestconfiguration.azure.com",
         "Allow", False, "azfwpolicy-nbfw-prd-weeu-01", "DefaultApplicationRuleCollectionGroup",
         "enablement-genericwebcategory-prd-allow-200", "Allowed Business-Use Webcategories", None, None, 2),
        # "HTTP  request" (two spaces), a URL, and a rule name holding a comma (read as written)
        ("AzureFirewallApplicationRule", "application", 6, "HTTP", "10.0.0.1", 50776, None, 80, "ocsp.msocsp.com", "Allow",
         False, "azfwpolicy-nbfw-prd-weeu-01", "DefaultApplicationRuleCollectionGroup", "generic-allow-500",
         "Azure-to-AllowedServices, HTTP", None, None, 3),
        # classic rules: no policy and no group; the file has no final newline
        ("AzureFirewallApplicationRule", "application", 6, "HTTPS", "10.0.2.4", 59051, None, 443, "www.google.com", "Allow",
         False, None, None, "App-Coll01", "Allow-Google", None, None, 6),
    ]
    assert rows[1]["web_category"] == "ComputersAndTechnology" and rows[2]["target_url"] == "ocsp.msocsp.com/MFQ="


def test_msg_parser_edges():
    p = parse_msg("ICMP request from 192.168.0.2: to 175.16.199.1:. Action: alert. Signature: 2100366. IDS: ICMP_INFO PING *NIX.")
    assert (p["src_ip"], p["src_port"], p["dst_ip"], p["dst_port"], p["action"], p["signature"]) == (
        "192.168.0.2", None, "175.16.199.1", None, "alert", "2100366")
    p = parse_msg("TCP request from [2001:db8::1]:5000 to [2001:db8::2]:443. Action: Allow. Rule Collection: c. Rule: r")
    assert (p["src_ip"], p["src_port"], p["dst_ip"], p["dst_port"], p["rule"]) == ("2001:db8::1", 5000, "2001:db8::2", 443, "r")
    p = parse_msg("ICMP Type=8 request from 2001:db8::1 to 2001:db8::2. Action: Deny. ")  # unbracketed: an address, no port
    assert (p["src_ip"], p["dst_ip"], p["icmp"]) == ("2001:db8::1", "2001:db8::2", "ICMP TYPE=8")
    with pytest.raises(ValueError):
        parse_msg("something else entirely")


def test_times():
    assert parse_time("6/8/2022, 8:40:23.214 PM") == dt.datetime(2022, 6, 8, 20, 40, 23, 214000, tzinfo=UTC)
    assert parse_time("2022-06-08T20:40:23.2140990Z") == dt.datetime(2022, 6, 8, 20, 40, 23, 214099, tzinfo=UTC)
    assert parse_time("2022-06-08T22:40:23+02:00") == dt.datetime(2022, 6, 8, 20, 40, 23, tzinfo=UTC)
    assert parse_time("yesterday") is None


def test_content_detection_and_containers(tmp_path):
    assert looks_like_firewall_logs([LOGS]) and not looks_like_firewall_logs([DATA / "flowlogs"])
    line = (LOGS / "elastic_AZFWNetworkRule.log").read_text().splitlines()
    (tmp_path / "records.json").write_text(json.dumps({"records": [json.loads(x) for x in line]}, indent=2))
    (tmp_path / "array.json").write_text(json.dumps([json.loads(x) for x in line]))
    api = {"tables": [{"name": "PrimaryResult", "columns": [{"name": "TimeGenerated", "type": "datetime"},
                                                           {"name": "msg_s", "type": "string"}, {"name": "Category", "type": "string"}],
                       "rows": [["2022-06-08T13:27:16.951Z", "UDP request from 10.0.0.1:5 to 10.0.0.2:53. Action: Allow. ",
                                 "AzureFirewallNetworkRule"], ["x"]]}]}
    (tmp_path / "api.json").write_text(json.dumps(api))
    (tmp_path / "bad.log").write_text(line[0] + "\n{not json\n" + json.dumps({"category": "AZFWDnsQuery", "properties": {}}) + "\n")
    stream = read(tmp_path)
    rows = [r for t in stream for r in t.to_pylist()]
    st = stream.stats
    assert (st.files, st.records, st.read) == (4, 2 + 2 + 2 + 3, 6)
    assert st.rejected == {"query-API row that does not match its columns": 1, "category AZFWDnsQuery: not a rule log (not replayed)": 1,
                           "malformed JSON line (Expecting property name enclosed in double quotes)": 1}
    assert st.reconciles and st.shapes == {"records document": 1, "json array": 1, "log analytics tables": 1, "json lines": 1}
    assert {r["logged_rule"] for r in rows} == {"NetworkSecurityRule", "Allow-DNS", None}
    (tmp_path / "cut.json").write_text('{"records": [{"category": "AZFWNetworkRule",')
    with pytest.raises(FirewallLogError, match="malformed JSON document"):
        list(read(tmp_path / "cut.json"))


# -- replay --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fw():
    return FirewallPolicy.load(_policy_groups(), service_tags="20240610")


def _flows(n, seed=7):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        src = f"10.0.{rng.randint(0, 3)}.{rng.randint(1, 250)}"
        eph = rng.randint(1024, 65535)
        k = rng.random()
        if k < 0.2:
            out.append((6, src, eph, rng.choice(["20.119.27.200", "20.119.27.201", "8.8.8.8"]), 443, None))
        elif k < 0.3:
            out.append((rng.choice([6, 17]), src, eph, "168.63.129.16", 53, None))
        elif k < 0.4:
            out.append((1, src, 0, rng.choice(["192.0.2.9", "198.51.100.1"]), 0, None))
        elif k < 0.5:
            out.append((6, f"8.8.{rng.randint(0, 9)}.{rng.randint(1, 9)}", eph, "203.0.113.10", rng.choice([2222, 22]), None))
        else:
            host = rng.choice(["github.com", "raw.githubusercontent.com", "x.windowsupdate.com", "www.example-social.com",
                               "unknown.example"])
            out.append((6, src, eph, f"140.82.{rng.randint(0, 255)}.{rng.randint(1, 254)}", rng.choice([443, 80]), host))
    return out


@pytest.mark.parametrize("shape", ["resource-specific", "legacy", "log-analytics-csv", "log-analytics-json"])
def test_replay_of_logs_generated_from_the_policy_agrees_on_every_record(fw, tmp_path, shape):
    rows = firewall_log_rows(fw, _flows(300), dt.datetime(2024, 6, 10, 9, tzinfo=UTC))
    f = write_records(rows, tmp_path / f"log.{'csv' if shape.endswith('csv') else 'json'}", shape=shape)
    report = replay(read(f), fw)
    doc = report.to_dict()
    rec, agr = doc["reconciliation"], doc["agreement"]
    assert (rec["records"], rec["evaluated"], rec["rejected_total"], rec["reconciles"]) == (300, 300, 0, True)
    assert (agr["agree"], agr["disagree"]) == (300, 0), agr["examples"]
    assert rec["logged_kinds"].keys() == {"nat", "network", "application"}
    hits = {(r["kind"], r["rule"]): r["flows"] for r in doc["rules"]}
    expected: dict = {}
    for r in rows:
        if r["logged_rule"]:
            expected[(r["kind"], r["logged_rule"])] = expected.get((r["kind"], r["logged_rule"]), 0) + 1
    assert {k: v for k, v in hits.items() if v} == expected
    assert doc["default_deny"]["flows"] == sum(1 for r in rows if r["logged_default"])
    if shape == "legacy":  # application lines carry no destination address: application rules only
        assert rec["application_rules_only"] == sum(1 for r in rows if r["kind"] == "application")


def test_replay_finds_what_changed_in_the_policy(fw, tmp_path):
    rows = firewall_log_rows(fw, _flows(200), dt.datetime(2024, 6, 10, 9, tzinfo=UTC))
    f = write_records(rows, tmp_path / "log.json")
    stricter = FirewallPolicy.load([group("DefaultNetworkRuleCollectionGroup", 200,
                                          coll("allow-dns", 300, "Allow", [net_rule("dns", dst=["168.63.129.16"], ports=["53"],
                                                                                    protos=["UDP"])]))], service_tags="20240610")
    doc = replay(read(f), stricter).to_dict()
    tcp_dns = sum(1 for r in rows if r["logged_rule"] == "dns" and r["protocol"] == 6)
    allowed_elsewhere = sum(1 for r in rows if r["logged_action"] in ("Allow", "Dnat") and r["logged_rule"] != "dns")
    assert doc["agreement"]["decision_disagree"] == tcp_dns + allowed_elsewhere
    assert doc["unused_rules"] == [] and doc["rules"][0]["flows"] > 0


def test_cli_analyze_firewall_logs_json_parquet_html(fw, tmp_path, capsys):
    rows = firewall_log_rows(fw, _flows(120), dt.datetime(2024, 6, 10, 9, tzinfo=UTC))
    logs = tmp_path / "insights-logs-azfwnetworkrule"
    write_records(rows[:60], logs / "a" / "PT1H.json")
    write_records(rows[60:], logs / "b" / "PT1H.json", shape="legacy")
    policy_doc = tmp_path / "policy.json"
    policy_doc.write_text(json.dumps([g for g in _policy_groups()]))
    out, html = tmp_path / "v.parquet", tmp_path / "r.html"
    code = main(["analyze", str(logs), "--firewall-policy", str(policy_doc), "--service-tags", "20240610", "--json",
                 "--parquet", str(out), "--html", str(html)])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["agreement"]["agree"] == 120 and doc["reconciliation"]["files"] == 2
    assert set(doc) >= {"reconciliation", "agreement", "rules", "unused_rules", "default_deny", "top_talkers", "denied_by_port",
                        "timeline", "policy"}
    t = pq.read_table(out)
    assert t.num_rows == 120 and set(t.column("agreement").to_pylist()) <= {"agree", "rule_not_comparable"}
    assert "computed_rule" in t.column_names and "logged_rule" in t.column_names
    assert "Hits per rule" in html.read_text() and "reconciles" in html.read_text()
    code = main(["analyze", str(logs), "--firewall-policy", str(policy_doc), "--service-tags", "20240610"])
    text = capsys.readouterr().out
    assert code == 0 and "120 firewall log record(s): 120 evaluated + 0 rejected" in text and "hits per rule" in text


def test_cli_real_samples_reconcile_and_mixed_inputs_are_refused(tmp_path, capsys):
    policy_doc = tmp_path / "policy.json"
    policy_doc.write_text(json.dumps(_policy_groups()))
    code = main(["analyze", str(LOGS), "--firewall-policy", str(policy_doc), "--service-tags", "20240610", "--json"])
    doc = json.loads(capsys.readouterr().out)
    rec = doc["reconciliation"]
    assert (rec["records"], rec["evaluated"], rec["rejected_total"], rec["reconciles"]) == (24, 18, 6, True)
    assert code == 1  # the samples' rules are not in this policy
    code = main(["analyze", str(LOGS), str(DATA / "flowlogs"), "--firewall-policy", str(policy_doc)])
    assert code == 2 and "mix Azure Firewall logs and NSG/VNet flow logs" in capsys.readouterr().err
    empty = tmp_path / "empty.log"
    empty.write_text(json.dumps({"category": "AZFWNetworkRule", "properties": {}}) + "\n")
    code = main(["analyze", str(empty), "--firewall-policy", str(policy_doc), "--service-tags", "20240610", "--json"])
    assert code == 2


def _policy_groups():
    return [group("DefaultDnatRuleCollectionGroup", 100,
                  coll("dnat", 100, "Dnat", [nat_rule("ssh-in", "203.0.113.10", 2222, "10.0.0.4")], "FirewallPolicyNatRuleCollection")),
            group("DefaultNetworkRuleCollectionGroup", 200,
                  coll("deny-bad", 100, "Deny", [net_rule("deny-one", dst=["20.119.27.200"], ports=["443"])]),
                  coll("allow-adu", 200, "Allow", [net_rule("adu", src=["10.0.0.0/16"], dst=["AzureDeviceUpdate"], ports=["443"])]),
                  coll("allow-dns", 300, "Allow", [net_rule("dns", dst=["168.63.129.16"], ports=["53"], protos=["Any"])]),
                  coll("allow-icmp", 400, "Allow", [net_rule("icmp", dst=["192.0.2.0/24"], protos=["ICMP"])])),
            group("DefaultApplicationRuleCollectionGroup", 300,
                  coll("apps", 100, "Allow", [app_rule("github", ["github.com", "*.githubusercontent.com"]),
                                              app_rule("updates", ["*.windowsupdate.com"], protocols=(("Http", 80), ("Https", 443)))]),
                  coll("block", 200, "Deny", [app_rule("no-social", ["*.example-social.com"])]))]

"""pytest-benchmark for issue #20 (run by `make bench`): the AVNM admin stage in front of W1, and
Azure Firewall log replay through the public door (files on disk -> read -> replay).

- admin stage: W1's NSG (and its subnet+NIC split) behind 30 security admin rules with real tags,
  1M IPv4 flows as integer columns, one thread; compare with test_bench_matcher's W1 rows.
- firewall logs: 100k generated resource-specific records (network, DNAT and application rules).
"""
from __future__ import annotations

import datetime as dt
import random

import pytest

from adu_fw.evaluate import classify
from adu_fw.flowtable import flow_arrays
from adu_fw.policy import Policy
from adu_fw.servicetags import load_cached
from workloads import W1_TAGS, w1_flows, w1_rules

N = 1_000_000


def admin_rules(n: int = 30, seed: int = 3) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        direction = rng.choice(["Inbound", "Outbound"])
        remote = ({"addressPrefixType": "ServiceTag", "addressPrefix": rng.choice(W1_TAGS[:-2])} if rng.random() < 0.6 else
                  {"addressPrefixType": "IPPrefix", "addressPrefix": f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.0.0/16"})
        local = {"addressPrefixType": "IPPrefix", "addressPrefix": rng.choice(["10.0.0.0/16", "10.0.1.0/24", "*"])}
        src, dst = (remote, local) if direction == "Inbound" else (local, remote)
        out.append({"id": f"/x/networkManagers/m/securityAdminConfigurations/c/ruleCollections/k/rules/a{i}",
                    "properties": {"priority": 10 + i, "direction": direction, "protocol": rng.choice(["Tcp", "Udp", "Any"]),
                                   "access": rng.choice(["Allow", "Deny", "AlwaysAllow"]), "sources": [src],
                                   "destinations": [dst], "destinationPortRanges": rng.choice([["443"], ["22", "3389"], ["*"]])}})
    return out


@pytest.fixture(scope="module")
def fa():
    return flow_arrays(w1_flows(N))


def test_admin_stage_before_w1(benchmark, fa):
    p = Policy.from_nsg({"name": "w1-nsg", "properties": {"securityRules": w1_rules(200)}}, virtual_network=["10.0.0.0/16"],
                        service_tags=load_cached(), admin_rules=admin_rules()).compile()
    assert p.matcher().v4_path.startswith("lanes")
    benchmark.pedantic(classify, args=(p, fa, 1), rounds=5, iterations=1)


def test_admin_stage_before_w1_pair(benchmark, fa):
    rules = w1_rules(200)
    p = Policy.from_nsgs(subnet={"name": "s", "properties": {"securityRules": rules[:100]}},
                         nic={"name": "n", "properties": {"securityRules": rules[100:]}}, virtual_network=["10.0.0.0/16"],
                         service_tags=load_cached(), admin_rules=admin_rules()).compile()
    assert p.matcher().v4_path.startswith("lanes")
    benchmark.pedantic(classify, args=(p, fa, 1), rounds=5, iterations=1)


def test_firewall_log_replay(benchmark, tmp_path_factory):
    from adu_fw.firewall import FirewallPolicy
    from adu_fw.firewall_logs import read, write_records
    from adu_fw.firewall_replay import replay
    from adu_fw.samples import demo_firewall_policy, firewall_log_rows

    tags = load_cached("20240610")
    fw = FirewallPolicy.load(demo_firewall_policy(with_github=True), service_tags=tags)
    rng = random.Random(1)
    hosts = ["contoso.api.adu.microsoft.com", "github.com", "www.example.org", "hub.azure-devices.net"]
    flows = []
    for _ in range(20_000):
        k = rng.random()
        src = f"10.20.{rng.randint(0, 3)}.{rng.randint(1, 250)}"
        if k < 0.5:
            flows.append((6, src, rng.randint(1024, 65535), f"20.119.27.{rng.randint(193, 254)}", 443, None))
        elif k < 0.7:
            flows.append((17, src, rng.randint(1024, 65535), "168.63.129.16", 53, None))
        else:
            flows.append((6, src, rng.randint(1024, 65535), f"20.1.{rng.randint(0, 255)}.{rng.randint(1, 254)}", 443,
                          rng.choice(hosts)))
    rows = firewall_log_rows(fw, flows, dt.datetime(2024, 6, 10, tzinfo=dt.timezone.utc))
    d = tmp_path_factory.mktemp("fwlogs")
    for i in range(5):  # 100k records in 5 files
        write_records(rows, d / f"PT1H-{i}.json")

    def run():
        report = replay(read(d), fw)
        assert report.evaluated == 100_000 and report.disagree == 0

    benchmark.pedantic(run, rounds=3, iterations=1)

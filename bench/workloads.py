"""Benchmark workloads, generated reproducibly from the embedded real service tags.

W1: a 200-rule NSG pair-free policy whose rules use real tags (AzureCloud, AzureDeviceUpdate,
Storage, regional ones) plus CIDRs and port lists; flows as IPv4 integer columns, half aimed at
tag prefixes.
"""
from __future__ import annotations

import ipaddress
import random

import numpy as np

from adu_fw.policy import Policy
from adu_fw.servicetags import load_cached

W1_TAGS = ["AzureCloud", "AzureDeviceUpdate", "Storage", "Storage.WestEurope", "AzureCloud.westeurope",
           "AzureCloud.eastus", "Sql.EastUS", "AzureMonitor", "AzureActiveDirectory", "EventHub.WestEurope",
           "AzureKeyVault", "AzureFrontDoor.Backend", "GatewayManager", "AzureIoTHub", "Internet", "VirtualNetwork"]
PORT_LISTS = ["443", "80,443", "1024-65535", "22", "3389", "53", "8000-8100,9000", "*", "5671-5672", "8883"]


def w1_rules(n: int = 200, seed: int = 11, max_step: int = 15) -> list[dict]:
    rng = random.Random(seed)
    rules = []
    prio = {"Inbound": 100, "Outbound": 100}
    for i in range(n):
        direction = "Outbound" if i % 3 else "Inbound"
        prio[direction] += rng.randint(1, max_step)
        kind = rng.random()
        if kind < 0.5:
            remote = rng.choice(W1_TAGS)
        elif kind < 0.8:
            remote = [f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.0/{rng.choice([16, 20, 24, 28])}"
                      for _ in range(rng.randint(1, 6))]
            remote = [str(ipaddress.ip_network(p, strict=False)) for p in remote]
        else:
            remote = "*"
        local = rng.choice(["VirtualNetwork", "10.0.0.0/16", "10.0.1.0/24", "*"])
        props = {"priority": prio[direction], "direction": direction, "access": rng.choice(["Allow", "Allow", "Deny"]),
                 "protocol": rng.choice(["Tcp", "Tcp", "Udp", "*"]), "sourcePortRange": "*",
                 "destinationPortRanges": rng.choice(PORT_LISTS).split(",")}
        src, dst = (remote, local) if direction == "Inbound" else (local, remote)
        for key, val in (("sourceAddressPrefix", src), ("destinationAddressPrefix", dst)):
            props[key + ("es" if isinstance(val, list) else "")] = val
        rules.append({"name": f"rule{i:03d}", "properties": props})
    return rules


def w1_policy(n: int = 200) -> Policy:
    rules = w1_rules(n, max_step=15 if n <= 200 else 3)
    return Policy.from_nsg({"name": "w1-nsg", "properties": {"securityRules": rules}},
                           virtual_network=["10.0.0.0/16"], service_tags=load_cached("20240610"))


def w1_pair_policy() -> Policy:
    """W1's 200 rules split into a subnet NSG (the first 100) and a NIC NSG (the rest)."""
    rules = w1_rules(200)
    return Policy.from_nsgs(subnet={"name": "w1-subnet", "properties": {"securityRules": rules[:100]}},
                            nic={"name": "w1-nic", "properties": {"securityRules": rules[100:]}},
                            virtual_network=["10.0.0.0/16"], service_tags=load_cached("20240610"))


def w1_flows(n: int, seed: int = 5) -> dict[str, np.ndarray]:
    """IPv4 flows as integer columns: half aimed at tag prefixes, the rest uniform."""
    rng = np.random.default_rng(seed)
    tags = load_cached("20240610")
    nets = [ipaddress.ip_network(p) for t in W1_TAGS[:-2] for p in tags[t].ipv4_prefixes]
    starts = np.array([int(n.network_address) for n in nets], np.uint64)
    sizes = np.array([n.num_addresses for n in nets], np.uint64)
    pick = rng.integers(0, len(nets), n // 2)
    aimed = starts[pick] + (rng.integers(0, 2**32, n // 2, dtype=np.uint64) % sizes[pick])
    remote = np.concatenate([aimed, rng.integers(0, 2**32, n - n // 2, dtype=np.uint64)]).astype(np.uint32)
    rng.shuffle(remote)
    local = (np.uint32(0x0A000000) + rng.integers(0, 2**16, n, dtype=np.uint32)).astype(np.uint32)
    direction = rng.integers(0, 2, n, dtype=np.uint8)
    outbound = direction == 1
    src = np.where(outbound, local, remote).astype(np.uint32)
    dst = np.where(outbound, remote, local).astype(np.uint32)
    ports = np.array([443, 80, 22, 3389, 53, 8080, 8883, 5671, 1024, 50000], np.uint16)
    return {
        "direction": direction,
        "protocol": rng.choice(np.array([6, 6, 6, 17, 1], np.uint8), n),
        "src_ip": src,
        "src_port": rng.integers(1024, 65536, n, dtype=np.uint16),
        "dst_ip": dst,
        "dst_port": ports[rng.integers(0, len(ports), n)],
    }

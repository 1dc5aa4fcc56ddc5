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


SPORT_LISTS = ["1024-65535", "49152-65535", "53", "123", "0-1023", "443", "32768-60999", "1-1023,49152-65535"]


def w3_rules(n: int = 200, seed: int = 13) -> list[dict]:
    """W1's rules plus 10% more that name source ports (both directions, priorities in between)."""
    rules = w1_rules(n)
    rng = random.Random(seed)
    used = {(r["properties"]["direction"], r["properties"]["priority"]) for r in rules}
    top = max(p for _, p in used)
    for i in range(n // 10):
        base = dict(rng.choice(rules)["properties"])
        direction = "Inbound" if i % 2 else "Outbound"
        prio = rng.randint(100, top)
        while (direction, prio) in used:
            prio = rng.randint(100, top)
        used.add((direction, prio))
        base.update(priority=prio, direction=direction, access=rng.choice(["Allow", "Deny"]))
        base.pop("sourcePortRange", None)
        base["sourcePortRanges"] = rng.choice(SPORT_LISTS).split(",")
        if base["direction"] != rules[0]["properties"]["direction"]:  # keep local/remote on the right sides
            for a, b in (("sourceAddressPrefix", "destinationAddressPrefix"), ("sourceAddressPrefixes", "destinationAddressPrefixes")):
                base[a], base[b] = base.get(b), base.get(a)
            base = {k: v for k, v in base.items() if v is not None}
        rules.append({"name": f"sport{i:03d}", "properties": base})
    return rules


def w3_policy() -> Policy:
    return Policy.from_nsg({"name": "w3-nsg", "properties": {"securityRules": w3_rules()}},
                           virtual_network=["10.0.0.0/16"], service_tags=load_cached())


def w3_flows(n: int, seed: int = 5) -> dict[str, np.ndarray]:
    """W1's flows with a fifth of the source ports well-known (replies from DNS, NTP, web servers)."""
    flows = w1_flows(n, seed)
    rng = np.random.default_rng(seed + 1)
    known = np.array([53, 123, 443, 80, 1023, 0, 49152, 65535], np.uint16)
    pick = rng.random(n) < 0.2
    flows["src_port"] = np.where(pick, known[rng.integers(0, len(known), n)], flows["src_port"]).astype(np.uint16)
    return flows


def as_table(flows: dict[str, np.ndarray]) -> "pa.Table":
    """Flow columns as the Arrow table users have: uint32 addresses, uint16 ports, uint8 protocol and
    a dictionary-encoded direction ("Inbound"/"Outbound"); numeric buffers shared, not copied."""
    import pyarrow as pa

    direction = pa.DictionaryArray.from_arrays(pa.array(flows["direction"].view(np.int8)),
                                               pa.array(["Inbound", "Outbound"]))
    return pa.table({"direction": direction, "protocol": pa.array(flows["protocol"]), "src_ip": pa.array(flows["src_ip"]),
                     "src_port": pa.array(flows["src_port"]), "dst_ip": pa.array(flows["dst_ip"]),
                     "dst_port": pa.array(flows["dst_port"])})


V6_VNET = "2001:db8:10::/48"


def w1_v6_policy() -> Policy:
    """W1's rules with the VNet given an IPv6 range too (the VirtualNetwork tag then holds IPv6)."""
    return Policy.from_nsg({"name": "w1-nsg", "properties": {"securityRules": w1_rules()}},
                           virtual_network=["10.0.0.0/16", V6_VNET], service_tags=load_cached())


def w1_v6_flows(n: int, seed: int = 5) -> dict[str, np.ndarray]:
    """W1's flows in IPv6, as two uint64 columns per address (``src_ip_hi``/``src_ip_lo``, ...):
    half of the remote addresses inside the tags' IPv6 prefixes, the rest anywhere in 2000::/3,
    the local ones in the VNet's /48 with random interface ids."""
    rng = np.random.default_rng(seed)
    tags = load_cached()
    nets = [ipaddress.ip_network(p) for t in W1_TAGS[:-2] for p in tags[t].ipv6_prefixes]
    base_hi = np.array([int(x.network_address) >> 64 for x in nets], np.uint64)
    base_lo = np.array([int(x.network_address) & (2**64 - 1) for x in nets], np.uint64)
    plen = np.array([x.prefixlen for x in nets])
    pick = rng.integers(0, len(nets), n // 2)
    r_hi = rng.integers(0, 2**64, n // 2, dtype=np.uint64)
    r_lo = rng.integers(0, 2**64, n // 2, dtype=np.uint64)
    p = plen[pick]
    host_hi = np.where(p >= 64, np.uint64(0), r_hi >> np.minimum(p, 63).astype(np.uint64))  # bits below the prefix
    host_lo = np.where(p >= 64, r_lo >> np.clip(p - 64, 0, 63).astype(np.uint64), r_lo)
    host_lo = np.where(p == 128, np.uint64(0), host_lo)
    aimed_hi, aimed_lo = base_hi[pick] | host_hi, base_lo[pick] | host_lo
    any_hi = (rng.integers(0, 2**61, n - n // 2, dtype=np.uint64) | np.uint64(1 << 61))  # 2000::/3
    any_lo = rng.integers(0, 2**64, n - n // 2, dtype=np.uint64)
    order = rng.permutation(n)
    remote_hi = np.concatenate([aimed_hi, any_hi])[order]
    remote_lo = np.concatenate([aimed_lo, any_lo])[order]
    vnet = int(ipaddress.ip_network(V6_VNET).network_address)
    local_hi = np.uint64(vnet >> 64) | rng.integers(0, 2**16, n, dtype=np.uint64)
    local_lo = rng.integers(0, 2**64, n, dtype=np.uint64)
    v4 = w1_flows(n, seed)
    out = {k: v4[k] for k in ("direction", "protocol", "src_port", "dst_port")}
    outbound = v4["direction"] == 1
    out["src_ip_hi"] = np.where(outbound, local_hi, remote_hi)
    out["src_ip_lo"] = np.where(outbound, local_lo, remote_lo)
    out["dst_ip_hi"] = np.where(outbound, remote_hi, local_hi)
    out["dst_ip_lo"] = np.where(outbound, remote_lo, local_lo)
    return out


def as_v6_table(flows: dict[str, np.ndarray]) -> "pa.Table":
    """IPv6 flows as an Arrow table with fixed_size_binary(16) addresses (network byte order)."""
    import pyarrow as pa

    cols = {k: pa.array(flows[k]) for k in ("protocol", "src_port", "dst_port")}
    cols["direction"] = pa.DictionaryArray.from_arrays(pa.array(flows["direction"].view(np.int8)),
                                                       pa.array(["Inbound", "Outbound"]))
    for side in ("src", "dst"):
        be = np.empty((len(flows["direction"]), 2), ">u8")
        be[:, 0], be[:, 1] = flows[f"{side}_ip_hi"], flows[f"{side}_ip_lo"]
        cols[f"{side}_ip"] = pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), len(be), [None, pa.py_buffer(be.tobytes())])
    return pa.table(cols)

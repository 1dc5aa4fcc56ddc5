"""Service-tag lookup throughput: adu-fw against pytricia, py-radix and netaddr, in one run.

Workload: the newest embedded service-tag file (all tags); 1M IPv4 addresses, half inside
tag prefixes and half uniformly random. Each peer answers the same question, "which tags hold
this address", from a structure built over every prefix; the answers are checked to agree.
Run: .venv/bin/python bench/compare.py [--n 1000000]
"""
from __future__ import annotations

import argparse
import ipaddress
import random
import time

import numpy as np
import pyarrow as pa

from adu_fw.servicetags import ServiceTags, default_path


def make_addresses(tags: ServiceTags, n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    v4 = [ipaddress.IPv4Network(p) for t in tags for p in t.ipv4_prefixes]
    out = []
    for _ in range(n // 2):
        net = rng.choice(v4)
        out.append(str(net.network_address + rng.randrange(net.num_addresses)))
    for _ in range(n - n // 2):
        out.append(str(ipaddress.IPv4Address(rng.getrandbits(32))))
    rng.shuffle(out)
    return out


def timed(fn):
    t = time.perf_counter()
    res = fn()
    return res, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--netaddr-n", type=int, default=300, help="netaddr scans linearly: time a sample")
    args = ap.parse_args()

    tags, t_load = timed(lambda: ServiceTags.load(default_path()))
    _, t_index = timed(tags.build_index)
    ips = make_addresses(tags, args.n)
    col = pa.array(ips, type=pa.string())
    ints = np.array([int(ipaddress.IPv4Address(s)) for s in ips], dtype=np.uint32)
    rows = []

    res_str, t = timed(lambda: tags.lookup_many(col))
    rows.append(("adu-fw lookup_many (strings, full tag lists)", t_index, args.n, t))
    res_int, t = timed(lambda: tags.lookup_many(ints))
    rows.append(("adu-fw lookup_many (uint32, full tag lists)", t_index, args.n, t))
    from adu_fw.ip import parse_addresses

    pcol = parse_addresses(ints)
    _, t = timed(lambda: tags._index.locate(pcol))
    rows.append(("adu-fw longest match only (uint32)", t_index, args.n, t))
    expected = res_str.to_pylist()

    # the value each trie stores per prefix: the full chain for that prefix (computed with adu-fw,
    # so every peer returns the same list and only lookup speed is compared)
    idx = tags._index
    value_of = {
        text: [name for name, _ in idx.chain(node)] for node, text in enumerate(idx.node_text) if ":" not in text
    }
    prefixes = sorted(value_of)

    try:
        import pytricia

        def build_pt():
            pt = pytricia.PyTricia(32)
            for p in prefixes:
                pt[p] = value_of[p]
            return pt

        pt, tb = timed(build_pt)
        got, t = timed(lambda: [pt.get(ip) or [] for ip in ips])
        assert got == expected, "pytricia disagrees"
        rows.append(("pytricia (get per address)", tb, args.n, t))
    except ImportError:
        print("pytricia not installed (make bench installs it)")

    try:
        import radix

        def build_rt():
            rt = radix.Radix()
            for p in prefixes:
                rt.add(p).data["v"] = value_of[p]
            return rt

        rt, tb = timed(build_rt)

        def look():
            out = []
            for ip in ips:
                node = rt.search_best(ip)
                out.append(node.data["v"] if node is not None else [])
            return out

        got, t = timed(look)
        assert got == expected, "py-radix disagrees"
        rows.append(("py-radix (search_best per address)", tb, args.n, t))
    except ImportError:
        print("py-radix not installed (make bench installs it)")

    import netaddr

    sample = ips[: args.netaddr_n]
    cidrs, tb = timed(lambda: [netaddr.IPNetwork(p) for p in prefixes])

    def look_netaddr():
        out = []
        for ip in sample:
            best = netaddr.smallest_matching_cidr(ip, cidrs)
            out.append(value_of[str(best)] if best is not None else [])
        return out

    got, t = timed(look_netaddr)
    assert got == expected[: len(sample)], "netaddr disagrees"
    rows.append((f"netaddr (smallest_matching_cidr, {len(sample)} sampled)", tb, len(sample), t))

    base = args.n / rows[0][3]
    print(f"\nservice tags: {tags.source}")
    print(f"{len(tags)} tags, {len(prefixes)} unique IPv4 prefixes; load {t_load:.3f} s, index build {t_index:.3f} s")
    print(f"{args.n} IPv4 addresses, half inside tag prefixes\n")
    w = max(len(r[0]) for r in rows)
    print(f"{'peer':<{w}}  {'build s':>8}  {'addresses/s':>13}  {'vs adu-fw strings':>17}")
    for name, tb, n, t in rows:
        rate = n / t
        print(f"{name:<{w}}  {tb:8.3f}  {rate:13,.0f}  {rate / base:16.3f}x")


if __name__ == "__main__":
    main()

"""Generated flow logs for the demo, the tests and the benchmarks (labelled as generated).

The demo scenario: a Device Update client subnet (10.20.1.0/24 in VNet 10.20.0.0/16 and
2001:db8:20::/48) whose NSG allows outbound AzureDeviceUpdate on TCP 443, SSH from a corporate
range, and denies the rest of the Internet. Its flows are written as an NSG flow log v1 hour, an
NSG v2 hour and VNet flow log v4 hours, in the storage blob layout. Logged decisions and rules come
from the reference evaluator, with the service-tag file in force at the time: the v4 hour of
2024-06-09 used the 20240603 tags, in which AzureDeviceUpdate had no IPv6 prefixes, so its IPv6
Device Update flows were denied then and are allowed now (the disagreements the demo shows). The
last v4 blob is cut mid-write, as an hourly blob being appended to is.

Run ``python -m adu_fw.samples OUTDIR`` to write the scenario (deterministic).
"""
from __future__ import annotations

import datetime as _dt
import json
import random
import sys
from pathlib import Path
from typing import Any

from .policy import Policy
from .servicetags import load_cached

__all__ = ["demo_template", "demo_admin_rules", "demo_firewall_policy", "write_demo", "write_avnm_demo", "write_firewall_demo",
           "write_nsg_v2_hours", "firewall_log_rows", "DEMO_VNET"]

SUB = "00000000-0000-0000-0000-00000000ad00"
RG = "ADU-DEMO-RG"
NSG_NAME = "adu-client-nsg"
DEMO_VNET = ["10.20.0.0/16", "2001:db8:20::/48"]
NSG_RID = f"/SUBSCRIPTIONS/{SUB}/RESOURCEGROUPS/{RG}/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/{NSG_NAME.upper()}"
FLOWLOG_RID = f"/SUBSCRIPTIONS/{SUB}/RESOURCEGROUPS/NETWORKWATCHERRG/PROVIDERS/MICROSOFT.NETWORK/NETWORKWATCHERS/NETWORKWATCHER_WESTEUROPE/FLOWLOGS/ADU-VNET-FLOWLOG"
MAC = "000D3A1B2C3D"


def demo_template() -> dict[str, Any]:
    """An ARM template: the client NSG and the VNet whose subnet uses it."""
    def rule(name: str, prio: int, direction: str, access: str, proto: str, src: str, dst: str, dport: str) -> dict[str, Any]:
        return {"name": name, "properties": {"priority": prio, "direction": direction, "access": access, "protocol": proto,
                                             "sourceAddressPrefix": src, "sourcePortRange": "*",
                                             "destinationAddressPrefix": dst, "destinationPortRange": dport}}

    return {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {"nsgName": {"type": "string", "defaultValue": NSG_NAME},
                       "corpRange": {"type": "string", "defaultValue": "203.0.113.0/24"}},
        "variables": {"vnetName": "adu-vnet"},
        "resources": [
            {"type": "Microsoft.Network/networkSecurityGroups", "apiVersion": "2023-09-01", "name": "[parameters('nsgName')]",
             "location": "westeurope", "properties": {"securityRules": [
                 rule("allow-adu-443", 100, "Outbound", "Allow", "Tcp", "VirtualNetwork", "AzureDeviceUpdate", "443"),
                 rule("allow-ssh-corp", 200, "Inbound", "Allow", "Tcp", "[parameters('corpRange')]", "VirtualNetwork", "22"),
                 rule("deny-internet-out", 4000, "Outbound", "Deny", "*", "*", "Internet", "*"),
             ]}},
            {"type": "Microsoft.Network/virtualNetworks", "apiVersion": "2023-09-01", "name": "[variables('vnetName')]",
             "location": "westeurope",
             "properties": {"addressSpace": {"addressPrefixes": DEMO_VNET},
                            "subnets": [{"name": "devices", "properties": {
                                "addressPrefixes": ["10.20.1.0/24", "2001:db8:20:1::/64"],
                                "networkSecurityGroup": {"id": "[resourceId('Microsoft.Network/networkSecurityGroups', parameters('nsgName'))]"}}}]}},
        ],
    }


def _flows(rng: random.Random, tags: Any, n: int, v6: bool) -> list[tuple[str, int, str, int, str, int]]:
    adu4 = [p for p in tags["AzureDeviceUpdate"].ipv4_prefixes]
    adu6 = [p for p in load_cached("20240610")["AzureDeviceUpdate"].ipv6_prefixes]

    def host(prefix: str) -> str:
        import ipaddress

        net = ipaddress.ip_network(prefix)
        return str(net.network_address + rng.randrange(1, max(2, net.num_addresses - 1)))

    out = []
    for _ in range(n):
        dev = f"10.20.1.{rng.randint(4, 40)}"
        k = rng.random()
        eph = rng.randint(32768, 60999)
        if v6 and k < 0.25:
            out.append(("O", 6, f"2001:db8:20:1::{rng.randint(4, 40):x}", eph, host(rng.choice(adu6)), 443))
        elif k < 0.45:
            out.append(("O", 6, dev, eph, host(rng.choice(adu4)), 443))
        elif k < 0.52:
            out.append(("O", 6, dev, eph, host(rng.choice(adu4)), 80))
        elif k < 0.62:
            out.append(("O", 6, dev, eph, rng.choice(["93.184.216.34", "151.101.1.69", "140.82.121.4"]), 443))
        elif k < 0.70:
            out.append(("O", 17, dev, eph, "168.63.129.16", 53))
        elif k < 0.78:
            out.append(("O", 6, dev, eph, f"10.20.2.{rng.randint(4, 20)}", 8883))
        elif k < 0.86:
            out.append(("I", 6, f"203.0.113.{rng.randint(1, 254)}", eph, dev, 22))
        else:
            out.append(("I", 6, f"{rng.choice([45, 80, 185, 193])}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                        eph, dev, rng.choice([22, 23, 3389, 445, 8080])))
    return out


def _blob_dir(root: Path, container: str, rid: str, hour: _dt.datetime) -> Path:
    return (root / container / f"resourceId={rid}" / f"y={hour:%Y}" / f"m={hour:%m}" / f"d={hour:%d}" / f"h={hour:%H}"
            / "m=00" / f"macAddress={MAC}")


def _verdicts(policy: Policy, flows: list[tuple[Any, ...]]) -> list[tuple[bool, str]]:
    """(allowed, flow-log rule name) per flow, from the compiled matcher in one call."""
    t = policy.evaluate({k: [f[i] for f in flows] for i, k in enumerate(
        ("direction", "protocol", "src_ip", "src_port", "dst_ip", "dst_port"))})
    return list(zip(t.column("allowed").to_pylist(), t.column("log_rule").to_pylist()))


class _V:
    def __init__(self, allowed: bool, log_rule: str) -> None:
        self.allowed, self.log_rule = allowed, log_rule


def _nsg_hour(policy: Policy, flows: list[tuple[Any, ...]], hour: _dt.datetime, version: int, rng: random.Random) -> dict[str, Any]:
    records = []
    per_minute: dict[int, list[tuple[Any, ...]]] = {}
    verdict = dict(zip(range(len(flows)), _verdicts(policy, flows)))
    for i, f in enumerate(flows):
        per_minute.setdefault(rng.randint(0, 59), []).append((i, *f))
    for minute in sorted(per_minute):
        by_rule: dict[str, list[str]] = {}
        for i, d, proto, src, sport, dst, dport in per_minute[minute]:
            v = _V(*verdict[i])
            ts = int((hour + _dt.timedelta(minutes=minute, seconds=rng.randint(0, 59))).timestamp())
            letter = {6: "T", 17: "U"}[proto]
            t = f"{ts},{src},{dst},{sport},{dport},{letter},{d},{'A' if v.allowed else 'D'}"
            if version == 2:
                state = rng.choice("BCE") if v.allowed else "B"
                t += ",B,,,," if state == "B" else f",{state},{rng.randint(1, 40)},{rng.randint(60, 40000)},{rng.randint(1, 40)},{rng.randint(60, 90000)}"
            by_rule.setdefault(v.log_rule or "", []).append(t)
        records.append({
            "time": (hour + _dt.timedelta(minutes=minute + 1)).strftime("%Y-%m-%dT%H:%M:%S.0000000Z"),
            "systemId": "5a5e1f1e-0000-4000-8000-00000000ad00",
            "macAddress": MAC,
            "category": "NetworkSecurityGroupFlowEvent",
            "resourceId": NSG_RID,
            "operationName": "NetworkSecurityGroupFlowEvents",
            "properties": {"Version": version, "flows": [
                {"rule": rule, "flows": [{"mac": MAC, "flowTuples": tuples}]} for rule, tuples in by_rule.items()]},
        })
    return {"records": records}


def _vnet_hour(policy: Policy, flows: list[tuple[Any, ...]], hour: _dt.datetime, rng: random.Random,
               admin_acl: str | None = None) -> dict[str, Any]:
    """One hour of VNet flow logs; with ``admin_acl``, admin-rule groups go under that aclID, named ``<rule>_<guid>``."""
    records = []
    per_minute: dict[int, list[tuple[Any, ...]]] = {}
    for f in flows:
        per_minute.setdefault(rng.randint(0, 59), []).append(f)
    for minute in sorted(per_minute):
        by_rule: dict[str, list[str]] = {}
        for d, proto, src, sport, dst, dport in per_minute[minute]:
            v = policy.check(d, proto, src, sport, dst, dport)
            ts = int((hour + _dt.timedelta(minutes=minute, seconds=rng.randint(0, 59))).timestamp() * 1000) + rng.randint(0, 999)
            state = "D" if not v.allowed else rng.choice("BCE")
            counts = "0,0,0,0" if state in "BD" else f"{rng.randint(1, 40)},{rng.randint(60, 40000)},{rng.randint(1, 40)},{rng.randint(60, 90000)}"
            name = v.log_rule or ""
            if admin_acl is not None and v.layer == "admin":
                name = f"{name}_{AVNM_GUIDS[name]}"
            by_rule.setdefault(name, []).append(f"{ts},{src},{dst},{sport},{dport},{proto},{d},{state},NX,{counts}")
        records.append({
            "time": (hour + _dt.timedelta(minutes=minute + 1)).strftime("%Y-%m-%dT%H:%M:%S.0000000Z"),
            "flowLogVersion": 4,
            "flowLogGUID": "66aa66aa-0000-4000-8000-00000000ad00",
            "macAddress": MAC,
            "category": "FlowLogFlowEvent",
            "flowLogResourceID": FLOWLOG_RID,
            "targetResourceID": f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Network/virtualNetworks/adu-vnet",
            "operationName": "FlowLogFlowEvent",
            "flowRecords": {"flows": [
                {"aclID": acl, "flowGroups": [{"rule": r, "flowTuples": ts} for r, ts in by_rule.items()
                                              if (acl == admin_acl) == (r.split("_", 1)[0] in AVNM_GUIDS)]}
                for acl in ["9f0e3c7a-0000-4000-8000-00000000ad00"] + ([admin_acl] if admin_acl else [])]},
        })
    return {"records": records}


AVNM_TAGS = "20240610"  # the AVNM scenario names its service-tag file (the default file changes over time)
AVNM_GUIDS = {  # the resourceGuid of each admin rule: real VNet flow logs name admin rules "<name>_<guid>"
    "AllowSecurityScanner": "5c1f0b6e-3d2a-4e8b-9a71-0d6e2f4b8c11",
    "DenyHighRiskPortsFromInternet": "8e593d16-5f9d-4b25-b3b2-df7b6951a08b",
    "AllowDeviceUpdateOut": "2b7a9c40-6e1d-4f3a-8c55-1a9e7d3b6f22",
}
AVNM_ACL = "65624055-d088-44e6-9c98-b7cadd84885a"


def demo_admin_rules() -> dict[str, Any]:
    """An ARM template: a network manager's security admin configuration with one rule collection.

    AlwaysAllow for a security scanner (198.51.100.0/28, any TCP port: the NSG would deny it), Deny of
    high-risk TCP ports from the Internet (SSH stays with the NSG, which allows it from the corporate
    range; the NSG would deny the others too, by its default rule), and an Allow of outbound HTTPS to
    AzureDeviceUpdate (handed to the NSG, which decides).
    """
    def rule(name: str, prio: int, direction: str, access: str, src: dict[str, str], dst: dict[str, str],
             dports: list[str]) -> dict[str, Any]:
        return {"type": "rules", "apiVersion": "2024-05-01", "name": name, "kind": "Custom",
                "dependsOn": ["[variables('collectionId')]"],
                "properties": {"description": f"generated demo rule {name}", "priority": prio, "direction": direction,
                               "access": access, "protocol": "Tcp", "sources": [src], "destinations": [dst],
                               "sourcePortRanges": ["0-65535"], "destinationPortRanges": dports}}

    any_ip = {"addressPrefixType": "IPPrefix", "addressPrefix": "*"}
    return {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {"networkManagerName": {"type": "string", "defaultValue": "adu-avnm"},
                       "scannerRange": {"type": "string", "defaultValue": "198.51.100.0/28"}},
        "variables": {"configName": "org-guardrails", "collectionName": "device-subnets",
                      "collectionId": "[resourceId('Microsoft.Network/networkManagers/securityAdminConfigurations/ruleCollections', "
                                      "parameters('networkManagerName'), variables('configName'), variables('collectionName'))]"},
        "resources": [
            {"type": "Microsoft.Network/networkManagers", "apiVersion": "2024-05-01", "name": "[parameters('networkManagerName')]",
             "location": "westeurope",
             "properties": {"networkManagerScopes": {"subscriptions": [f"/subscriptions/{SUB}"]},
                            "networkManagerScopeAccesses": ["SecurityAdmin"]},
             "resources": [
                 {"type": "securityAdminConfigurations", "apiVersion": "2024-05-01", "name": "[variables('configName')]",
                  "dependsOn": ["[parameters('networkManagerName')]"],
                  "properties": {"applyOnNetworkIntentPolicyBasedServices": ["None"]},
                  "resources": [
                      {"type": "ruleCollections", "apiVersion": "2024-05-01", "name": "[variables('collectionName')]",
                       "dependsOn": ["[variables('configName')]"],
                       "properties": {"appliesToGroups": [{"networkGroupId": "[resourceId('Microsoft.Network/networkManagers/networkGroups', "
                                                                             "parameters('networkManagerName'), 'adu-devices')]"}]},
                       "resources": [
                           rule("AllowSecurityScanner", 10, "Inbound", "AlwaysAllow",
                                {"addressPrefixType": "IPPrefix", "addressPrefix": "[parameters('scannerRange')]"}, any_ip, ["0-65535"]),
                           rule("DenyHighRiskPortsFromInternet", 20, "Inbound", "Deny",
                                {"addressPrefixType": "ServiceTag", "addressPrefix": "Internet"}, any_ip,
                                ["20-21", "23", "135", "445", "3389", "5900"]),
                           rule("AllowDeviceUpdateOut", 30, "Outbound", "Allow", any_ip,
                                {"addressPrefixType": "ServiceTag", "addressPrefix": "AzureDeviceUpdate"}, ["443"]),
                       ]},
                  ]},
             ]},
        ],
    }


def _write(path: Path, doc: dict[str, Any], *, cut: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc, indent=1)
    if cut:  # an hourly blob still being appended to: cut inside the last record
        last = text.rfind('"flowTuples"')
        text = text[: last + 40]
    path.write_text(text)


def write_demo(root: str | Path) -> Path:
    """Write the demo scenario under ``root``: ``client-nsg.json`` and ``flowlogs/`` (blob layout)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "client-nsg.json").write_text(json.dumps(demo_template(), indent=2) + "\n")
    rng = random.Random(20240610)
    old, new = load_cached("20240603"), load_cached("20240610")
    p_new = Policy.from_nsg(root / "client-nsg.json", service_tags=new)
    p_old = Policy.from_nsg(root / "client-nsg.json", service_tags=old)
    logs = root / "flowlogs"
    nsg_c = "insights-logs-networksecuritygroupflowevent"
    vnet_c = "insights-logs-flowlogflowevent"
    h = _dt.datetime(2024, 6, 10, 9, tzinfo=_dt.timezone.utc)
    _write(_blob_dir(logs, nsg_c, NSG_RID, h) / "PT1H.json", _nsg_hour(p_new, _flows(rng, new, 120, False), h, 1, rng))
    h = _dt.datetime(2024, 6, 10, 10, tzinfo=_dt.timezone.utc)
    _write(_blob_dir(logs, nsg_c, NSG_RID, h) / "PT1H.json", _nsg_hour(p_new, _flows(rng, new, 160, False), h, 2, rng))
    h = _dt.datetime(2024, 6, 9, 23, tzinfo=_dt.timezone.utc)  # the old tags were in force
    _write(_blob_dir(logs, vnet_c, FLOWLOG_RID, h) / "PT1H.json", _vnet_hour(p_old, _flows(rng, old, 160, True), h, rng))
    h = _dt.datetime(2024, 6, 10, 11, tzinfo=_dt.timezone.utc)
    _write(_blob_dir(logs, vnet_c, FLOWLOG_RID, h) / "PT1H.json", _vnet_hour(p_new, _flows(rng, new, 200, True), h, rng))
    h = _dt.datetime(2024, 6, 10, 12, tzinfo=_dt.timezone.utc)
    _write(_blob_dir(logs, vnet_c, FLOWLOG_RID, h) / "PT1H.json", _vnet_hour(p_new, _flows(rng, new, 60, True), h, rng), cut=True)
    return root  # the AVNM part: write_avnm_demo


def _avnm_flows(rng: random.Random, tags: Any, n: int) -> list[tuple[str, int, str, int, str, int]]:
    """The demo flows plus a security scanner's probes (198.51.100.0/28) and more Internet probes of high-risk ports."""
    out = _flows(rng, tags, n, True)
    for _ in range(n // 5):
        dev = f"10.20.1.{rng.randint(4, 40)}"
        eph = rng.randint(32768, 60999)
        if rng.random() < 0.5:
            out.append(("I", 6, f"198.51.100.{rng.randint(1, 14)}", eph, dev, rng.choice([22, 443, 3389, 8080])))
        else:
            out.append(("I", 6, f"{rng.choice([45, 80, 185])}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                        eph, dev, rng.choice([21, 23, 135, 445, 3389, 5900])))
    rng.shuffle(out)
    return out


def write_avnm_demo(root: str | Path) -> Path:
    """The AVNM part of the scenario: ``avnm-admin-rules.json`` and ``flowlogs-avnm/`` (VNet flow logs v4 of
    2024-06-10 13:00 and 14:00 with the admin rules in force, logged as real logs name them)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "avnm-admin-rules.json").write_text(json.dumps(demo_admin_rules(), indent=2) + "\n")
    if not (root / "client-nsg.json").exists():
        (root / "client-nsg.json").write_text(json.dumps(demo_template(), indent=2) + "\n")
    rng = random.Random(20240611)
    tags = load_cached(AVNM_TAGS)
    policy = Policy.from_nsg(root / "client-nsg.json", service_tags=tags, admin_rules=root / "avnm-admin-rules.json")
    for hour in (13, 14):
        h = _dt.datetime(2024, 6, 10, hour, tzinfo=_dt.timezone.utc)
        doc = _vnet_hour(policy, _avnm_flows(rng, tags, 150), h, rng, admin_acl=AVNM_ACL)
        _write(_blob_dir(root / "flowlogs-avnm", "insights-logs-flowlogflowevent", FLOWLOG_RID, h) / "PT1H.json", doc)
    return root


def firewall_log_rows(fw: Any, flows: list[tuple[Any, ...]], start: _dt.datetime,
                      resource_id: str = "/SUBSCRIPTIONS/0/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/AZUREFIREWALLS/FW",
                      policy_name: str = "fw-policy") -> list[dict[str, Any]]:
    """Firewall log rows (``firewall_logs.SCHEMA`` names) for ``(protocol, src, sport, dst, dport, fqdn)`` flows,
    as the firewall would log them under ``fw`` (its reference evaluator decides; GENERATED data)."""
    rows = []
    for i, (proto, src, sport, dst, dport, fqdn) in enumerate(flows):
        v = fw.check(proto, src, sport, dst, dport, fqdn=fqdn)
        kind = v.kind or ("application" if fqdn else "network")
        tip, _, tport = (v.translated or "").partition(":")
        rows.append({
            "time": start + _dt.timedelta(seconds=7 * i), "kind": kind, "protocol": proto,
            "app_protocol": ("HTTPS" if dport == 443 else "HTTP") if kind == "application" else None,
            "src_ip": src, "src_port": sport, "dst_ip": dst, "dst_port": dport, "fqdn": fqdn if kind == "application" else None,
            "logged_action": "Dnat" if kind == "nat" else v.access, "logged_default": v.rule is None,
            "logged_policy": policy_name if v.rule else None, "logged_group": v.group, "logged_collection": v.collection,
            "logged_rule": v.rule, "translated_ip": tip or None, "translated_port": int(tport) if tport.isdigit() else None,
            "resource_id": resource_id,
        })
    return rows


def demo_firewall_policy(*, with_github: bool = False) -> list[dict[str, Any]]:
    """Rule collection groups (REST / az shape) of a hub firewall in front of Device Update clients."""
    def net(name: str, dst: list[str], ports: list[str], protos: list[str]) -> dict[str, Any]:
        return {"ruleType": "NetworkRule", "name": name, "ipProtocols": protos, "sourceAddresses": ["10.20.0.0/16"],
                "destinationAddresses": dst, "destinationPorts": ports}

    def app(name: str, fqdns: list[str]) -> dict[str, Any]:
        return {"ruleType": "ApplicationRule", "name": name, "sourceAddresses": ["10.20.0.0/16"], "targetFqdns": fqdns,
                "protocols": [{"protocolType": "Https", "port": 443}]}

    def coll(name: str, prio: int, action: str, rules: list[Any], kind: str = "FirewallPolicyFilterRuleCollection") -> dict[str, Any]:
        return {"ruleCollectionType": kind, "name": name, "priority": prio, "action": {"type": action}, "rules": rules}

    apps = [app("adu-service", ["*.api.adu.microsoft.com", "*.azure-devices.net"]),
            app("adu-content", ["*.delivery.mp.microsoft.com"])]
    if with_github:
        apps.append(app("github", ["github.com", "*.githubusercontent.com"]))
    return [
        {"name": "DefaultDnatRuleCollectionGroup", "properties": {"priority": 100, "ruleCollections": [
            coll("jump-ssh", 100, "Dnat", [{"ruleType": "NatRule", "name": "ssh-to-jump", "ipProtocols": ["TCP"],
                                           "sourceAddresses": ["203.0.113.0/24"], "destinationAddresses": ["198.18.10.4"],
                                           "destinationPorts": ["2222"], "translatedAddress": "10.20.9.4", "translatedPort": "22"}],
                 "FirewallPolicyNatRuleCollection")]}},
        {"name": "DefaultNetworkRuleCollectionGroup", "properties": {"priority": 200, "ruleCollections": [
            coll("platform", 100, "Allow", [net("dns", ["168.63.129.16"], ["53"], ["UDP", "TCP"]),
                                            net("ntp", ["*"], ["123"], ["UDP"])]),
            coll("device-update", 200, "Allow", [net("adu-443", ["AzureDeviceUpdate"], ["443"], ["TCP"])]),
            coll("block-smb", 300, "Deny", [net("no-smb-out", ["*"], ["445"], ["TCP"])])]}},
        {"name": "DefaultApplicationRuleCollectionGroup", "properties": {"priority": 300, "ruleCollections": [
            coll("updates", 100, "Allow", apps)]}},
    ]


def write_firewall_demo(root: str | Path) -> Path:
    """``firewall/fw-policy.json`` and ``firewall/logs/`` (GENERATED): one hour of resource-specific rule logs in
    the storage layout and one of legacy ``msg`` lines, logged while the policy still allowed GitHub."""
    from .firewall import FirewallPolicy
    from .firewall_logs import write_records

    root = Path(root) / "firewall"
    root.mkdir(parents=True, exist_ok=True)
    (root / "fw-policy.json").write_text(json.dumps(demo_firewall_policy(), indent=2) + "\n")
    tags = load_cached(AVNM_TAGS)
    then = FirewallPolicy.load(demo_firewall_policy(with_github=True), service_tags=tags)
    rng = random.Random(20240612)
    adu4 = list(tags["AzureDeviceUpdate"].ipv4_prefixes)
    rid = f"/SUBSCRIPTIONS/{SUB}/RESOURCEGROUPS/{RG}/PROVIDERS/MICROSOFT.NETWORK/AZUREFIREWALLS/ADU-HUB-FW"

    def flows(n: int) -> list[tuple[Any, ...]]:
        import ipaddress

        out: list[tuple[Any, ...]] = []
        for _ in range(n):
            dev = f"10.20.1.{rng.randint(4, 40)}"
            eph = rng.randint(32768, 60999)
            k = rng.random()
            if k < 0.25:
                net = ipaddress.ip_network(rng.choice(adu4))
                out.append((6, dev, eph, str(net.network_address + rng.randrange(1, net.num_addresses - 1)), 443, None))
            elif k < 0.35:
                out.append((17, dev, eph, "168.63.129.16", 53, None))
            elif k < 0.42:
                out.append((17, dev, eph, f"162.159.200.{rng.randint(1, 123)}", 123, None))
            elif k < 0.48:
                out.append((6, dev, eph, f"52.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}", 445, None))
            elif k < 0.55:
                out.append((6, f"203.0.113.{rng.randint(1, 254)}", eph, "198.18.10.4", 2222, None))
            else:
                host = rng.choice(["contoso.api.adu.microsoft.com", "hub-7.azure-devices.net", "2.dl.delivery.mp.microsoft.com",
                                   "github.com", "objects.githubusercontent.com", "www.example.org"])
                out.append((6, dev, eph, f"20.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}", 443, host))
        return out

    containers = {  # one storage container per category
        "resource-specific": {"network": "insights-logs-azfwnetworkrule", "application": "insights-logs-azfwapplicationrule",
                              "nat": "insights-logs-azfwnatrule"},
        "legacy": {"network": "insights-logs-azurefirewallnetworkrule", "nat": "insights-logs-azurefirewallnetworkrule",
                   "application": "insights-logs-azurefirewallapplicationrule"}}
    for hour, shape in ((9, "resource-specific"), (10, "legacy")):
        h = _dt.datetime(2024, 6, 10, hour, tzinfo=_dt.timezone.utc)
        rows = firewall_log_rows(then, flows(120), h, resource_id=rid, policy_name="adu-hub-policy")
        for cont in sorted(set(containers[shape].values())):
            part = [r for r in rows if containers[shape][r["kind"]] == cont]
            write_records(part, _blob_dir(root / "logs", cont, rid, h).parent / "PT1H.json", shape=shape)
    return root


def write_nsg_v2_hours(root: str | Path, *, hours: int, tuples_per_hour: int, seed: int = 7) -> Path:
    """A larger NSG v2 data set for benchmarks: ``hours`` hourly blobs of the demo scenario."""
    root = Path(root)
    rng = random.Random(seed)
    tags = load_cached("20240610")
    template = root / "client-nsg.json"
    root.mkdir(parents=True, exist_ok=True)
    template.write_text(json.dumps(demo_template()))
    policy = Policy.from_nsg(template, service_tags=tags)
    base = _dt.datetime(2024, 6, 10, tzinfo=_dt.timezone.utc)
    flows = _flows(rng, tags, 5000, False)
    for i in range(hours):
        h = base + _dt.timedelta(hours=i)
        doc = _nsg_hour(policy, [rng.choice(flows) for _ in range(tuples_per_hour)], h, 2, rng)
        _write(_blob_dir(root / "flowlogs", "insights-logs-networksecuritygroupflowevent", NSG_RID, h) / "PT1H.json", doc)
    return root


if __name__ == "__main__":  # pragma: no cover
    out = write_demo(sys.argv[1] if len(sys.argv) > 1 else "data/demo")
    write_avnm_demo(out)
    write_firewall_demo(out)
    print(out)

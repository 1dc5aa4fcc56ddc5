"""Device Update private endpoints: DNS resolution, connection states, and whether management works.

Semantics: docs/azure-semantics.md §5 and product decision 10. A topology file (JSON; YAML when
PyYAML is installed) describes Device Update accounts, VNets (address space, peerings, subnets
with their NSG and ``privateEndpointNetworkPolicies``, custom DNS servers), private endpoints,
private DNS zones with records and VNet links, custom DNS servers and on-premises sites; see
``docs/topology.md`` for the schema with an example.
"""
from __future__ import annotations

import copy
import ipaddress
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import jsonio
from .errors import AduFwError

__all__ = [
    "Topology",
    "TopologyError",
    "Resolution",
    "Record",
    "ManageVerdict",
    "TRANSITIONS",
    "ADU_ZONES",
    "AZURE_DNS",
]

AZURE_DNS = "168.63.129.16"
PUBLIC_SUFFIX = "api.adu.microsoft.com"
PRIVATELINK_SUFFIX = "api.privatelink.adu.microsoft.com"
ADU_ZONES = ("privatelink.adu.microsoft.com", "privatelink.api.adu.microsoft.com")
STATES = ("Pending", "Approved", "Rejected", "Disconnected")
#: what the account owner may do from each state (Rejected cannot be approved again; Disconnected is terminal)
TRANSITIONS: dict[str, dict[str, str]] = {
    "Pending": {"approve": "Approved", "reject": "Rejected", "remove": "Disconnected"},
    "Approved": {"reject": "Rejected", "remove": "Disconnected"},
    "Rejected": {"remove": "Disconnected"},
    "Disconnected": {},
}
NSG_POLICY_VALUES = ("Enabled", "NetworkSecurityGroupEnabled")
MAX_CHAIN = 16
MAX_FILE_BYTES = 16 * 1024 * 1024


_STR_LIST = ("list", str)
_STR_MAP = ("map", str)
#: the expected type of every field (optional unless checked by ``_need``)
SCHEMA: dict[str, dict[str, Any]] = {
    "accounts": {"name": str, "public_network_access": str, "public_cname": str, "public_ip": str,
                 "manual_approval": bool, "linked_iot_hub": dict},
    "vnets": {"name": str, "address_space": _STR_LIST, "peerings": _STR_LIST, "dns_servers": _STR_LIST,
              "subnets": ("list", dict)},
    "subnets": {"name": str, "prefix": str, "private_endpoint_network_policies": str, "nsg": str},
    "private_endpoints": {"name": str, "account": str, "vnet": str, "subnet": str, "ip": str, "state": str,
                          "requested_by": str, "requester_owns_account": bool},
    "private_dns_zones": {"name": str, "records": _STR_MAP, "links": ("list", dict)},
    "links": {"vnet": str, "fallback_to_internet": bool},
    "dns_servers": {"name": str, "ip": str, "vnet": str, "forward_to_azure": bool,
                    "conditional_forwarders": _STR_MAP, "records": _STR_MAP},
    "onprem": {"name": str, "dns_server": str},
    "linked_iot_hub": {"name": str, "public_network_access": str},
}


def _check_types(item: dict[str, Any], kind: str, where: str, source: str) -> None:
    for key, want in SCHEMA[kind].items():
        if key not in item or (item[key] is None and key in ("vnet", "dns_server")):
            continue
        value = item[key]
        ok = True
        if isinstance(want, tuple):
            shape, elem = want
            if shape == "list":
                ok = isinstance(value, list) and all(isinstance(v, elem) and not isinstance(v, bool) or elem is bool for v in value)
            else:
                ok = isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, elem) for k, v in value.items())
            expected = f"a list of {elem.__name__}" if shape == "list" else f"an object of {elem.__name__} values"
        else:
            ok = isinstance(value, want) and (want is bool or not isinstance(value, bool))
            expected = want.__name__
        if not ok:
            raise TopologyError(f"expected {expected}, got {str(value)[:60]!r}", file=source, record=where, field=key)
        if key in ("subnets", "links"):
            for i, sub in enumerate(value):
                _check_types(sub, key, f"{where} {key}[{i}]", source)
        if key == "linked_iot_hub":
            _check_types(value, "linked_iot_hub", f"{where} linked_iot_hub", source)


class TopologyError(AduFwError):
    """A topology file that is malformed or refers to something it does not define."""


@dataclass(frozen=True)
class Record:
    name: str
    type: str  # CNAME | A
    value: str
    answered_by: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "type": self.type, "value": self.value, "answered_by": self.answered_by}


@dataclass
class Resolution:
    hostname: str
    vantage: str
    records: list[Record] = field(default_factory=list)
    status: str = "NOERROR"  # NOERROR | NXDOMAIN | SERVFAIL
    notes: list[str] = field(default_factory=list)

    @property
    def address(self) -> str | None:
        a = [r.value for r in self.records if r.type == "A"]
        return a[-1] if a and self.status == "NOERROR" else None

    def to_dict(self) -> dict[str, Any]:
        return {"hostname": self.hostname, "from": self.vantage, "status": self.status, "address": self.address,
                "records": [r.to_dict() for r in self.records], "notes": self.notes}


@dataclass
class ManageVerdict:
    account: str
    vantage: str
    works: bool
    reasons: list[str]
    warnings: list[str]
    resolution: Resolution
    endpoint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"account": self.account, "from": self.vantage, "works": self.works, "endpoint": self.endpoint,
                "reasons": self.reasons, "warnings": self.warnings, "resolution": self.resolution.to_dict()}


def _lower_name(name: str) -> str:
    return name.strip().rstrip(".").lower()


def _need(obj: dict[str, Any], key: str, where: str, source: str, kind: type | tuple[type, ...] = str) -> Any:
    if key not in obj:
        raise TopologyError(f"missing key {key!r}", file=source, record=where)
    if not isinstance(obj[key], kind):
        raise TopologyError(f"expected {getattr(kind, '__name__', kind)}, got {obj[key]!r}", file=source, record=where, field=key)
    return obj[key]


class Topology:
    """A validated topology; every reference (VNet, subnet, account, server) is checked on load."""

    def __init__(self, doc: dict[str, Any], *, source: str = "<memory>", base_dir: Path | None = None) -> None:
        self.doc = doc
        self.source = source
        self.base_dir = base_dir or Path(".")
        if not isinstance(doc, dict):
            raise TopologyError("expected a JSON object", file=source)
        self.accounts = self._index("accounts", "name")
        self.vnets = self._index("vnets", "name")
        self.endpoints = self._index("private_endpoints", "name")
        self.zones = self._index("private_dns_zones", "name")
        self.servers = self._index("dns_servers", "name")
        self.onprem = self._index("onprem", "name")
        self._validate()

    # -- loading ---------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> "Topology":
        p = Path(path)
        try:
            if p.stat().st_size > MAX_FILE_BYTES:
                raise TopologyError(f"file is larger than {MAX_FILE_BYTES} bytes", file=str(p))
            text = p.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise TopologyError(f"cannot read the file: {exc}", file=str(p)) from None
        if p.suffix.lower() in (".yaml", ".yml"):
            try:
                import yaml  # type: ignore[import-untyped]
            except ImportError:
                raise TopologyError("YAML topology files need PyYAML (pip install pyyaml); JSON works without it", file=str(p)) from None
            try:
                doc = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                raise TopologyError(f"malformed YAML: {exc}", file=str(p)) from None
        else:
            try:
                doc = jsonio.loads(text)  # a number too long to convert stays text
            except json.JSONDecodeError as exc:
                raise TopologyError(f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", file=str(p)) from None
            except RecursionError:
                raise TopologyError("JSON nesting is too deep", file=str(p)) from None
        return cls(doc, source=str(p), base_dir=p.parent)

    def _index(self, key: str, name_key: str) -> dict[str, dict[str, Any]]:
        items = self.doc.get(key, [])
        if not isinstance(items, list):
            raise TopologyError(f"expected a list, got {type(items).__name__}", file=self.source, field=key)
        out: dict[str, dict[str, Any]] = {}
        for i, item in enumerate(items):
            where = f"{key}[{i}]"
            if not isinstance(item, dict):
                raise TopologyError("expected an object", file=self.source, record=where)
            name = _need(item, name_key, where, self.source)
            _check_types(item, key, where, self.source)
            if name.lower() in out:
                raise TopologyError(f"duplicate name {name!r}", file=self.source, record=where, field=name_key)
            out[name.lower()] = item
        return out

    def _validate(self) -> None:
        src = self.source
        for a in self.accounts.values():
            pna = a.get("public_network_access", "Enabled")
            if pna not in ("Enabled", "Disabled"):
                raise TopologyError(f"expected Enabled or Disabled, got {pna!r}", file=src, record=f"account {a['name']!r}", field="public_network_access")
        for v in self.vnets.values():
            where = f"vnet {v['name']!r}"
            space = v.get("address_space", [])
            if not isinstance(space, list) or not space:
                raise TopologyError("expected a non-empty list of CIDRs", file=src, record=where, field="address_space")
            nets = []
            for p in space:
                try:
                    nets.append(ipaddress.ip_network(p))
                except (ValueError, TypeError):
                    raise TopologyError(f"not a CIDR: {p!r}", file=src, record=where, field="address_space") from None
            for peer in v.get("peerings", []):
                if str(peer).lower() not in self.vnets:
                    raise TopologyError(f"peering to unknown VNet {peer!r}", file=src, record=where, field="peerings")
            for sn in v.get("subnets", []):
                sw = f"{where} subnet {sn.get('name')!r}"
                try:
                    net = ipaddress.ip_network(_need(sn, "prefix", sw, src))
                except ValueError:
                    raise TopologyError(f"not a CIDR: {sn.get('prefix')!r}", file=src, record=sw, field="prefix") from None
                if not any(net.version == n.version and net.subnet_of(n) for n in nets):
                    raise TopologyError(f"{net} is outside the VNet address space {space}", file=src, record=sw, field="prefix")
                pol = sn.get("private_endpoint_network_policies", "Disabled")
                if pol not in ("Disabled", "Enabled", "NetworkSecurityGroupEnabled", "RouteTableEnabled"):
                    raise TopologyError(f"unknown value {pol!r}", file=src, record=sw, field="private_endpoint_network_policies")
            for ip in v.get("dns_servers", []):
                self._server_by_ip(ip, f"{where} dns_servers")
        for e in self.endpoints.values():
            where = f"private endpoint {e['name']!r}"
            if _need(e, "account", where, src).lower() not in self.accounts:
                raise TopologyError(f"unknown account {e['account']!r}", file=src, record=where, field="account")
            subnet = self.subnet(_need(e, "vnet", where, src), _need(e, "subnet", where, src), where)
            try:
                ip = ipaddress.ip_address(_need(e, "ip", where, src))
            except ValueError:
                raise TopologyError(f"not an IP address: {e['ip']!r}", file=src, record=where, field="ip") from None
            if ip not in ipaddress.ip_network(subnet["prefix"]):
                raise TopologyError(f"{ip} is outside its subnet {subnet['prefix']}", file=src, record=where, field="ip")
            if e.get("state", "Approved") not in STATES:
                raise TopologyError(f"expected one of {', '.join(STATES)}, got {e.get('state')!r}", file=src, record=where, field="state")
        for z in self.zones.values():
            where = f"private DNS zone {z['name']!r}"
            for link in z.get("links", []):
                if str(link.get("vnet", "")).lower() not in self.vnets:
                    raise TopologyError(f"link to unknown VNet {link.get('vnet')!r}", file=src, record=where, field="links")
            for rname, value in (z.get("records") or {}).items():
                try:
                    ipaddress.ip_address(value)
                except ValueError:
                    raise TopologyError(f"record {rname!r}: not an IP address: {value!r}", file=src, record=where, field="records") from None
        for s in self.servers.values():
            where = f"DNS server {s['name']!r}"
            if s.get("vnet") is not None and str(s["vnet"]).lower() not in self.vnets:
                raise TopologyError(f"unknown VNet {s['vnet']!r}", file=src, record=where, field="vnet")
            try:
                ipaddress.ip_address(_need(s, "ip", where, src))
            except ValueError:
                raise TopologyError(f"not an IP address: {s['ip']!r}", file=src, record=where, field="ip") from None
        for o in self.onprem.values():
            if o.get("dns_server") is not None and str(o["dns_server"]).lower() not in self.servers:
                raise TopologyError(f"unknown DNS server {o['dns_server']!r}", file=src, record=f"on-premises {o['name']!r}", field="dns_server")

    def subnet(self, vnet: str, name: str, where: str = "") -> dict[str, Any]:
        v = self.vnets.get(str(vnet).lower())
        if v is None:
            raise TopologyError(f"unknown VNet {vnet!r}", file=self.source, record=where or None, field="vnet")
        for sn in v.get("subnets", []):
            if str(sn.get("name", "")).lower() == str(name).lower():
                return sn
        raise TopologyError(f"VNet {vnet!r} has no subnet {name!r}", file=self.source, record=where or None, field="subnet")

    def _server_by_ip(self, ip: str, where: str) -> dict[str, Any] | None:
        if ip == AZURE_DNS:
            return None
        for s in self.servers.values():
            if s.get("ip") == ip:
                return s
        raise TopologyError(f"DNS server {ip} is not defined in dns_servers", file=self.source, record=where)

    # -- DNS --------------------------------------------------------------------------------------
    def resolve(self, hostname: str, *, from_vnet: str | None = None, from_onprem: str | None = None) -> Resolution:
        """The answer chain for ``hostname`` from the Internet, a VNet, or an on-premises site."""
        if from_vnet and from_onprem:
            raise TopologyError("give from_vnet or from_onprem, not both")
        name = _lower_name(hostname)
        if from_onprem:
            site = self.onprem.get(from_onprem.lower())
            if site is None:
                raise TopologyError(f"unknown on-premises site {from_onprem!r}", file=self.source)
            res = Resolution(hostname, f"on-premises {site['name']}")
            server = self.servers.get(str(site.get("dns_server", "")).lower())
            if server is None:
                res.notes.append("the site has no DNS server in the topology: public resolution")
                self._chain(name, res, lambda n, r: self._public(n, r))
            else:
                self._chain(name, res, lambda n, r: self._custom(server, n, r, 0))
            return res
        if from_vnet:
            vnet = self.vnets.get(from_vnet.lower())
            if vnet is None:
                raise TopologyError(f"unknown VNet {from_vnet!r}", file=self.source)
            res = Resolution(hostname, f"VNet {vnet['name']}")
            servers = vnet.get("dns_servers") or []
            if servers and servers[0] != AZURE_DNS:
                server = self._server_by_ip(servers[0], f"vnet {vnet['name']!r}")
                assert server is not None
                res.notes.append(f"the VNet uses custom DNS {server['name']} ({server['ip']})")
                self._chain(name, res, lambda n, r: self._custom(server, n, r, 0))
            else:
                self._chain(name, res, lambda n, r: self._azure(vnet, n, r))
            return res
        res = Resolution(hostname, "the Internet")
        self._chain(name, res, lambda n, r: self._public(n, r))
        return res

    def _chain(self, name: str, res: Resolution, step: Any) -> None:
        """Follow CNAMEs; each step answers one name (a record, or a final status)."""
        for _ in range(MAX_CHAIN):
            rec = step(name, res)
            if rec is None:
                return
            res.records.append(rec)
            if rec.type != "CNAME":
                return
            name = rec.value.lower()
            if name.startswith("<"):  # a documented placeholder (the Traffic Manager profile)
                return
        res.status = "SERVFAIL"
        res.notes.append("CNAME chain too long")

    def _account_of(self, name: str) -> dict[str, Any] | None:
        for suffix in (PUBLIC_SUFFIX, PRIVATELINK_SUFFIX):
            if name.endswith("." + suffix):
                return self.accounts.get(name[: -len(suffix) - 1])
        return None

    def _public(self, name: str, res: Resolution, who: str = "public DNS") -> Record | None:
        """Public DNS: account -> privatelink name -> the Traffic Manager profile (-> its address)."""
        acct = self._account_of(name)
        if acct is not None and name.endswith("." + PUBLIC_SUFFIX):
            return Record(name, "CNAME", f"{acct['name'].lower()}.{PRIVATELINK_SUFFIX}", who)
        if acct is not None:
            return Record(name, "CNAME", acct.get("public_cname", "<Azure Traffic Manager profile>"), who)
        for a in self.accounts.values():
            if _lower_name(a.get("public_cname", "<none>")) == name:
                if a.get("public_ip"):
                    return Record(name, "A", a["public_ip"], who)
                res.notes.append(f"{who}: the public address behind {name} is not in the topology")
                return None
        res.status = "NXDOMAIN"
        res.notes.append(f"{who}: {name} does not exist")
        return None

    @staticmethod
    def _spellings(name: str) -> list[str]:
        """The privatelink name under both zone conventions (ADU doc and Private Link zone table)."""
        a, b = "." + PRIVATELINK_SUFFIX, ".privatelink.api.adu.microsoft.com"
        if name.endswith(a):
            return [name, name[: -len(a)] + b]
        if name.endswith(b):
            return [name, name[: -len(b)] + a]
        return [name]

    def _zone_for(self, name: str, vnet: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], str] | None:
        """The longest linked zone holding ``name`` (under either spelling), its link, and the name in it."""
        best = None
        for z in self.zones.values():
            zname = _lower_name(z["name"])
            for spelled in self._spellings(name):
                if spelled == zname or spelled.endswith("." + zname):
                    for link in z.get("links", []):
                        if str(link.get("vnet", "")).lower() == vnet["name"].lower():
                            if best is None or len(zname) > len(_lower_name(best[0]["name"])):
                                best = (z, link, spelled)
        return best

    def _azure(self, vnet: dict[str, Any], name: str, res: Resolution) -> Record | None:
        """Azure DNS (168.63.129.16) queried from inside ``vnet``: linked private zones first."""
        who = f"Azure DNS ({AZURE_DNS}) in VNet {vnet['name']}"
        hit = self._zone_for(name, vnet)
        if hit is not None:
            zone, link, spelled = hit
            zname = _lower_name(zone["name"])
            label = spelled[: -len(zname) - 1] if spelled != zname else "@"
            records = {k.lower(): v for k, v in (zone.get("records") or {}).items()}
            if label in records:
                return Record(name, "A", records[label], f"private DNS zone {zone['name']} (linked to {vnet['name']})")
            if not link.get("fallback_to_internet", False):
                res.status = "NXDOMAIN"
                res.notes.append(f"the linked zone {zone['name']} has no record {label!r} and its link has no fallback to the Internet")
                return None
            res.notes.append(f"the linked zone {zone['name']} has no record {label!r}: fallback to the Internet")
        return self._public(name, res, who)

    def _custom(self, server: dict[str, Any], name: str, res: Resolution, depth: int) -> Record | None:
        who = f"DNS server {server['name']} ({server['ip']})"
        if depth > 8:
            res.status = "SERVFAIL"
            res.notes.append("forwarding loop between custom DNS servers")
            return None
        own = {k.lower().rstrip("."): v for k, v in (server.get("records") or {}).items()}
        if name in own:
            return Record(name, "A", own[name], who)
        target = None
        best = -1
        for suffix, fwd in (server.get("conditional_forwarders") or {}).items():
            suffix = _lower_name(suffix)
            if (name == suffix or name.endswith("." + suffix)) and len(suffix) > best:
                target, best = fwd, len(suffix)
        if target is None and server.get("forward_to_azure"):
            target = AZURE_DNS
        if target is None:
            return self._public(name, res, f"{who}, resolving on the Internet")
        if target == AZURE_DNS:
            vnet = self.vnets.get(str(server.get("vnet") or "").lower())
            if vnet is None:
                res.status = "SERVFAIL"
                res.notes.append(f"{who} forwards to {AZURE_DNS}, which answers only queries from inside Azure; the server is not in a VNet")
                return None
            return self._azure(vnet, name, res)
        nxt = self._server_by_ip(target, f"DNS server {server['name']!r} forwarder")
        if nxt is None:
            return None
        return self._custom(nxt, name, res, depth + 1)

    # -- connection states ----------------------------------------------------------------------------
    def transition(self, endpoint: str, action: str) -> "Topology":
        """A new topology with ``action`` (approve, reject, remove) applied by the account owner."""
        e = self.endpoints.get(endpoint.lower())
        if e is None:
            raise TopologyError(f"unknown private endpoint {endpoint!r}", file=self.source)
        state = e.get("state", "Approved")
        allowed = TRANSITIONS[state]
        if action not in ("approve", "reject", "remove"):
            raise TopologyError(f"unknown action {action!r}; expected approve, reject or remove")
        if action not in allowed:
            ways = ", ".join(f"{a} ({s})" for a, s in allowed.items()) or "none (delete the endpoint)"
            hint = " A Rejected connection can never be approved again: delete the endpoint and create a new one." if state == "Rejected" and action == "approve" else ""
            raise TopologyError(f"private endpoint {e['name']!r} is {state}: cannot {action}; allowed from {state}: {ways}.{hint}")
        doc = copy.deepcopy(self.doc)
        for item in doc["private_endpoints"]:
            if item["name"].lower() == endpoint.lower():
                item["state"] = allowed[action]
        return Topology(doc, source=self.source, base_dir=self.base_dir)

    @staticmethod
    def initial_state(requester_owns_account: bool) -> str:
        """A new connection: Approved at once when the requester owns the account, else Pending."""
        return "Approved" if requester_owns_account else "Pending"

    # -- can update management work from here -------------------------------------------------------------
    def can_manage(self, account: str, *, from_vnet: str | None = None, from_onprem: str | None = None,
                   client_ip: str | None = None, client_subnet: str | None = None) -> ManageVerdict:
        acct = self.accounts.get(account.lower())
        if acct is None:
            raise TopologyError(f"unknown account {account!r}", file=self.source)
        host = f"{acct['name'].lower()}.{PUBLIC_SUFFIX}"
        res = self.resolve(host, from_vnet=from_vnet, from_onprem=from_onprem)
        reasons: list[str] = []
        warnings: list[str] = []
        hub = acct.get("linked_iot_hub") or {}
        if hub.get("public_network_access") == "Disabled":
            warnings.append(f"the linked IoT Hub {hub.get('name', '')} has public network access disabled: not supported by Device Update")
        addr = res.address
        if res.status != "NOERROR":
            reasons.append(f"DNS: {host} gives {res.status} from {res.vantage}" + (f" ({'; '.join(res.notes)})" if res.notes else ""))
            return ManageVerdict(acct["name"], res.vantage, False, reasons, warnings, res)
        pe = next((e for e in self.endpoints.values() if e["account"].lower() == acct["name"].lower() and e["ip"] == addr), None)
        if pe is None:
            if acct.get("public_network_access", "Enabled") == "Disabled":
                reasons.append(f"DNS resolves to the public endpoint, and {acct['name']} has public network access Disabled: the service rejects public callers")
                return ManageVerdict(acct["name"], res.vantage, False, reasons, warnings, res)
            reasons.append("DNS resolves to the public endpoint and public network access is Enabled")
            return ManageVerdict(acct["name"], res.vantage, True, reasons, warnings, res)
        works = True
        state = pe.get("state", "Approved")
        if state != "Approved":
            works = False
            reasons.append(f"private endpoint {pe['name']} is {state}: only an Approved connection passes traffic")
        else:
            reasons.append(f"DNS resolves to private endpoint {pe['name']} ({addr}), which is Approved")
        if from_vnet:
            if not self._reachable(from_vnet, pe["vnet"]):
                works = False
                reasons.append(f"VNet {from_vnet} is neither {pe['vnet']} nor peered with it")
        elif from_onprem:
            reasons.append("on-premises reachability (VPN / ExpressRoute) is assumed, not modelled")
        nsg_reasons, nsg_ok = self._nsg_path(pe, from_vnet, client_ip, client_subnet)
        reasons += nsg_reasons
        works = works and nsg_ok
        return ManageVerdict(acct["name"], res.vantage, works, reasons, warnings, res, pe["name"])

    def _reachable(self, a: str, b: str) -> bool:
        if a.lower() == b.lower():
            return True
        va, vb = self.vnets[a.lower()], self.vnets[b.lower()]
        return b.lower() in [p.lower() for p in va.get("peerings", [])] or a.lower() in [p.lower() for p in vb.get("peerings", [])]

    def _nsg_path(self, pe: dict[str, Any], from_vnet: str | None, client_ip: str | None,
                  client_subnet: str | None) -> tuple[list[str], bool]:
        from .policy import Policy
        from .rules import DEFAULT_RULES  # noqa: F401  (the defaults apply through Policy)

        reasons: list[str] = []
        ok = True
        sn = self.subnet(pe["vnet"], pe["subnet"])
        policies = sn.get("private_endpoint_network_policies", "Disabled")
        vnet_space = [p for v in self.vnets.values() for p in v.get("address_space", [])]
        src = client_ip
        if src is None and from_vnet and client_subnet:
            csn = self.subnet(from_vnet, client_subnet)
            src = str(next(ipaddress.ip_network(csn["prefix"]).hosts()))
        if from_vnet and client_subnet:
            csn = self.subnet(from_vnet, client_subnet)
            if csn.get("nsg") and src:
                policy = Policy.from_nsg(self._nsg_path_of(csn["nsg"]), virtual_network=vnet_space)
                v = policy.check("Outbound", "tcp", src, 50000, pe["ip"], 443)
                reasons.append(f"client subnet NSG, outbound TCP 443 to {pe['ip']}: {v.access} by {v.rule}")
                ok = ok and v.allowed
        if policies in NSG_POLICY_VALUES and sn.get("nsg"):
            if src is None:
                reasons.append("the endpoint subnet filters with its NSG; give the client IP (or subnet) to evaluate it")
            else:
                policy = Policy.from_nsg(self._nsg_path_of(sn["nsg"]), virtual_network=vnet_space)
                nsg = policy.single
                assert nsg is not None
                # decision 20: source-port filtering is treated as '*' for private endpoints
                nsg.rules = [replace(r, source_ports=((0, 65535),)) for r in nsg.rules]
                policy = Policy(single=nsg, virtual_network=vnet_space, service_tags=policy.service_tags)
                v = policy.check("Inbound", "tcp", src, 50000, pe["ip"], 443)
                reasons.append(f"endpoint subnet NSG (privateEndpointNetworkPolicies={policies}), inbound TCP 443 from {src}: {v.access} by {v.rule}")
                ok = ok and v.allowed
        elif sn.get("nsg"):
            reasons.append(f"the endpoint subnet's NSG does not apply to the endpoint (privateEndpointNetworkPolicies={policies})")
        return reasons, ok

    def _nsg_path_of(self, ref: str) -> str:
        path, _, name = ref.partition(":") if ":" in ref and not Path(ref).exists() else (ref, "", "")
        p = Path(path)
        if not p.is_absolute():
            p = self.base_dir / p
        return f"{p}:{name}" if name else str(p)

    def to_json(self) -> str:
        return json.dumps(self.doc, indent=2) + "\n"

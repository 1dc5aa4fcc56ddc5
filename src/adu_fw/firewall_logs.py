"""Azure Firewall rule logs as Arrow tables of one schema (docs/formats.md, "Azure Firewall logs").

Read: the resource-specific categories ``AZFWNetworkRule``, ``AZFWApplicationRule`` and
``AZFWNatRule`` (``properties`` objects, as diagnostic settings write them to storage and Event Hub)
and the legacy ``AzureDiagnostics`` categories ``AzureFirewallNetworkRule`` (with its
``AzureFirewallNatRuleLog`` lines) and ``AzureFirewallApplicationRule``, whose decision is free text
in ``properties.msg``. Containers: JSON Lines (one record per line, the storage blob form), a
``{"records": [...]}`` document, a JSON array, and Log Analytics exports (CSV with a header,
``az monitor log-analytics query`` JSON, the query API's ``tables`` document; columns such as
``TimeGenerated [UTC]``, ``msg_s``, ``Type``). Paths are files, directories (every ``.json``,
``.log``, ``.csv`` and ``.gz`` below, e.g. the storage layout ``insights-logs-azfwnetworkrule/...``)
and globs.

Every record is either read or counted as rejected with its reason and location: IDPS and threat
intelligence lines, DNS failures and missing SNI are firewall decisions but not rule decisions, and
categories other than rule logs are not replayed. ``records == read + rejected`` always.
"""
from __future__ import annotations

import csv
import datetime as _dt
import glob as _glob
import gzip
import io
import ipaddress
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .errors import AduFwError
from .jsonio import loads as json_loads  # integers past Python's conversion limit stay text

__all__ = ["SCHEMA", "FirewallLogError", "FirewallLogStats", "FirewallLogStream", "read", "looks_like_firewall_logs",
           "parse_msg", "CATEGORIES", "write_records"]

MAX_FILE_BYTES = 1 << 30
EXAMPLES = 5
#: category / table name (lower case) -> the rule kind its records report
CATEGORIES = {
    "azfwnetworkrule": "network",
    "azfwapplicationrule": "application",
    "azfwnatrule": "nat",
    "azurefirewallnetworkrule": "legacy",
    "azurefirewallapplicationrule": "legacy",
}
#: other firewall categories a log may hold: read, counted, not replayed
OTHER_CATEGORIES = ("azfwthreatintel", "azfwidpssignature", "azfwdnsquery", "azfwfqdnresolvefailure", "azfwflowtrace",
                    "azfwfatflow", "azfwnetworkruleaggregation", "azfwapplicationruleaggregation", "azfwnatruleaggregation",
                    "azurefirewalldnsproxy", "azfwinternalfqdnresolutionfailure")
_MARKERS = re.compile(rb"AZFW(?:Network|Application|Nat)Rule|AzureFirewall(?:Network|Application)Rule", re.IGNORECASE)
_PROTOCOLS = {"tcp": 6, "udp": 17, "icmp": 1, "http": 6, "https": 6, "mssql": 6}


class FirewallLogError(AduFwError):
    """Firewall-log input that cannot be read at all (a missing path, a file that is not firewall logs)."""


SCHEMA = pa.schema([
    ("time", pa.timestamp("us", tz="UTC")),
    ("category", pa.string()),
    ("kind", pa.string()),  # nat | network | application (what the firewall logged)
    ("protocol", pa.uint8()),
    ("app_protocol", pa.string()),  # HTTP, HTTPS, MSSQL for application records
    ("src_ip", pa.string()),
    ("src_port", pa.uint16()),
    ("dst_ip", pa.string()),  # null when an application record names only the target FQDN
    ("dst_port", pa.uint16()),
    ("fqdn", pa.string()),
    ("target_url", pa.string()),
    ("logged_action", pa.string()),  # Allow | Deny | Dnat
    ("logged_default", pa.bool_()),  # no rule matched (the default action)
    ("logged_policy", pa.string()),
    ("logged_group", pa.string()),
    ("logged_collection", pa.string()),
    ("logged_rule", pa.string()),
    ("action_reason", pa.string()),
    ("web_category", pa.string()),
    ("translated_ip", pa.string()),
    ("translated_port", pa.uint16()),
    ("resource_id", pa.string()),
    ("source_file", pa.string()),
    ("record_index", pa.int32()),
])


@dataclass
class FirewallLogStats:
    """What was read and what could not be, with reasons and locations (they reconcile)."""

    files: int = 0
    records: int = 0
    read: int = 0
    rejected: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    categories: Counter = field(default_factory=Counter)
    shapes: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)

    def reject(self, reason: str, where: str) -> None:
        self.rejected[reason] += 1
        ex = self.examples.setdefault(reason, [])
        if len(ex) < EXAMPLES:
            ex.append(where)

    @property
    def reconciles(self) -> bool:
        return self.records == self.read + sum(self.rejected.values())


# -- finding files -------------------------------------------------------------------------------------
_SUFFIXES = (".json", ".log", ".csv", ".jsonl", ".ndjson", ".txt")


def _expand(paths: Iterable[str | Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        text = str(p)
        if any(ch in text for ch in "*?["):
            matches = sorted(_glob.glob(text, recursive=True))
            if not matches:
                raise FirewallLogError(f"{text}: the pattern matches no file")
            out += _expand(matches)
            continue
        path = Path(text)
        if path.is_dir():
            out += sorted(f for f in path.rglob("*") if f.is_file()
                          and f.name.lower().removesuffix(".gz").endswith(_SUFFIXES))
        elif path.is_file():
            out.append(path)
        else:
            raise FirewallLogError(f"{text}: no such file or directory")
    return out


def _head(path: Path, size: int = 1 << 16) -> bytes:
    try:
        with open(path, "rb") as fh:
            raw = fh.read(size)
        if raw[:2] == b"\x1f\x8b":
            with gzip.open(path, "rb") as fh:
                raw = fh.read(size)
    except (OSError, EOFError):
        return b""
    return raw


def looks_like_firewall_logs(paths: Iterable[str | Path]) -> bool:
    """Whether the inputs hold Azure Firewall rule logs (by content: a category or table name in the first file)."""
    try:
        files = _expand(paths)
    except FirewallLogError:
        return False
    return bool(files) and bool(_MARKERS.search(_head(files[0])))


# -- decoding a file into records ------------------------------------------------------------------------
def _read_bytes(path: Path) -> bytes:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise FirewallLogError(f"{path}: larger than {MAX_FILE_BYTES} bytes; split it")
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError) as exc:
        raise FirewallLogError(f"{path}: cannot read: {exc}") from None
    return raw


def _records(raw: bytes, source: str, stats: FirewallLogStats) -> Iterator[tuple[int, Any]]:
    """(position, record object or an error text) for every record of a file; positions are 1-based lines or indexes."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FirewallLogError(f"{source}: not UTF-8 text (byte {exc.start})") from None
    stripped = text.lstrip()
    if not stripped:
        return
    if stripped[0] in "[{":
        try:
            doc = json_loads(text)
        except (json.JSONDecodeError, RecursionError):
            doc = None
        if doc is not None:
            items = _document_items(doc)
            if items is not None:
                stats.shapes[items[0]] += 1
                for i, item in enumerate(items[1], 1):
                    yield i, item
                return
            if isinstance(doc, dict):  # one record alone in the file
                stats.shapes["json lines"] += 1
                yield 1, doc
                return
        if stripped[0] == "{":  # JSON Lines (the storage blob form; one bad line is one rejected record)
            first = stripped.split("\n", 1)[0]
            try:
                json_loads(first)
            except (json.JSONDecodeError, RecursionError):
                raise FirewallLogError(f"{source}: malformed JSON document (cut off or corrupted), and not JSON Lines "
                                       "either") from None
            stats.shapes["json lines"] += 1
            for n, line in enumerate(text.splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    yield n, json_loads(line)
                except (json.JSONDecodeError, RecursionError) as exc:
                    yield n, f"malformed JSON line ({exc.msg if hasattr(exc, 'msg') else 'too deep'})"
            return
        raise FirewallLogError(f"{source}: malformed JSON document")
    stats.shapes["csv"] += 1
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        if not reader.fieldnames or len(reader.fieldnames) < 3:
            raise FirewallLogError(f"{source}: neither JSON nor a CSV export with a header")
        rows = list(reader)
    except csv.Error as exc:
        raise FirewallLogError(f"{source}: neither JSON nor a readable CSV export ({exc})") from None
    for n, row in enumerate(rows, 2):
        if None in row:  # more cells than the header
            yield n, "CSV row with more cells than the header"
            continue
        yield n, row


def _document_items(doc: Any) -> tuple[str, list[Any]] | None:
    if isinstance(doc, list):
        return "json array", doc
    low = {k.lower(): v for k, v in doc.items() if isinstance(k, str)}
    if isinstance(low.get("records"), list):
        return "records document", low["records"]
    if isinstance(low.get("tables"), list):  # the Log Analytics query API: columns + rows
        out: list[Any] = []
        for t in low["tables"]:
            if not isinstance(t, dict):
                continue
            cols = [c.get("name") if isinstance(c, dict) else c for c in t.get("columns") or []]
            for row in t.get("rows") or []:
                out.append(dict(zip(cols, row)) if isinstance(row, list) and len(row) == len(cols)
                           else "query-API row that does not match its columns")
        return "log analytics tables", out
    if isinstance(low.get("value"), list):
        return "value list", low["value"]
    return None


# -- one record -----------------------------------------------------------------------------------------
class _Skip(Exception):
    """A record that is read but not replayed: the message is the reason."""


def _flat(rec: dict[str, Any]) -> dict[str, Any]:
    """Lower-cased keys; ``properties`` merged over the top level; Log Analytics suffixes removed."""
    out: dict[str, Any] = {}
    for k, v in rec.items():
        if isinstance(k, str):
            key = k.lower().replace(" [utc]", "").strip()
            out[key] = v
    props = out.get("properties")
    if isinstance(props, str) and props.strip().startswith("{"):
        try:
            props = json_loads(props)
        except json.JSONDecodeError:
            pass
    if isinstance(props, dict):
        for k, v in props.items():
            if isinstance(k, str):
                out[k.lower()] = v
    for k in list(out):  # Log Analytics AzureDiagnostics typed suffixes: msg_s, SourcePort_d
        m = re.fullmatch(r"(.+)_(s|d|g|b|t)", k)
        if m and m.group(1) not in out:
            out[m.group(1)] = out[k]
    return out


_WS = " \t\n\r\x0b\x0c"  # what a field is trimmed of (the columnar path trims exactly the same)


def _str(v: Any) -> str | None:
    if v is None:
        return None
    s = str(v).strip(_WS)
    return s or None


def _ip(v: Any, fld: str) -> str:
    s = _str(v)
    if s is None:
        raise _Skip(f"field {fld}: missing")
    try:
        if "%" in s:  # zone ids are not flows' addresses (product decision 11)
            raise ValueError(s)
        return str(ipaddress.ip_address(s))
    except ValueError:
        raise _Skip(f"field {fld}: not an IP address") from None


def _protocol(text: str) -> int | str:
    """A resource-specific record's Protocol: its number, or the reject reason."""
    proto = _PROTOCOLS.get(text.lower())
    if proto is not None:
        return proto
    if text.isascii() and text.isdigit() and len(text.lstrip("0")) <= 3 and int(text) <= 255:  # no 5,000-digit int()
        return int(text)
    return f"field Protocol: {text!r} is not TCP, UDP, ICMP, HTTP, HTTPS or MSSQL"


def _action(action: str | None, kind: str) -> str:
    """A record's Action as logged (Allow, Deny, Dnat), or a reject reason starting with "field"."""
    if kind == "nat":
        action = action or "Dnat"
    if action is None:
        return "field Action: missing"
    canonical = {"allow": "Allow", "deny": "Deny", "dnat": "Dnat"}.get(action.lower())
    return canonical or f"field Action: {action!r} is not Allow, Deny or DNAT (not a rule decision)"


def _denied_before_rules(rule: str | None, action: str, reason: str | None) -> str | None:
    if rule is None and action == "Deny" and reason and "default" not in reason.lower():
        return f"application request denied before rule processing ({reason})"
    return None


def _port(v: Any, fld: str, *, required: bool = True) -> int | None:
    s = _str(v)
    if s is None:
        if required:
            raise _Skip(f"field {fld}: missing")
        return None
    try:
        f = float(s)
    except ValueError:
        raise _Skip(f"field {fld}: not a port number") from None
    if not 0 <= f <= 65535 or f != int(f):  # NaN fails the range test
        raise _Skip(f"field {fld}: outside 0-65535")
    return int(f)


_US_TIME = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4}),?\s+(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d+))?\s*([AP]M)?$",
                      re.IGNORECASE | re.ASCII)
_ISO_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})?$", re.ASCII)


def parse_time(v: Any) -> _dt.datetime | None:
    """ISO 8601 with any number of decimals and Z or an offset; the portal's CSV form ``6/8/2022, 8:40:23.214 PM``."""
    s = _str(v)
    if s is None:
        return None
    try:
        m = _US_TIME.match(s)
        if m:
            mo, d, y, h, mi, sec, frac, ampm = m.groups()
            hour = int(h) % 12 + (12 if ampm and ampm.upper() == "PM" else 0) if ampm else int(h)
            return _dt.datetime(int(y), int(mo), int(d), hour, int(mi), int(sec), int((frac or "0")[:6].ljust(6, "0")),
                                tzinfo=_dt.timezone.utc)
        m = _ISO_TIME.match(s)
        if not m:
            return None
        day, clock, frac, tz = m.groups()
        base = _dt.datetime.fromisoformat(f"{day}T{clock}")
        base = base.replace(microsecond=int((frac or "0")[:6].ljust(6, "0")))
        if tz and tz != "Z":
            sign = 1 if tz[0] == "+" else -1
            hh, mm = int(tz[1:3]), int(tz[-2:])
            base -= sign * _dt.timedelta(hours=hh, minutes=mm)
        return base.replace(tzinfo=_dt.timezone.utc)
    except (ValueError, OverflowError):  # a day or hour that does not exist
        return None


# legacy msg text
_MSG_HEAD = re.compile(
    r"^(?P<proto>TCP|UDP|ICMP(?:\s+Type=\d+)?|HTTPS?|MSSQL)\s+request from (?P<src>\S+?)"
    r"(?: to (?P<dst>\S+?))?(?P<dnat> was DNAT'ed to (?P<tdst>\S+?))?(?:\.(?=\s|$)|$)(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL,
)
_KEYS = ("Rule Collection Group", "Rule Collection", "Web Category", "Classification", "ThreatIntel", "Signature",
         "Priority", "Policy", "Action", "Reason", "Rule", "IDS", "Url")
_KEY_RE = re.compile(r"(?:^|(?<=[.\s]))(" + "|".join(re.escape(k) for k in _KEYS) + r"):\s*")


def _endpoint(text: str | None) -> tuple[str | None, int | None, str | None]:
    """``ip``, ``ip:port``, ``ip:`` (no port), ``[v6]:port``, ``v6`` or ``name:port`` -> (ip, port, name)."""
    if not text:
        return None, None, None
    t = text.strip().rstrip(".")
    port: int | None = None
    host = t
    if t.startswith("[") and "]" in t:
        host, _, rest = t[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    else:
        try:
            return str(ipaddress.ip_address(t)), None, None  # a bare address (IPv6 included)
        except ValueError:
            pass
        h, sep, p = t.rpartition(":")
        if sep:
            host = h
            port = int(p) if p.isdigit() else None
    try:
        return str(ipaddress.ip_address(host)), port, None
    except ValueError:
        return None, port, host or None


def parse_msg(msg: str) -> dict[str, Any]:
    """The fields of a legacy ``msg`` line (raises ``ValueError`` when the text is not a firewall rule line)."""
    m = _MSG_HEAD.match(msg.strip())
    if not m:
        raise ValueError("msg text not recognised")
    proto = re.sub(r"\s+", " ", m.group("proto")).upper()
    src, sport, _ = _endpoint(m.group("src"))
    dst, dport, host = _endpoint(m.group("dst"))
    out: dict[str, Any] = {"protocol": proto.split(" ")[0], "icmp": proto if proto.startswith("ICMP") else None,
                           "src_ip": src, "src_port": sport, "dst_ip": dst, "dst_port": dport, "host": host}
    if m.group("dnat"):
        tip, tport, _ = _endpoint(m.group("tdst"))
        out.update(action="Dnat", translated_ip=tip, translated_port=tport)
    rest = m.group("rest")
    parts = _KEY_RE.split(rest)
    out["text"] = parts[0].strip(" .") or None
    for key, value in zip(parts[1::2], parts[2::2]):
        value = value.strip()
        while value.endswith("."):
            value = value[:-1].rstrip()
        out[key.lower()] = value
    if "action" in out:
        # "Action: Deny. No rule matched. Proceeding with default action" keeps its sentence after the action
        action, _, tail = out["action"].partition(".")
        out["action"] = action.strip()
        if tail.strip(" ."):
            out["text"] = tail.strip(" .")
    return out


def _record(rec: Any, source: str) -> dict[str, Any]:
    """One log record -> a row of ``SCHEMA`` (raises ``_Skip`` with the reason when it is not replayable)."""
    if isinstance(rec, str):
        raise _Skip(rec)
    if not isinstance(rec, dict):
        raise _Skip("not a JSON object")
    f = _flat(rec)
    category = _str(f.get("category")) or _str(f.get("type")) or ""
    kind = CATEGORIES.get(category.lower())
    if kind is None:
        if not category:
            raise _Skip("no category or Type: not a firewall log record")
        raise _Skip(f"category {category}: not a rule log (not replayed)")
    row: dict[str, Any] = {k: None for k in SCHEMA.names}
    row.update(category=category, time=parse_time(f.get("time") or f.get("timegenerated")), source_file=source,
               resource_id=_str(f.get("resourceid") or f.get("_resourceid")), logged_default=False)
    if kind == "legacy":
        msg = _str(f.get("msg"))
        if msg is None:
            raise _Skip("legacy record without a msg text")
        try:
            p = parse_msg(msg)
        except ValueError as exc:
            raise _Skip(str(exc)) from None
        if "signature" in p or "ids" in p:
            raise _Skip("IDPS signature line (not a rule decision)")
        if "threatintel" in p:
            raise _Skip("threat intelligence line (not a rule decision)")
        app = p["protocol"] in ("HTTP", "HTTPS", "MSSQL")
        kind = "nat" if p.get("action") == "Dnat" else "application" if app else "network"
        action = p.get("action")
        if action is None:
            raise _Skip("msg text without an action")
        if action.lower() not in ("allow", "deny", "dnat"):
            raise _Skip(f"action {action!r} is not Allow, Deny or DNAT (not a rule decision)")
        text = (p.get("text") or "").lower()
        if kind == "application" and action.lower() == "deny" and "reason" in p and p.get("rule") is None:
            raise _Skip(f"application request denied before rule processing ({p['reason'].rstrip('.')})")
        if "failed to resolve" in text:
            raise _Skip("the target name did not resolve (not a rule decision)")
        row.update(kind=kind, protocol=_PROTOCOLS[p["protocol"].lower()], app_protocol=p["protocol"] if app else None,
                   src_ip=p["src_ip"], src_port=p["src_port"], dst_ip=p["dst_ip"], dst_port=p["dst_port"],
                   fqdn=p.get("host") if app else None, target_url=p.get("url"),
                   logged_action={"allow": "Allow", "deny": "Deny", "dnat": "Dnat"}[action.lower()],
                   logged_default="no rule matched" in text, logged_policy=p.get("policy"),
                   logged_group=p.get("rule collection group"), logged_collection=p.get("rule collection"),
                   logged_rule=p.get("rule"), action_reason=p.get("reason"), web_category=p.get("web category"),
                   translated_ip=p.get("translated_ip"), translated_port=p.get("translated_port"))
        if row["src_ip"] is None:
            raise _Skip("msg text: source is not an IP address")
        if p["protocol"] in ("TCP", "UDP") and (row["src_port"] is None or (row["dst_port"] is None and kind != "application")):
            raise _Skip("msg text: a TCP/UDP request without ports")
        if kind != "application" and row["dst_ip"] is None:
            raise _Skip("msg text: destination is not an IP address")
        if kind == "application" and row["fqdn"] is None and row["dst_ip"] is None:
            raise _Skip("application request without a target (no FQDN, no address)")
        if row["dst_port"] is None:
            row["dst_port"] = 0
        if row["src_port"] is None:
            row["src_port"] = 0
        return row
    proto_text = _str(f.get("protocol")) or ""
    proto = _protocol(proto_text)
    if isinstance(proto, str):
        raise _Skip(proto)
    rule = _str(f.get("rule"))
    action = _action(_str(f.get("action")), kind)
    if action.startswith("field"):
        raise _Skip(action)
    reason = _str(f.get("actionreason"))
    row.update(kind=kind, protocol=proto, app_protocol=proto_text.upper() if kind == "application" else None,
               src_ip=_ip(f.get("sourceip"), "SourceIp"), src_port=_port(f.get("sourceport"), "SourcePort", required=False) or 0,
               dst_port=_port(f.get("destinationport"), "DestinationPort", required=proto in (6, 17)) or 0,
               logged_action=action, logged_default=rule is None and action == "Deny",
               logged_policy=_str(f.get("policy")), logged_group=_str(f.get("rulecollectiongroup")),
               logged_collection=_str(f.get("rulecollection")), logged_rule=rule, action_reason=reason,
               web_category=_str(f.get("webcategory")), target_url=_str(f.get("targeturl")))
    dst = _str(f.get("destinationip"))
    if kind == "application":
        row["dst_ip"] = _ip(dst, "DestinationIp") if dst else None
        fqdn = _str(f.get("fqdn"))
        if fqdn is None and row["target_url"]:
            fqdn = _url_host(row["target_url"])
        row["fqdn"] = fqdn
        if fqdn is None and row["dst_ip"] is None:
            raise _Skip("application record without a target (no Fqdn, TargetUrl or DestinationIp)")
        denied = _denied_before_rules(rule, action, reason)
        if denied:
            raise _Skip(denied)
    else:
        row["dst_ip"] = _ip(dst, "DestinationIp")
    if kind == "nat":
        row["translated_ip"] = _str(f.get("translatedip"))
        row["translated_port"] = _port(f.get("translatedport"), "TranslatedPort", required=False)
    return row


def _url_host(url: str) -> str | None:
    from urllib.parse import urlsplit

    try:
        host = urlsplit(url if "//" in url else "//" + url).hostname
    except ValueError:
        return None
    return host


# -- the columnar path ---------------------------------------------------------------------------------------
USE_FAST = True  # False: every file through the record-by-record reader (the tests compare the two)
_FAST_CATEGORIES = {"AZFWNetworkRule": "network", "AZFWApplicationRule": "application", "AZFWNatRule": "nat"}
_FAST_PROPS = {name: (pa.int64() if name.endswith("Port") else pa.string()) for name in (
    "Action", "ActionReason", "DestinationIp", "DestinationPort", "Fqdn", "Policy", "Protocol", "Rule", "RuleCollection",
    "RuleCollectionGroup", "SourceIp", "SourcePort", "TargetUrl", "TranslatedIp", "TranslatedPort", "WebCategory")}
_FAST_TOP = {"category": pa.string(), "time": pa.string(), "resourceId": pa.string()}
#: every key (lower case) the record reader gives a meaning to, with the spelling the columnar path needs
_KNOWN = {k.lower(): k for k in list(_FAST_PROPS) + list(_FAST_TOP) + ["properties"]} | {
    k: None for k in ("timegenerated", "_resourceid", "type", "msg")}


def _fast_table(raw: bytes, source: str, stats: FirewallLogStats, since: Any, until: Any) -> pa.Table | None:
    """The resource-specific JSON Lines of one file, read and checked column by column; None when the file
    is anything else (then the record reader, which owns every tolerance, reads it).

    Taken only when every line is one record in exactly the documented shape (categories AZFW*Rule,
    ``properties`` an object, keys spelled as Azure writes them, typed as Azure types them); the answer
    (rows, reasons, counts) is the record reader's, which the property tests check.
    """
    import pyarrow.json as pj

    body = raw[3:] if raw[:3] == b"\xef\xbb\xbf" else raw
    if not body.lstrip()[:1] == b"{":
        return None
    newlines = body.count(b"\n") + (0 if body.endswith(b"\n") else 1)
    if b"\n\n" not in body and not body[:1].isspace():  # the usual case: one record per line, no blank line
        lines = list(range(1, newlines + 1))
    else:
        lines = [i for i, line in enumerate(body.split(b"\n"), 1) if line.strip(b" \t\r\x0b\x0c")]
    schema = pa.schema([(k, t) for k, t in _FAST_TOP.items()]
                       + [("properties", pa.struct([(k, t) for k, t in _FAST_PROPS.items()]))])
    try:
        t = pj.read_json(io.BytesIO(body), parse_options=pj.ParseOptions(explicit_schema=schema,
                                                                         unexpected_field_behavior="infer"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OverflowError):
        return None
    if t.num_rows != len(lines) or not pa.types.is_struct(t.schema.field("properties").type):
        return None
    props = t.column("properties").combine_chunks()
    for key in t.column_names + [props.type.field(i).name for i in range(props.type.num_fields)]:
        low = key.lower()
        base = re.fullmatch(r"(.+)_(s|d|g|b|t)", low)
        if (low in _KNOWN and _KNOWN[low] != key) or (base and base.group(1) in _KNOWN):
            return None
        if key in _FAST_PROPS and key in t.column_names:  # a property at the top level: the record reader's merge
            return None
    if t.column("category").null_count or not set(pc.unique(t.column("category")).to_pylist()) <= set(_FAST_CATEGORIES):
        return None
    if t.column("properties").null_count:
        return None
    return _fast_rows(t, props, lines, source, stats, since, until)


_ISO_RE2 = (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?"
            r"(?:Z|[+-][0-9]{2}:?[0-9]{2})$")


def _times(col: pa.Array) -> pa.Array:
    """``parse_time`` of a column: Arrow's ISO 8601 parser where every value has the plain form both accept
    (with a zone; at most nanoseconds; floor to microseconds as the record reader truncates), else value by value."""
    plain = pc.match_substring_regex(col, _ISO_RE2)
    if plain.null_count == col.null_count and pc.all(pc.fill_null(plain, True)).as_py():
        try:
            ns = np.asarray(pc.cast(col, pa.timestamp("ns", tz="UTC")).cast(pa.int64()).fill_null(0))
            return pa.array(np.floor_divide(ns, 1000), pa.timestamp("us", tz="UTC"), mask=np.asarray(col.is_null()))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    return pa.array(list(_per_value(col, parse_time)), pa.timestamp("us", tz="UTC"))


def _per_value(col: pa.Array, fn: Any) -> np.ndarray:
    """fn over each distinct value of a column (None for null), as an object array aligned with the rows."""
    enc = pc.dictionary_encode(col)
    values = np.array([fn(v) for v in enc.dictionary.to_pylist()] + [fn(None)], dtype=object)
    return values[np.asarray(enc.indices.fill_null(len(values) - 1))]


def _trimmed(col: pa.Array) -> pa.Array:
    """The record reader's ``_str``: trimmed of ``_WS``, empty -> null."""
    col = pc.utf8_trim(col, characters=_WS)
    return pc.if_else(pc.equal(col, ""), pa.scalar(None, pa.string()), col)


def _fast_rows(t: pa.Table, props: pa.StructArray, lines: list[int], source: str, stats: FirewallLogStats,
               since: Any, until: Any) -> pa.Table:
    from .ip import format_address, parse_addresses

    n = t.num_rows
    field = {name: props.field(name) for name in _FAST_PROPS}
    s = {name: _trimmed(field[name]) for name, typ in _FAST_PROPS.items() if typ == pa.string()}
    category = t.column("category").combine_chunks()
    kind = _per_value(category, lambda c: _FAST_CATEGORIES.get(c))
    reason = np.full(n, None, dtype=object)

    def fail(mask: np.ndarray, why: Any) -> None:
        free = mask & (reason == None)  # noqa: E711
        reason[free] = why[free] if isinstance(why, np.ndarray) else why

    proto_text = pc.fill_null(s["Protocol"], "")
    proto = _per_value(proto_text, lambda v: _protocol(v or ""))
    proto_bad = _per_value(proto_text, lambda v: isinstance(_protocol(v or ""), str)).astype(bool)
    fail(proto_bad, proto)
    rule = s["Rule"]
    action_text = s["Action"]
    action = np.empty(n, dtype=object)
    for k in ("network", "application", "nat"):
        m = kind == k
        if m.any():
            action[m] = _per_value(action_text, lambda v, k=k: _action(v, k))[m]
    action_bad = np.array([a.startswith("field") for a in action.tolist()], bool) if n < 64 else \
        pc.starts_with(pa.array(action, pa.string()), "field").to_numpy(zero_copy_only=False)
    fail(action_bad, action)

    def address(name: str, required: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        col = s[name]
        parsed = parse_addresses(pc.fill_null(col, ""))
        present = np.asarray(col.is_valid())
        good = present & (parsed.family != 0)
        fail(required & ~present, f"field {name}: missing")
        fail(present & ~good, f"field {name}: not an IP address")
        text = np.array(col.to_pylist(), dtype=object)
        for i in np.flatnonzero(good & (parsed.family == 6)).tolist():  # the canonical IPv6 text, as ipaddress gives
            text[i] = format_address(6, (int(parsed.hi[i]) << 64) | int(parsed.lo[i]))
        text[~good] = None
        return text, good

    every = np.ones(n, bool)
    src_ip, _ = address("SourceIp", every)

    def port(name: str, required: np.ndarray, scope: np.ndarray) -> np.ndarray:
        col = field[name]
        v = np.asarray(col.fill_null(0), dtype=np.int64)
        present = np.asarray(col.is_valid())
        fail(scope & required & ~present, f"field {name}: missing")
        fail(scope & present & ((v < 0) | (v > 65535)), f"field {name}: outside 0-65535")
        return np.where(present & (v >= 0) & (v <= 65535), v, 0)

    src_port = port("SourcePort", np.zeros(n, bool), every)
    ported = _per_value(proto_text, lambda v: _protocol(v or "") in (6, 17)).astype(bool)
    dst_port = port("DestinationPort", ported, every)
    app, nat = kind == "application", kind == "nat"
    dst_ip, dst_good = address("DestinationIp", ~app)
    target_url = s["TargetUrl"]
    fqdn = np.array(s["Fqdn"].to_pylist(), dtype=object)
    from_url = _per_value(target_url, lambda u: _url_host(u) if u else None)
    fqdn = np.where(fqdn == None, from_url, fqdn)  # noqa: E711
    fqdn[~app] = None
    fail(app & (fqdn == None) & ~np.asarray(s["DestinationIp"].is_valid()),  # noqa: E711
         "application record without a target (no Fqdn, TargetUrl or DestinationIp)")
    rule_l = np.array(rule.to_pylist(), dtype=object)
    action_reason = np.array(s["ActionReason"].to_pylist(), dtype=object)
    denied = np.full(n, None, dtype=object)
    for i in np.flatnonzero(app & (rule_l == None) & (action == "Deny")).tolist():  # noqa: E711
        denied[i] = _denied_before_rules(rule_l[i], action[i], action_reason[i])
    fail(denied != None, denied)  # noqa: E711
    tport = port("TranslatedPort", np.zeros(n, bool), nat)  # DNAT records only, as the record reader reads it
    times = _times(t.column("time").combine_chunks())
    cats = category.to_pylist()
    for c, k in Counter(cats).items():
        stats.categories[c] += k
    out = {
        "time": times,
        "category": category, "kind": pa.array(kind, pa.string()),
        "protocol": pa.array(np.where(proto_bad, 0, proto).astype(np.uint8), pa.uint8()),
        "app_protocol": pa.array(np.where(app, _per_value(pc.fill_null(s["Protocol"], ""), lambda v: (v or "").upper()), None),
                                 pa.string()),
        "src_ip": pa.array(src_ip, pa.string()), "src_port": pa.array(src_port, pa.uint16()),
        "dst_ip": pa.array(dst_ip, pa.string()), "dst_port": pa.array(dst_port, pa.uint16()),
        "fqdn": pa.array(fqdn, pa.string()), "target_url": target_url,
        "logged_action": pa.array(np.where(action_bad, None, action), pa.string()),
        "logged_default": pa.array((rule_l == None) & (action == "Deny")),  # noqa: E711
        "logged_policy": s["Policy"], "logged_group": s["RuleCollectionGroup"], "logged_collection": s["RuleCollection"],
        "logged_rule": rule, "action_reason": s["ActionReason"], "web_category": s["WebCategory"],
        "translated_ip": pa.array(np.where(nat, np.array(s["TranslatedIp"].to_pylist(), dtype=object), None), pa.string()),
        "translated_port": pa.array(np.where(nat & np.asarray(field["TranslatedPort"].is_valid()), tport, None), pa.uint16()),
        "resource_id": _trimmed(t.column("resourceId").combine_chunks()),
        "source_file": pa.array([source] * n, pa.string()),
        "record_index": pa.array(lines, pa.int32()),
    }
    table = pa.table(out, schema=SCHEMA)
    tvals = table.column("time")
    if since is not None or until is not None:
        late = np.zeros(n, bool)
        valid = np.asarray(tvals.is_valid())
        us = np.asarray(tvals.cast(pa.int64()).fill_null(0))
        if since is not None:
            late |= valid & (us < int(since.timestamp() * 1_000_000))
        if until is not None:
            late |= valid & (us >= int(until.timestamp() * 1_000_000))
        fail(late, "outside --since/--until")
    stats.records += n
    for i in np.flatnonzero(reason != None).tolist():  # noqa: E711
        stats.reject(reason[i], f"{source}:{lines[i]}")
    keep = reason == None  # noqa: E711
    stats.read += int(keep.sum())
    stats.shapes["json lines"] += 1
    return table.filter(pa.array(keep))


# -- the stream ------------------------------------------------------------------------------------------
class FirewallLogStream:
    """Arrow tables of ``SCHEMA``, one per file, with ``stats`` filled as files are read."""

    def __init__(self, paths: Iterable[str | Path], *, since: _dt.datetime | None = None,
                 until: _dt.datetime | None = None) -> None:
        self.files = _expand(paths)
        if not self.files:
            raise FirewallLogError("no firewall log file found in the given paths")
        self.since, self.until = since, until
        self.stats = FirewallLogStats()

    def __iter__(self) -> Iterator[pa.Table]:
        for path in self.files:
            table = self.read_file(path)
            if table.num_rows:
                yield table

    def read_file(self, path: Path) -> pa.Table:
        stats = self.stats
        source = str(path)
        raw = _read_bytes(path)
        stats.files += 1
        if USE_FAST:
            fast = _fast_table(raw, source, stats, self.since, self.until)
            if fast is not None:
                return fast
        rows: list[dict[str, Any]] = []
        for pos, rec in _records(raw, source, stats):
            stats.records += 1
            where = f"{source}:{pos}"
            try:
                row = _record(rec, source)
            except _Skip as exc:
                stats.reject(str(exc), where)
                if isinstance(rec, dict):
                    cat = _str(_flat(rec).get("category")) or _str(_flat(rec).get("type"))
                    if cat:
                        stats.categories[cat] += 1
                continue
            stats.categories[row["category"]] += 1
            t = row["time"]
            if t is not None and ((self.since is not None and t < self.since) or (self.until is not None and t >= self.until)):
                stats.reject("outside --since/--until", where)
                continue
            row["record_index"] = pos
            rows.append(row)
            stats.read += 1
        return pa.Table.from_pylist(rows, schema=SCHEMA) if rows else SCHEMA.empty_table()


def read(paths: Iterable[str | Path] | str | Path, *, since: _dt.datetime | None = None,
         until: _dt.datetime | None = None) -> FirewallLogStream:
    """Every firewall rule-log record under ``paths``, file by file (see ``FirewallLogStream``)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    return FirewallLogStream(paths, since=since, until=until)


# -- writing (generated logs for the tests and the demo) ------------------------------------------------------
def write_records(rows: Iterable[dict[str, Any]], path: str | Path, *, shape: str = "resource-specific") -> Path:
    """Write records in one of the shapes this module reads (``resource-specific`` JSON Lines, ``legacy``
    msg JSON Lines, ``log-analytics-csv``, ``log-analytics-json``). ``rows`` use ``SCHEMA``'s names."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = list(rows)
    if shape == "resource-specific":
        lines = [json.dumps(_resource_specific(r)) for r in rows]
        path.write_text("\n".join(lines) + "\n")
    elif shape == "legacy":
        path.write_text("\n".join(json.dumps(_legacy(r)) for r in rows) + "\n")
    elif shape in ("log-analytics-csv", "log-analytics-json"):
        flat = []
        for r in rows:
            rec = _resource_specific(r)
            d = {"TimeGenerated": rec["time"], **{k: ("" if v is None else str(v)) for k, v in rec["properties"].items()},
                 "Type": rec["category"], "_ResourceId": rec["resourceId"]}
            flat.append(d)
        if shape == "log-analytics-json":
            path.write_text(json.dumps(flat, indent=1))
        else:
            cols = sorted({k for d in flat for k in d})
            with open(path, "w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=[c + " [UTC]" if c == "TimeGenerated" else c for c in cols])
                w.writeheader()
                for d in flat:
                    w.writerow({(k + " [UTC]" if k == "TimeGenerated" else k): v for k, v in d.items()})
    else:
        raise ValueError(f"unknown shape {shape!r}")
    return path


_CATEGORY_OF = {"network": "AZFWNetworkRule", "application": "AZFWApplicationRule", "nat": "AZFWNatRule"}


def _iso(t: Any) -> str:
    if isinstance(t, _dt.datetime):
        return t.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
    return str(t)


def _resource_specific(r: dict[str, Any]) -> dict[str, Any]:
    kind = r["kind"]
    props: dict[str, Any] = {}
    if kind != "nat":
        props["Action"] = r["logged_action"]
        props["ActionReason"] = "Default Action" if r.get("logged_default") else ""
    if r.get("dst_ip") is not None:
        props["DestinationIp"] = r["dst_ip"]
    props["DestinationPort"] = r["dst_port"]
    if kind == "application":
        props.update(Fqdn=r.get("fqdn") or "", IsExplicitProxyRequest=False, IsTlsInspected=False)
    props["Policy"] = r.get("logged_policy") or ""
    props["Protocol"] = r.get("app_protocol") or {6: "TCP", 17: "UDP", 1: "ICMP"}.get(r["protocol"], str(r["protocol"]))
    props.update(Rule=r.get("logged_rule") or "", RuleCollection=r.get("logged_collection") or "",
                 RuleCollectionGroup=r.get("logged_group") or "", SourceIp=r["src_ip"], SourcePort=r["src_port"])
    if kind == "application":
        props.update(TargetUrl=r.get("target_url") or "", WebCategory="")
    if kind == "nat":
        props.update(TranslatedIp=r.get("translated_ip") or "", TranslatedPort=r.get("translated_port") or 0)
    return {"category": _CATEGORY_OF[kind], "properties": props, "resourceId": r.get("resource_id") or "",
            "time": _iso(r["time"])}


def _legacy(r: dict[str, Any]) -> dict[str, Any]:
    kind = r["kind"]
    proto = r.get("app_protocol") or {6: "TCP", 17: "UDP", 1: "ICMP Type=8"}.get(r["protocol"], "TCP")
    src = f"{r['src_ip']}:{r['src_port']}" if r["protocol"] in (6, 17) else r["src_ip"]
    if kind == "application":
        dst = f"{r.get('fqdn') or r.get('dst_ip')}:{r['dst_port']}"
    else:
        dst = f"{r['dst_ip']}:{r['dst_port']}" if r["protocol"] in (6, 17) else r["dst_ip"]
    where = ""
    if r.get("logged_rule"):
        where = (f" Policy: {r['logged_policy']}." if r.get("logged_policy") else "") + \
            (f" Rule Collection Group: {r['logged_group']}." if r.get("logged_group") else "") + \
            f" Rule Collection: {r['logged_collection']}. Rule: {r['logged_rule']}"
    if kind == "nat":
        msg = f"{proto} request from {src} to {dst} was DNAT'ed to {r.get('translated_ip')}:{r.get('translated_port')}"
        msg += "." + where if where else ""
        op, cat = "AzureFirewallNatRuleLog", "AzureFirewallNetworkRule"
    else:
        msg = f"{proto} request from {src} to {dst}. Action: {r['logged_action']}."
        if r.get("logged_default"):
            msg += " No rule matched. Proceeding with default action"
        elif where:
            msg += where
        op = "AzureFirewallApplicationRuleLog" if kind == "application" else "AzureFirewallNetworkRuleLog"
        cat = "AzureFirewallApplicationRule" if kind == "application" else "AzureFirewallNetworkRule"
    return {"category": cat, "operationName": op, "properties": {"msg": msg}, "resourceId": r.get("resource_id") or "",
            "time": _iso(r["time"])}

"""SARIF 2.1.0 logs for ``lint``, ``lint --deep`` and ``exposure`` (GitHub code scanning, Azure DevOps).

One reporting descriptor per finding kind (with help text, a default level and GitHub's
``security-severity``); each result is located in its source file: the line and column of the rule
object in ARM / az / REST JSON (comments and a BOM tolerated), the resource object of a Terraform
plan (a logical location carries the resource address), or the rule's entry in effective-rules
output. Columns count Unicode code points (``columnKind``).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from . import __version__
from .arm import ArmContext, Unresolved, is_expression
from .errors import AduFwError
from .jsonpos import Located, load_located

__all__ = ["RULES", "Locator", "Result", "sarif_log", "lint_kind"]

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"


def _rule(rid: str, name: str, short: str, full: str, help_text: str, level: str, severity: str, tags: Sequence[str]) -> dict[str, Any]:
    return {
        "id": rid,
        "name": name,
        "shortDescription": {"text": short},
        "fullDescription": {"text": full},
        "help": {"text": help_text, "markdown": help_text},
        "defaultConfiguration": {"level": level},
        "properties": {"tags": list(tags), "security-severity": severity, "precision": "very-high"},
    }


_LINT_HELP = ("Azure rejects or misreads this NSG definition. Fix the field named in the message; "
              "`adu-fw lint` lists every problem of the file at once.")
RULES: dict[str, dict[str, Any]] = {r["id"]: r for r in [
    _rule("ADUFW-L001", "InvalidPriority", "Rule priority is invalid or repeated",
          "Custom rule priorities are 100-4096 and unique per NSG and direction.", _LINT_HELP, "error", "5.0",
          ["correctness"]),
    _rule("ADUFW-L002", "InvalidName", "Rule name is invalid or repeated",
          "Rule names are unique in an NSG, at most 80 characters, word characters, '.', '-' and '_'.", _LINT_HELP,
          "error", "3.0", ["correctness"]),
    _rule("ADUFW-L003", "InvalidAddress", "Address prefix, service tag or ASG is invalid",
          "A rule side is one of *, IPs/CIDRs (one family per rule), one service tag, or ASGs; unknown tags and "
          "bad prefixes are rejected.", _LINT_HELP, "error", "5.0", ["correctness"]),
    _rule("ADUFW-L004", "InvalidPort", "Port or port range is invalid",
          "Ports are 0-65535, ranges a-b in order, lists, or *.", _LINT_HELP, "error", "5.0", ["correctness"]),
    _rule("ADUFW-L005", "InvalidEnum", "Protocol, access or direction is not one of Azure's values",
          "protocol: Tcp, Udp, Icmp, Esp, Ah, *; access: Allow, Deny; direction: Inbound, Outbound.", _LINT_HELP,
          "error", "5.0", ["correctness"]),
    _rule("ADUFW-L006", "Unresolved", "A value cannot be known offline",
          "An ARM expression needs a deployment, or a Terraform value is unknown until apply. Pass the parameter "
          "(--param) or, for plans, --assume-unknown any.", _LINT_HELP, "warning", "3.0", ["correctness"]),
    _rule("ADUFW-L007", "LimitExceeded", "An Azure limit is exceeded",
          "At most 1,000 rules per NSG, 4,000 prefixes and 10 ASGs per rule side.", _LINT_HELP, "error", "5.0",
          ["correctness"]),
    _rule("ADUFW-L008", "InvalidDefinition", "The NSG definition is malformed",
          "The document or a rule object does not have the shape Azure expects.", _LINT_HELP, "error", "5.0",
          ["correctness"]),
    _rule("ADUFW-D001", "ShadowedRule", "No flow can reach this rule",
          "Earlier rules (custom or default) decide every flow this rule matches, over the exact flow space with "
          "service tags expanded; the rule is dead. The message names the covering rules and a witness flow.",
          "Remove the rule, or move it above the rules that cover it if it was meant to decide those flows. "
          "Check the witness with `adu-fw check`.", "warning", "4.0", ["maintainability", "security"]),
    _rule("ADUFW-D002", "RedundantRule", "Removing this rule changes no decision",
          "Every flow the rule decides gets the same access from a later rule anyway.",
          "Remove the rule, or narrow the later rule if this one was meant to be the only allow/deny.", "note", "2.0",
          ["maintainability"]),
    _rule("ADUFW-D003", "Generalization", "This rule contains an earlier rule of the opposite action",
          "An earlier rule of the opposite action lies inside this one, so the overlap is decided by the earlier "
          "rule: usually an intended exception; review it.", "Confirm the exception is intended; the overlap is "
          "reported exactly.", "note", "2.0", ["maintainability"]),
    _rule("ADUFW-D004", "Correlation", "This rule partly overlaps an earlier rule of the opposite action",
          "The two rules intersect without either containing the other: the overlap is decided by the earlier rule, "
          "which is easy to miss.", "Split or reorder the rules so the overlap is decided on purpose.", "warning",
          "4.0", ["maintainability", "security"]),
    _rule("ADUFW-E001", "ExposedAdminPort", "Remote-admin or database port, or every port, reachable from the source",
          "The exact set of flows from the source (the Internet by default) that every NSG level allows includes a "
          "remote administration or database port (22, 23, 135, 139, 445, 1433, 1521, 2375, 2376, 3306, 3389, 5432, "
          "5985, 5986, 6379, 9200, 27017) or every port. Higher-priority denies, port ranges and lists, '*', the "
          "Internet tag and subnet+NIC pairs are all taken into account.",
          "Restrict the allowing rule's source to known prefixes, put a deny above it, or reach the VM through Azure "
          "Bastion / a VPN. The witness flow is allowed: confirm it with `adu-fw check`.", "error", "8.8",
          ["security", "external/cwe/cwe-284"]),
    _rule("ADUFW-E002", "ExposedPort", "Port reachable from the source",
          "The exact set of flows from the source that every NSG level allows includes these ports.",
          "Confirm the service is meant to be public; restrict the source otherwise.", "warning", "5.3",
          ["security", "external/cwe/cwe-284"]),
]}
LINT_LEVEL = {"ADUFW-L006": "warning"}
DEEP_KIND = {"shadowed": "ADUFW-D001", "redundant": "ADUFW-D002", "generalization": "ADUFW-D003", "correlation": "ADUFW-D004"}


def lint_kind(problem: Mapping[str, Any]) -> str:
    """The reporting descriptor of one lint problem (by field and message)."""
    fld = str(problem.get("field") or "").lower()
    msg = str(problem.get("message") or "").lower()
    if "unknown until apply" in msg or "resolved offline" in msg or "cannot be resolved" in msg:
        return "ADUFW-L006"
    if "at most" in msg and ("rules" in msg or "prefixes" in msg or "asgs" in msg) or "limit" in msg:
        return "ADUFW-L007"
    if "priority" in fld:
        return "ADUFW-L001"
    if fld == "name":
        return "ADUFW-L002"
    if "port" in fld:
        return "ADUFW-L004"
    if "address" in fld or "prefix" in fld or "application" in fld or "tag" in msg:
        return "ADUFW-L003"
    if fld in ("protocol", "access", "direction"):
        return "ADUFW-L005"
    return "ADUFW-L008"


class Result:
    """One SARIF result before it is placed: rule id, message, where."""

    def __init__(self, rule_id: str, message: str, *, file: str | None, nsg: str | None = None,
                 rule: str | None = None, level: str | None = None, properties: Mapping[str, Any] | None = None,
                 related: Sequence[tuple[str | None, str | None, str | None, str]] = ()) -> None:
        self.rule_id, self.message, self.file, self.nsg, self.rule = rule_id, message, file, nsg, rule
        self.level = level or RULES[rule_id]["defaultConfiguration"]["level"]
        self.properties = dict(properties or {})
        self.related = list(related)


_RECORD = re.compile(r"""^NSG (?P<q>['"])(?P<nsg>.*?)(?P=q)(?: rule (?P<q2>['"])(?P<rule>.*?)(?P=q2))?""")


def parse_record(record: str | None) -> tuple[str | None, str | None]:
    """(NSG, rule) from an error's record text ``NSG 'x' rule 'y'``."""
    m = _RECORD.match(record or "")
    return (m.group("nsg"), m.group("rule")) if m else (None, None)


class Locator:
    """Finds where an NSG or rule is written in its source file (cached per file)."""

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        self.params = dict(params or {})
        self._docs: dict[str, Located | None] = {}
        self._index: dict[str, list[tuple[str | None, str | None, tuple[Any, ...], str | None]]] = {}

    def doc(self, file: str) -> Located | None:
        if file not in self._docs:
            try:
                self._docs[file] = load_located(file)
            except (AduFwError, OSError):
                self._docs[file] = None
        return self._docs[file]

    def _entries(self, file: str) -> list[tuple[str | None, str | None, tuple[Any, ...], str | None]]:
        """(nsg name, rule name, path, resource address) of every NSG and rule object in the file."""
        if file in self._index:
            return self._index[file]
        doc = self.doc(file)
        out: list[tuple[str | None, str | None, tuple[Any, ...], str | None]] = []
        if doc is not None:
            root = doc.value
            low = {k.lower(): v for k, v in root.items()} if isinstance(root, dict) else {}
            if "format_version" in low:
                out = self._plan_entries(doc)
            else:
                ctx = ArmContext(low.get("parameters") if isinstance(low.get("parameters"), dict) else {},
                                 low.get("variables") if isinstance(low.get("variables"), dict) else {}, self.params)
                out = self._arm_entries(doc, ctx)
        self._index[file] = out
        return out

    @staticmethod
    def _name(value: Any, ctx: ArmContext) -> str | None:
        if not isinstance(value, str):
            return None
        if is_expression(value):
            try:
                v = ctx.resolve(value)
            except (Unresolved, Exception):  # best effort: a location, never an error
                return value
            return v if isinstance(v, str) else value
        return value

    def _arm_entries(self, doc: Located, ctx: ArmContext) -> list[tuple[str | None, str | None, tuple[Any, ...], str | None]]:
        out: list[tuple[str | None, str | None, tuple[Any, ...], str | None]] = []
        nsg_at: dict[tuple[Any, ...], str] = {}
        for path, v in doc.walk():
            if not isinstance(v, dict):
                continue
            low = {k.lower(): x for k, x in v.items() if isinstance(k, str)}
            t = str(low.get("type", "")).lower()
            name = self._name(low.get("name"), ctx)
            props = low.get("properties")
            inner = {k.lower() for k in props} if isinstance(props, dict) else set()
            if t.endswith("networksecuritygroups") or {"securityrules", "effectivesecurityrules"} & (set(low) | inner):
                nsg_name = name or (str(low.get("networksecuritygroup", {}).get("id", "")).rstrip("/").split("/")[-1]
                                    if isinstance(low.get("networksecuritygroup"), dict) else None)
                if nsg_name:
                    nsg_at[path] = nsg_name
                    out.append((nsg_name, None, path, None))
                continue
            probe = {k.lower(): x for k, x in props.items()} if isinstance(props, dict) else low
            if name is not None and "priority" in probe and ("direction" in probe or "access" in probe):
                owner = next((nsg_at[path[:i]] for i in range(len(path), -1, -1) if path[:i] in nsg_at), None)
                nsg_part, _, rule_part = name.rpartition("/")
                if t.endswith("securityrules") and nsg_part:
                    owner = nsg_part
                out.append((owner, rule_part or name, path, None))
        return out

    def _plan_entries(self, doc: Located) -> list[tuple[str | None, str | None, tuple[Any, ...], str | None]]:
        out: list[tuple[str | None, str | None, tuple[Any, ...], str | None]] = []
        seen: set[str] = set()
        # planned_values first (the state the findings are about), then resource_changes
        paths = sorted((p for p, v in doc.walk() if isinstance(v, dict) and isinstance(v.get("address"), str)
                        and "type" in v), key=lambda p: (p[:1] != ("planned_values",), p))
        for path in paths:
            v = _at(doc.value, path)
            addr = v["address"]
            if addr in seen:
                continue
            seen.add(addr)
            values = v.get("values") if isinstance(v.get("values"), dict) else (v.get("change") or {}).get("after")
            vpath = path + (("values",) if isinstance(v.get("values"), dict) else ("change", "after"))
            name = values.get("name") if isinstance(values, dict) else None
            if v.get("type") == "azurerm_network_security_group":
                out.append((name, None, path, addr))
                for i, r in enumerate((values or {}).get("security_rule") or []):
                    if isinstance(r, dict):
                        out.append((name, r.get("name"), vpath + ("security_rule", i), addr))
            elif v.get("type") == "azurerm_network_security_rule" and isinstance(values, dict):
                out.append((values.get("network_security_group_name"), name, path, addr))
            else:
                out.append((None, None, path, addr))
        return out

    def locate(self, file: str | None, nsg: str | None = None, rule: str | None = None,
               address: str | None = None) -> tuple[int, int, str | None] | None:
        """(line, column, resource address) of the rule (else its NSG, else the resource) in ``file``."""
        if not file:
            return None
        doc = self.doc(file)
        if doc is None:
            return None
        entries = self._entries(file)
        n, r = (nsg or "").lower(), (rule or "").lower()
        picks = []
        if rule:
            picks = [e for e in entries if (e[1] or "").lower() == r and (not nsg or (e[0] or "").lower() == n
                                                                           or (e[3] or "").lower() == n)]
            picks = picks or [e for e in entries if (e[1] or "").lower() == r]
        if not picks and nsg:
            picks = [e for e in entries if e[1] is None and ((e[0] or "").lower() == n or (e[3] or "").lower() == n)]
        if not picks and address:
            picks = [e for e in entries if e[3] == address]
        if not picks:
            return None
        pos = doc.position(picks[0][2])
        return (pos[0], pos[1], picks[0][3]) if pos else None


def _at(doc: Any, path: tuple[Any, ...]) -> Any:
    for k in path:
        doc = doc[k]
    return doc


def _uri(file: str) -> tuple[str, str | None]:
    p = Path(file)
    try:
        rel = p.resolve().relative_to(Path.cwd().resolve())
        return rel.as_posix(), "%SRCROOT%"
    except ValueError:
        return p.resolve().as_uri(), None


def _location(file: str | None, where: tuple[int, int, str | None] | None, nsg: str | None, rule: str | None) -> dict[str, Any]:
    loc: dict[str, Any] = {}
    if file:
        uri, base = _uri(file)
        art: dict[str, Any] = {"uri": uri}
        if base:
            art["uriBaseId"] = base
        phys: dict[str, Any] = {"artifactLocation": art}
        if where is not None:
            phys["region"] = {"startLine": where[0], "startColumn": where[1]}
        loc["physicalLocation"] = phys
    logical = []
    if where is not None and where[2]:
        logical.append({"fullyQualifiedName": where[2], "kind": "resource"})
    elif nsg:
        logical.append({"fullyQualifiedName": f"{nsg}/{rule}" if rule else nsg, "name": rule or nsg,
                        "kind": "member" if rule else "namespace"})
    if logical:
        loc["logicalLocations"] = logical
    return loc


def sarif_log(results: Iterable[Result], *, locator: Locator | None = None, command: str = "adu-fw",
              notes: Sequence[str] = ()) -> dict[str, Any]:
    """A SARIF 2.1.0 log with one run: the descriptors used, the results placed in their files."""
    locator = locator or Locator()
    used: list[str] = []
    out = []
    for res in results:
        if res.rule_id not in used:
            used.append(res.rule_id)
        where = locator.locate(res.file, res.nsg, res.rule)
        item: dict[str, Any] = {
            "ruleId": res.rule_id,
            "level": res.level,
            "message": {"text": res.message},
            "locations": [_location(res.file, where, res.nsg, res.rule)] if (res.file or res.nsg) else [],
        }
        if res.related:
            rel = []
            for i, (file, nsg, rule, text) in enumerate(res.related):
                loc = _location(file, locator.locate(file, nsg, rule), nsg, rule)
                loc["id"] = i + 1
                loc["message"] = {"text": text}
                rel.append(loc)
            item["relatedLocations"] = rel
        if res.properties:
            item["properties"] = res.properties
        out.append(item)
    order = sorted(used, key=list(RULES).index)
    index = {rid: i for i, rid in enumerate(order)}
    for item in out:
        item["ruleIndex"] = index[item["ruleId"]]
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "adu-fw", "semanticVersion": __version__, "version": __version__,
                            "rules": [RULES[r] for r in order]}},
        "columnKind": "unicodeCodePoints",
        "originalUriBaseIds": {"%SRCROOT%": {"uri": Path.cwd().resolve().as_uri() + "/"}},
        "invocations": [{"executionSuccessful": True, "commandLine": command,
                         "toolExecutionNotifications": [{"message": {"text": n}, "level": "note"} for n in notes]}],
        "results": out,
    }
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}

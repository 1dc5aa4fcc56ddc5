"""Fuzz targets: one function per reader, taking raw bytes.

The only acceptable outcomes are a result or the project's own error type (``AduFwError`` and its
subclasses). Anything else (another exception, a crash, a hang) is a finding. Used by ``make fuzz``
(atheris, coverage-guided) and by ``tests/test_fuzz_regressions.py`` (the saved corpus).
"""
from __future__ import annotations

import io
import json
import os
import tempfile
from typing import Callable

from adu_fw.errors import AduFwError

TARGETS: dict[str, Callable[[bytes], None]] = {}


def target(fn: Callable[[bytes], None]) -> Callable[[bytes], None]:
    TARGETS[fn.__name__] = fn
    return fn


def _tmp(data: bytes, suffix: str) -> str:
    fd, path = tempfile.mkstemp(suffix=suffix)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return path


def _run(fn: Callable[[], object]) -> None:
    try:
        fn()
    except AduFwError:
        pass


_NOT_JSON = object()


def _json_doc(data: bytes) -> object:
    """The JSON document in the bytes (``null`` too), _NOT_JSON when there is none: JSON's own
    errors are not ours to find."""
    from adu_fw.jsonio import loads  # as the readers parse files: integers too long to convert stay text

    try:
        return loads(data.decode("utf-8", errors="replace"))
    except (json.JSONDecodeError, RecursionError):
        return _NOT_JSON


@target
def service_tags(data: bytes) -> None:
    from adu_fw.servicetags import ServiceTags

    def go() -> None:
        tags = ServiceTags.from_bytes(data, source="fuzz.json")
        for t in list(tags)[:3]:
            tags.lookup(t.address_prefixes[0].split("/")[0]) if t.address_prefixes else None

    _run(go)


@target
def nsg(data: bytes) -> None:
    from adu_fw.nsg import read_nsgs
    from adu_fw.policy import Policy

    def go() -> None:
        doc = _json_doc(data)
        if doc is _NOT_JSON:
            return
        for n in read_nsgs(doc, source_name="fuzz.json"):
            if not n.errors:
                p = Policy(single=n, virtual_network=["10.0.0.0/16"])
                p.check("Inbound", "tcp", "8.8.8.8", 1, "10.0.0.4", 443)
                p.evaluate({"direction": ["I"], "protocol": [6], "src_ip": ["8.8.8.8"], "src_port": [1],
                            "dst_ip": ["10.0.0.4"], "dst_port": [443]})

    _run(go)


@target
def flowlog_file(data: bytes) -> None:
    from adu_fw.flowlogs import read

    path = _tmp(data, ".json")
    try:
        def go() -> None:
            s = read(path)
            rows = sum(b.num_rows for b in s)
            assert s.stats.reconciles(), s.stats.to_dict()
            assert rows == s.stats.emitted

        _run(go)
    finally:
        os.unlink(path)


@target
def flowlog_tuple(data: bytes) -> None:
    """One tuple string inside a valid record, for each version."""
    from adu_fw.flowlogs import read

    text = data.decode("utf-8", errors="replace")
    for version in (1, 2, 4):
        if version == 4:
            doc = {"records": [{"flowLogVersion": 4, "flowRecords": {"flows": [{"aclID": "a", "flowGroups": [{"rule": "r", "flowTuples": [text]}]}]}}]}
        else:
            doc = {"records": [{"properties": {"Version": version, "flows": [{"rule": "r", "flows": [{"mac": "m", "flowTuples": [text]}]}]}}]}
        path = _tmp(json.dumps(doc).encode(), ".json")
        try:
            s = read(path)
            rows = sum(b.num_rows for b in s)
            assert s.stats.tuples_read == 1 and s.stats.reconciles() and rows == s.stats.emitted
        finally:
            os.unlink(path)


@target
def classbench(data: bytes) -> None:
    from adu_fw.classbench import RuleList

    path = _tmp(data, ".rules")
    try:
        def go() -> None:
            rl = RuleList.load(path)
            if rl.rules:
                rl.compile()

        _run(go)
    finally:
        os.unlink(path)


@target
def topology(data: bytes) -> None:
    from adu_fw.privatelink import Topology

    def go() -> None:
        doc = _json_doc(data)
        if doc is _NOT_JSON:
            return
        t = Topology(doc, source="fuzz.json")
        for a in list(t.accounts.values())[:2]:
            t.can_manage(a["name"])
        for v in list(t.vnets)[:2]:
            t.resolve("contoso.api.adu.microsoft.com", from_vnet=v)

    _run(go)


@target
def address_text(data: bytes) -> None:
    """The compiled address parser against Python's ipaddress on arbitrary text."""
    import ipaddress

    from adu_fw.ip import parse_addresses

    text = data.decode("utf-8", errors="replace")
    col = parse_addresses([text])
    try:
        a = ipaddress.ip_address(text)
        expected = 0 if getattr(a, "scope_id", None) else a.version
    except ValueError:
        expected = 0
    assert int(col.family[0]) == expected, (text, int(col.family[0]), expected)


_ = io  # keep the module importable without unused-import noise in some linters


@target
def terraform_plan(data: bytes) -> None:
    from adu_fw.plandiff import plan_diff
    from adu_fw.policy import Policy
    from adu_fw.terraform import TerraformPlan

    def go() -> None:
        doc = _json_doc(data)
        if doc is _NOT_JSON:
            return
        plan = TerraformPlan(doc, "fuzz.json")  # type: ignore[arg-type]
        for which in ("planned", "before", "after"):
            st = plan.state(which)
            for assume in (None, "any"):
                nsgs, _ = st.nsgs(assume_unknown=assume)
                for n in nsgs:
                    if not n.errors:
                        Policy(single=n, virtual_network=["10.0.0.0/16"]).check("Inbound", "tcp", "8.8.8.8", 1, "10.0.0.4", 22)
            st.attachments()
            try:
                from adu_fw.firewall import FirewallPolicy

                docs, _, _, groups = st.firewall_documents(None, assume_unknown="any")
                FirewallPolicy.load(docs[-1], parents=docs[:-1], ip_groups=groups).check("tcp", "10.0.0.4", 1, "10.1.0.4", 443)
            except AduFwError:
                pass
        plan_diff(plan, virtual_network=["10.0.0.0/16"])

    _run(go)


@target
def effective(data: bytes) -> None:
    from adu_fw.effective import effective_policy

    def go() -> None:
        doc = _json_doc(data)
        if doc is _NOT_JSON:
            return
        p = effective_policy(doc, virtual_network=["10.0.0.0/16"])
        p.check("Inbound", "tcp", "8.8.8.8", 1, "10.0.0.4", 22)

    _run(go)


@target
def admin_rules(data: bytes) -> None:
    """AVNM security admin rules: read, then evaluated before an NSG (reference and compiled)."""
    from adu_fw.adminrules import read_admin_rules
    from adu_fw.policy import Policy

    def go() -> None:
        doc = _json_doc(data)
        if doc is _NOT_JSON:
            return
        rules = read_admin_rules(doc, source_name="fuzz.json")
        if rules.rules and not rules.errors:
            p = Policy.from_nsgs(admin_rules=rules, virtual_network=["10.0.0.0/16"], network_groups={})
            p.check("Inbound", "tcp", "8.8.8.8", 1, "10.0.0.4", 443)
            p.evaluate({"direction": ["I"], "protocol": [6], "src_ip": ["8.8.8.8"], "src_port": [1],
                        "dst_ip": ["10.0.0.4"], "dst_port": [443]})

    _run(go)


@target
def firewall_log(data: bytes) -> None:
    """Azure Firewall log files: every record read or rejected, and the counts reconcile."""
    from adu_fw.firewall_logs import read

    path = _tmp(data, ".log")
    try:
        def go() -> None:
            s = read(path)
            rows = sum(t.num_rows for t in s)
            assert s.stats.reconciles and rows == s.stats.read, s.stats

        _run(go)
    finally:
        os.unlink(path)

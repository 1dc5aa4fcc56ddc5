"""Hostile and broken input: structured mutations of valid documents, truncation, invalid UTF-8.

Every reader may only return a result or raise the project's own error type (AduFwError). The
targets are shared with `make fuzz` (tests/fuzz/targets.py); the saved fuzz corpus is replayed too.
"""
from __future__ import annotations

import gzip
import json
import math
import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FUZZ = Path(__file__).resolve().parent / "fuzz"
sys.path.insert(0, str(FUZZ))
from targets import TARGETS  # noqa: E402

SEEDS = FUZZ / "seeds"
# make fuzz raises this (ADU_FW_FUZZ_EXAMPLES); make test keeps it small
SETTINGS = settings(max_examples=int(os.environ.get("ADU_FW_FUZZ_EXAMPLES", "60")), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

LONG_NUMBER = "__a JSON number of 5000 digits__"  # json.dumps cannot write one: put in after dumping
weird_values = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.just(math.nan), st.just(math.inf),
    st.text(max_size=20), st.text(min_size=5000, max_size=6000), st.builds(list), st.builds(dict), st.just("[parameters('x')]"),
    st.just("10.0.0.0/33"), st.just("::/0"), st.just("*"), st.just("0-65535"), st.just("65536"),
    st.just(LONG_NUMBER), st.just("9" * 5000),  # more digits than Python converts to int: in JSON, and as a string
)


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


@st.composite
def mutated(draw, seed_file):
    doc = json.loads(seed_file.read_text())
    paths = [p for p in _paths(doc) if p]
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(paths))
        parent = doc
        try:
            for k in path[:-1]:
                parent = parent[k]
            key = path[-1]
            action = draw(st.sampled_from(["drop", "replace", "duplicate", "nest"]))
            if action == "drop" and isinstance(parent, dict):
                parent.pop(key, None)
            elif action == "drop" and isinstance(parent, list) and key < len(parent):
                parent.pop(key)
            elif action == "replace":
                parent[key] = draw(weird_values)
            elif action == "duplicate" and isinstance(parent, list) and key < len(parent):
                parent.append(json.loads(json.dumps(parent[key])))
            elif action == "nest":
                v = parent[key]
                for _ in range(draw(st.sampled_from([2, 50, 3000]))):
                    v = [v]
                parent[key] = v
        except (KeyError, IndexError, TypeError, RecursionError, ValueError):
            continue
    try:
        return json.dumps(doc, allow_nan=True).replace(json.dumps(LONG_NUMBER), "9" * 5000).encode()
    except (RecursionError, ValueError):
        return b"[" * 5000


def _seed(target):
    return sorted((SEEDS / target).iterdir())[0]


@pytest.mark.parametrize("target", ["service_tags", "nsg", "flowlog_file", "topology", "terraform_plan", "effective"])
def test_structured_mutations(target):
    @SETTINGS
    @given(mutated(_seed(target)))
    def run(data):
        TARGETS[target](data)

    run()


def _in_shape(data: bytes, shape: str) -> bytes:
    """A mutated flow-log document rewritten as a shipper would: its records one per line, back to back, gzipped."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return data
    records = doc.get("records") if isinstance(doc, dict) else doc
    records = records if isinstance(records, list) else [records]
    try:
        if shape == "ndjson":
            return "\n".join(json.dumps(r) for r in records).encode()
        if shape == "concatenated":
            return "".join(json.dumps({"records": [r]}, indent=1) for r in records).encode()
        return gzip.compress(data)
    except (ValueError, RecursionError):
        return data


@pytest.mark.parametrize("shape", ["ndjson", "concatenated", "gzip"])
def test_structured_mutations_of_flow_logs_in_every_shape(shape):
    @SETTINGS
    @given(mutated(_seed("flowlog_file")))
    def run(data):
        TARGETS["flowlog_file"](_in_shape(data, shape))

    run()


@pytest.mark.parametrize("seed", sorted((SEEDS / "flowlog_file").iterdir()), ids=lambda p: p.name)
def test_truncation_at_every_byte_of_each_flow_log_seed(seed):
    """Every shape cut anywhere: a result that reconciles, never an exception (gzip cut too)."""
    raw = seed.read_bytes()
    for cut in range(0, len(raw), max(1, len(raw) // 400)):
        TARGETS["flowlog_file"](raw[:cut])


@pytest.mark.parametrize("target", ["service_tags", "nsg", "topology", "classbench", "flowlog_file"])
@given(data=st.binary(max_size=300))
@SETTINGS
def test_random_bytes_and_invalid_utf8(target, data):
    TARGETS[target](data)
    TARGETS[target](b"\xef\xbb\xbf" + data)


@pytest.mark.parametrize("target", ["service_tags", "nsg", "topology", "classbench", "terraform_plan", "effective"])
def test_truncation_at_every_byte_of_a_small_valid_file(target):
    raw = _seed(target).read_bytes()[:1500]
    for cut in range(0, len(raw), 3):
        TARGETS[target](raw[:cut])


@SETTINGS
@given(st.text(alphabet=st.sampled_from(list("0123456789.,:abcdefTUIOADBCENX_- ")), max_size=80))
def test_single_tuple_strings(text):
    TARGETS["flowlog_tuple"](text.encode())


@SETTINGS
@given(st.text(max_size=50))
def test_address_text(text):
    TARGETS["address_text"](text.encode())


def _corpus():
    root = FUZZ / "corpus"
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != ".gitkeep") if root.is_dir() else []


@pytest.mark.parametrize("path", _corpus(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fuzz_corpus_regressions(path):
    """Every input fuzzing ever found to crash stays fixed."""
    TARGETS[path.parent.name](path.read_bytes())


def test_deep_nesting_is_a_clear_error(tmp_path):
    from adu_fw import PolicyError, ServiceTagError
    from adu_fw.nsg import load_nsg
    from adu_fw.servicetags import ServiceTags

    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(ServiceTagError, match="nesting is too deep"):
        ServiceTags.from_bytes(deep, source="deep.json")
    p = tmp_path / "deep.json"
    p.write_bytes(deep)
    with pytest.raises(PolicyError, match="nesting is too deep"):
        load_nsg(str(p))


def test_documented_limits_are_enforced(tmp_path, monkeypatch):
    """The README's limits table: each limit gives a clear error naming the file (checked with small limits)."""
    from adu_fw import ServiceTagError, flowlogs, privatelink, servicetags
    from adu_fw.flowlogs import FlowLogError, read
    from adu_fw.privatelink import Topology, TopologyError
    from adu_fw.servicetags import ServiceTags

    doc = {"values": [{"name": f"T{i}", "properties": {"addressPrefixes": ["10.0.0.0/8", "11.0.0.0/8"]}} for i in range(3)]}
    raw = json.dumps(doc).encode()
    monkeypatch.setattr(servicetags, "MAX_TAGS", 2)
    with pytest.raises(ServiceTagError, match="3 tags; the limit is 2"):
        ServiceTags.from_bytes(raw, source="t.json")
    monkeypatch.setattr(servicetags, "MAX_TAGS", 100)
    monkeypatch.setattr(servicetags, "MAX_PREFIXES", 5)
    with pytest.raises(ServiceTagError, match="6 prefixes in all; the limit is 5"):
        ServiceTags.from_bytes(raw, source="t.json")
    monkeypatch.setattr(servicetags, "MAX_FILE_BYTES", 10)
    p = tmp_path / "t.json"
    p.write_bytes(raw)
    with pytest.raises(ServiceTagError, match="t.json: file is .* bytes"):
        ServiceTags.load(p)
    monkeypatch.setattr(privatelink, "MAX_FILE_BYTES", 10)
    with pytest.raises(TopologyError, match="larger than 10 bytes"):
        Topology.load(p)
    monkeypatch.setattr(flowlogs, "MAX_FILE_BYTES", 10)
    with pytest.raises(FlowLogError, match="the limit is 10"):
        list(read(p))


@pytest.mark.parametrize("depth", [50, 500, 950, 975, 990, 3000])
def test_deep_nesting_in_every_place_of_a_flow_log(depth):
    """Nested arrays as a document, as an element of records, and inside a record: a result or FlowLogError."""
    rec = '{"properties": {"Version": 2, "flows": []}}'
    for text in ("[" * depth + rec + "]" * depth,
                 '{"records": [' + "[" * depth + '"x"' + "]" * depth + "]}",
                 '{"records": [{"properties": {"Version": 2, "flows": ' + "[" * depth + "]" * depth + "}}]}",
                 rec + "\n" + "[" * depth + rec + "]" * depth + "\n"):
        TARGETS["flowlog_file"](text.encode())

"""Flow logs in every shape users have: real shipper exports and Microsoft's docs samples, NDJSON built
from real records line by line, gzip, concatenated documents, directories of .log files, files that
are not flow logs, truthful truncation, and fsspec URLs (memory:// and file://, no network)."""
from __future__ import annotations

import datetime as dt
import gzip
import json
import random
import re
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adu_fw import flowlogs
from adu_fw.flowlogs import FlowLogError, ReadStats, read, read_bytes, read_file

from conftest import shared

DATA = Path(__file__).resolve().parent / "data"
EXT = DATA / "flowlogs-ext"
V1 = DATA / "flowlogs" / "sampleJsonInput.json"
V2 = DATA / "flowlogs" / "AzureNSGFlowLogsv1.json"
EXT_FILES = sorted(p for p in EXT.rglob("*") if p.is_file() and p.name != "PROVENANCE.md")


def table(stream) -> pa.Table:
    return pa.Table.from_batches(list(stream), schema=flowlogs.SCHEMA)


def tuples_of(t: pa.Table) -> pa.Table:
    """The tuples and everything read with them, but not which file they came from."""
    return t.drop_columns(["source_file"])


def read_raw(raw: bytes, source: str = "x", scanner: bool = True) -> tuple[pa.Table, ReadStats]:
    old = flowlogs.USE_SCANNER
    flowlogs.USE_SCANNER = scanner
    try:
        stats = ReadStats()
        t = pa.Table.from_batches([b for b, _ in read_bytes(raw, source, stats)], schema=flowlogs.SCHEMA)
    finally:
        flowlogs.USE_SCANNER = old
    return t, stats


def blob(records: list) -> bytes:
    return json.dumps({"records": records}).encode()


def records_of(path: Path) -> list:
    doc = json.loads(re.sub(r",(\s*[\]}])", r"\1", path.read_text(encoding="utf-8-sig")))
    return doc["records"] if "records" in doc else [doc]


@pytest.mark.parametrize("path", EXT_FILES, ids=lambda p: str(p.relative_to(EXT)))
def test_copied_fixtures_equal_the_shared_originals(path):
    assert path.read_bytes() == shared("data", "flowlogs-ext", str(path.relative_to(EXT))).read_bytes()


# -- the real files, each in the shape it came in -----------------------------------------------------
REAL = {  # file: (shape, records, tuples read = emitted)
    "elastic_vnet/test-vnet.log": ("record", 1, 2),
    "elastic_vnet/testdata.log": ("blob", 1, 19),
    "elastic_nsg/test-nsg.log": ("record", 1, 1),
    "elastic_nsg/testdata.log": ("blob", 2, 11),
    "docs_zh_cn/v2_sample_block.json": ("blob", 2, 46),
    "docs_ru_ru/v2_sample_block.json": ("blob", 2, 11),
    "jagilber_vnet_example_extracted.json": ("blob", 1, 7),
}


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_files_read_whole_in_their_shape(name):
    shape, records, n = REAL[name]
    s = read(EXT / name)
    t = table(s)
    assert (s.stats.files, s.stats.records, s.stats.tuples_read, s.stats.emitted, t.num_rows) == (1, records, n, n, n)
    assert dict(s.stats.shapes) == {shape: 1} and s.stats.files_read[0]["shape"] == shape
    assert s.stats.records_truncated == 0 and not s.stats.rejected and s.nothing_read is None


def test_docs_v2_sample_never_closed_reads_every_tuple_with_a_note():
    s = read(EXT / "docs_ru_ru" / "v2_sample_block.json")
    list(s)
    assert s.stats.emitted == 11 and s.stats.records_truncated == 0
    assert any("ends inside the records array after 2 element(s), none of them cut" in n for n in s.stats.notes)


def test_docs_v1_sample_reads_all_21_tuples_and_rejects_the_stray_key():
    """Decision: the stray `"records": [` is rejected as what it is, with its location; the five complete
    records around it are read (21 tuples, as published); no record is called truncated."""
    s = read(EXT / "docs_ru_ru" / "v1_sample_block.json")
    t = table(s)
    assert (s.stats.records, s.stats.tuples_read, s.stats.emitted, t.num_rows) == (5, 21, 21, 21)
    assert s.stats.records_truncated == 0 and not s.stats.rejected
    assert dict(s.stats.elements_rejected) == {"stray key inside the records array": 1}
    (where,) = s.stats.element_examples["stray key inside the records array"]
    assert where.endswith('v1_sample_block.json records[2] (line 76 column 5): "records": where a record should be')
    assert any("the file ends inside the records array after 6 element(s), none of them cut" in n for n in s.stats.notes)
    assert t.column("record_index").to_pylist().count(4) == 3  # the last record: 3 tuples


def test_the_issue_two_real_records_on_two_lines(tmp_path):
    """What jq -c '.records[]' / Filebeat write: one record per line, no wrapper (was: 3 rejected as truncated)."""
    lines = [(EXT / "elastic_vnet" / "test-vnet.log").read_text().strip(), (EXT / "elastic_nsg" / "test-nsg.log").read_text().strip()]
    p = tmp_path / "export.log"
    p.write_text("\n".join(lines) + "\n")
    s = read(p)
    t = table(s)
    assert (s.stats.records, s.stats.tuples_read, s.stats.emitted, dict(s.stats.shapes)) == (2, 3, 3, {"ndjson": 1})
    assert not s.stats.rejected and s.stats.records_truncated == 0
    assert t.column("flow_log_version").to_pylist() == [4, 4, 2]


@pytest.mark.parametrize("source", [V1, V2, EXT / "docs_zh_cn" / "v2_sample_block.json", EXT / "jagilber_vnet_example_extracted.json"],
                         ids=lambda p: p.name)
@pytest.mark.parametrize("shape", ["ndjson", "ndjson-crlf", "ndjson-gzip", "concatenated", "array", "blob-gzip", "ndjson-of-blobs"])
def test_ndjson_and_other_shapes_built_from_real_records_read_the_same_tuples(source, shape):
    recs = records_of(source)
    want, _ = read_raw(blob(recs))
    lines = [json.dumps(r) for r in recs]
    raw = {
        "ndjson": "\n".join(lines).encode(),
        "ndjson-crlf": ("\r\n".join(lines) + "\r\n").encode(),
        "ndjson-gzip": gzip.compress(("\n".join(lines) + "\n").encode()),
        "concatenated": "".join(json.dumps({"records": [r]}, indent=2) for r in recs).encode(),
        "array": json.dumps(recs, indent=1).encode(),
        "blob-gzip": gzip.compress(blob(recs)),
        "ndjson-of-blobs": "\n".join(json.dumps({"records": [r]}) for r in recs).encode(),
    }[shape]
    for scanner in (True, False):
        got, stats = read_raw(raw, scanner=scanner)
        assert tuples_of(got).equals(tuples_of(want)), (shape, scanner)
        assert stats.records == len(recs) and stats.reconciles() and not stats.rejected
        expect = {"ndjson-crlf": "ndjson", "ndjson-gzip": "ndjson (gzip)", "blob-gzip": "blob (gzip)", "ndjson-of-blobs": "ndjson"}
        label = expect.get(shape, shape)
        if len(recs) == 1 and shape.startswith("ndjson"):
            label = label.replace("ndjson", "blob" if "blobs" in shape else "record")
        if len(recs) == 1 and shape == "concatenated":
            label = "blob"
        assert dict(stats.shapes) == {label: 1}, (shape, scanner)


def test_well_formed_files_of_every_shape_take_the_compiled_path():
    """NDJSON lines are records: they go through the same fast path as a blob (no general decoder)."""
    recs = records_of(V1)
    for raw in (blob(recs), "\n".join(json.dumps(r) for r in recs).encode(), gzip.compress(blob(recs)),
                "".join(json.dumps({"records": [r]}, indent=2) for r in recs).encode()):
        assert flowlogs.shapes.decode(raw, "x").text is not None


def test_folder_of_log_exports_and_files_that_are_not_flow_logs(tmp_path):
    """Every regular file is taken, whatever its name; the ones that are not flow logs are named, with why."""
    for p in ("elastic_nsg/test-nsg.log", "elastic_vnet/test-vnet.log", "elastic_nsg/testdata.log"):
        (tmp_path / Path(p).name.replace("testdata", Path(p).parent.name)).write_bytes((EXT / p).read_bytes())
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "more.jsonl.gz").write_bytes(gzip.compress((EXT / "elastic_vnet" / "testdata.log").read_bytes()))
    (tmp_path / "README.txt").write_text("exported with jq\n")
    (tmp_path / "empty.log").write_text("")
    (tmp_path / "settings.json").write_text('{"retentionDays": 7}')
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")
    s = read(tmp_path)
    list(s)
    assert (s.stats.files, s.stats.records, s.stats.emitted) == (4, 5, 1 + 2 + 11 + 19)
    assert dict(s.stats.shapes) == {"record": 2, "blob": 1, "blob (gzip)": 1}
    assert {Path(f["path"]).name: f["reason"] for f in s.stats.skipped_files} == {
        "README.txt": "not JSON (it starts with 'exported with jq\\n')",
        "empty.log": "an empty file",
        "settings.json": "JSON, but no flow-log record in it (the document: an object with keys 'retentionDays')",
        "image.png": "not JSON (binary data)",
    }


def test_nothing_read_is_a_flag_that_says_what_was_found(tmp_path):
    (tmp_path / "a.txt").write_text("hello")
    s = read(tmp_path)
    assert list(s) == []
    assert s.stats.nothing_read == f"no flow-log file was read: 1 file(s) that are not flow logs ({tmp_path / 'a.txt'}: not JSON (it starts with 'hello'))"
    assert s.nothing_read.startswith(f"{tmp_path}: no flow-log file was read")
    empty = tmp_path / "empty"
    empty.mkdir()
    s = read(empty)
    list(s)
    assert s.nothing_read == f"{empty}: no flow-log file was read: no file found"
    (tmp_path / "b.json").write_text('{"records": []}')
    s = read(tmp_path / "b.json")
    list(s)
    assert s.stats.nothing_read == "no flow-log record was read (1 file(s) read): 1 file(s) read as flow logs (1 blob)"
    assert s.stats.to_dict()["nothing_read"] == s.stats.nothing_read


# -- truthful truncation ------------------------------------------------------------------------------
def _ndjson_lines() -> list[str]:
    return [json.dumps(r) for r in records_of(EXT / "docs_zh_cn" / "v2_sample_block.json") + records_of(V1)]


def test_ndjson_cut_at_every_byte_of_its_last_line_keeps_every_complete_line():
    lines = _ndjson_lines()
    head = "\n".join(lines[:-1]) + "\n"
    complete = sum(1 for r in records_of(EXT / "docs_zh_cn" / "v2_sample_block.json") + records_of(V1))
    per = [json.loads(x) for x in lines]
    before = sum(len(g["flowTuples"]) for r in per[:-1] for f in r["properties"]["flows"] for g in f["flows"])
    last = lines[-1]
    for cut in range(0, len(last), 7):
        t, stats = read_raw((head + last[:cut]).encode())
        assert t.num_rows == before and stats.records == complete - 1 and stats.reconciles(), cut
        if cut:
            assert stats.records_truncated == 1 and set(stats.rejected) <= {"truncated record (the file ends inside it)"}
            assert not stats.elements_rejected


def test_a_line_cut_in_the_middle_is_malformed_not_truncated_and_the_lines_after_it_are_read():
    lines = _ndjson_lines()
    cut = lines[0][: len(lines[0]) // 2]
    t, stats = read_raw(("\n".join([cut] + lines[1:]) + "\n").encode())
    assert stats.records_truncated == 0 and "truncated record (the file ends inside it)" not in stats.rejected
    assert stats.records == len(lines) - 1 and stats.reconciles()
    assert dict(stats.elements_rejected) == {"malformed JSON": 1}
    (where,) = stats.element_examples["malformed JSON"]
    assert "at line 1 column 1" in where and "read on from the next record, at line 2 column 1" in where
    assert stats.rejected["in malformed JSON (no readable record around it)"] == stats.tuples_read - stats.emitted > 0
    assert dict(stats.shapes) == {"ndjson": 1}


def test_junk_lines_between_records_are_rejected_with_their_line():
    lines = _ndjson_lines()[:2]
    t, stats = read_raw((lines[0] + "\nINFO shipper started\n" + '"a string"\n' + lines[1] + "\n").encode())
    assert stats.records == 2 and stats.elements_rejected["malformed JSON"] == 1
    assert "'INFO shipper started'" in stats.element_examples["malformed JSON"][0]


def test_non_records_inside_records_are_rejected_and_counted():
    recs = records_of(V1)
    doc = {"records": [recs[0], "records", 7, {"flowTuples": ["1531917335,1.2.3.4,10.0.0.4,1,2,T,I,A"]}, recs[1]]}
    for scanner in (True, False):
        t, stats = read_raw(json.dumps(doc).encode(), scanner=scanner)
        assert stats.records == 3 and stats.elements_rejected["not a record (an element of records that is not an object)"] == 2
        assert stats.examples["record of an unknown flow-log version"] == ["x record 1"]
        assert stats.reconciles() and stats.rejected["record of an unknown flow-log version"] == 1


def test_gzip_cut_short_keeps_what_decompressed():
    recs = records_of(V1) * 10
    raw = gzip.compress(("\n".join(json.dumps(r) for r in recs) + "\n").encode())
    t, stats = read_raw(raw[: len(raw) * 2 // 3])
    assert any("gzip stream cut short" in n for n in stats.notes) and stats.reconciles()
    assert 0 < stats.records < len(recs)


def test_multi_member_gzip():
    recs = records_of(V1)
    raw = b"".join(gzip.compress((json.dumps(r) + "\n").encode()) for r in recs)
    t, stats = read_raw(raw)
    assert stats.records == len(recs) and dict(stats.shapes) == {"ndjson (gzip)": 1}


def test_utf16_from_powershell_and_bom():
    recs = records_of(V1)
    t, stats = read_raw(json.dumps({"records": recs}).encode("utf-16"))
    assert stats.records == 3 and stats.emitted == 38 and any("UTF-16" in n for n in stats.notes)
    t2, _ = read_raw(b"\xef\xbb\xbf" + "\n".join(json.dumps(r) for r in recs).encode())
    assert tuples_of(t2).equals(tuples_of(t))


def test_per_file_stats_merge_to_the_whole_run(tmp_path):
    for i, p in enumerate([V1, V2, EXT / "docs_ru_ru" / "v1_sample_block.json"]):
        (tmp_path / f"{i}.json").write_bytes(p.read_bytes())
    one = ReadStats()  # every file into one ReadStats ...
    merged = ReadStats()  # ... and each file into its own, merged
    for ref in flowlogs.list_files([tmp_path]):
        list(read_file(ref, one))
        own = ReadStats()
        list(read_file(ref, own))
        merged.merge(own)
    assert merged.to_dict() == one.to_dict() and one.files == 3 and one.elements_rejected
    whole = read(tmp_path)
    list(whole)
    assert whole.stats.to_dict() == one.to_dict()


# -- where logs live: fsspec URLs --------------------------------------------------------------------
LAYOUT = ("insights-logs-networksecuritygroupflowevent/resourceId=/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/"
          "MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/MY-NSG/y=2024/m=06/d=10/h={h:02d}/m=00/macAddress=000D3A1B2C3D/PT1H.json")


@pytest.fixture
def memfs():
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    root = f"/adu-fw-test-{random.randrange(1 << 30)}"
    yield fs, root
    fs.rm(root, recursive=True)


def test_memory_url_blob_layout_with_time_pruning_before_opening(memfs):
    fs, root = memfs
    for h in (8, 9, 10):
        fs.pipe(f"{root}/{LAYOUT.format(h=h)}", V1.read_bytes())
    fs.pipe(f"{root}/{LAYOUT.format(h=11)}", b"\x00 not even JSON: never opened, because it is outside the window")
    fs.pipe(f"{root}/exports/shipped.log", b"\n".join(json.dumps(r).encode() for r in records_of(V2)))
    s = read(f"memory://{root}", since=dt.datetime(2024, 6, 10, 9, tzinfo=dt.timezone.utc),
             until=dt.datetime(2024, 6, 10, 11, tzinfo=dt.timezone.utc))
    t = table(s)
    assert (s.stats.files, s.stats.files_skipped_by_time, s.stats.skipped_files) == (3, 2, [])
    assert t.num_rows == 38 * 2 + 8 and dict(s.stats.shapes) == {"blob": 2, "record": 1}
    hours = set(t.column("hour").drop_null().to_pylist())
    assert hours == {dt.datetime(2024, 6, 10, h, tzinfo=dt.timezone.utc) for h in (9, 10)}
    assert all(f.startswith("memory://") for f in t.column("source_file").unique().to_pylist())


def test_memory_url_glob_and_single_file(memfs):
    fs, root = memfs
    fs.pipe(f"{root}/a/x.json.gz", gzip.compress(V1.read_bytes()))
    fs.pipe(f"{root}/b/y.log", V2.read_bytes())
    s = read(f"memory://{root}/*/*")
    list(s)
    assert s.stats.files == 2 and s.stats.emitted == 46
    s = read(f"memory://{root}/b/y.log")
    list(s)
    assert s.stats.emitted == 8 and s.stats.files_read[0]["file"] == f"memory://{root}/b/y.log"
    with pytest.raises(FlowLogError, match="no such file or directory"):
        read(f"memory://{root}/nope")
    with pytest.raises(FlowLogError, match="the pattern matches no file"):
        read(f"memory://{root}/*/*.parquet")


def test_file_url_equals_the_local_path():
    pytest.importorskip("fsspec")
    local = table(read(DATA / "flowlogs"))
    url = table(read((DATA / "flowlogs").resolve().as_uri()))
    assert tuples_of(url).equals(tuples_of(local))


def test_unknown_protocol_and_missing_back_end_are_clear_errors(monkeypatch):
    pytest.importorskip("fsspec")
    with pytest.raises(FlowLogError, match=r"nope://x/y: cannot open: ValueError: Protocol not known: nope"):
        read("nope://x/y")
    import fsspec.core

    def missing(url, **kw):
        raise ImportError("Install adlfs to access Azure Datalake Gen2 and Azure Blob Storage")

    monkeypatch.setattr(fsspec.core, "url_to_fs", missing)
    with pytest.raises(FlowLogError, match=r"abfs://c/p: Install adlfs .*pip install 'adu-fw\[azure\]'"):
        read("abfs://c/p")


# -- the property: any sequence of real records, in any shape, reads to the blob's tuples -----------------
POOL = [r for p in (V1, V2, EXT / "docs_zh_cn" / "v2_sample_block.json", EXT / "jagilber_vnet_example_extracted.json",
                    EXT / "elastic_vnet" / "test-vnet.log", EXT / "elastic_nsg" / "test-nsg.log") for r in records_of(p)]


@st.composite
def written(draw):
    recs = draw(st.lists(st.sampled_from(POOL), min_size=1, max_size=5))
    shape = draw(st.sampled_from(["blob", "ndjson", "ndjson-of-blobs", "concatenated", "array"] + (["record"] if len(recs) == 1 else [])))
    indent = draw(st.sampled_from([None, 1, 4]))
    if shape == "blob":
        text = json.dumps({"records": recs}, indent=indent)
    elif shape == "record":
        text = json.dumps(recs[0], indent=indent)
    elif shape == "array":
        text = json.dumps(recs, indent=indent)
    elif shape == "ndjson":
        text = "\n".join(json.dumps(r) for r in recs) + draw(st.sampled_from(["", "\n", "\n\n"]))
    elif shape == "ndjson-of-blobs":
        cut = draw(st.integers(0, len(recs)))
        parts = [recs[:cut], recs[cut:]]
        text = "\n".join(json.dumps({"records": p}) for p in parts if p)
    else:
        sep = draw(st.sampled_from(["", " ", "\n"]))
        text = sep.join(json.dumps({"records": [r]}, indent=indent or 2) for r in recs)
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    raw = text.encode()
    if draw(st.booleans()):
        raw = b"\xef\xbb\xbf" + raw
    if draw(st.booleans()):
        raw = gzip.compress(raw)
    return recs, raw


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(written())
def test_any_real_records_in_any_shape_read_to_the_blob_tuples(case):
    recs, raw = case
    want, want_stats = read_raw(blob(recs))
    for scanner in (True, False):
        got, stats = read_raw(raw, scanner=scanner)
        assert tuples_of(got).equals(tuples_of(want))
        assert (stats.records, stats.tuples_read, stats.emitted, stats.rejected) == (
            want_stats.records, want_stats.tuples_read, want_stats.emitted, want_stats.rejected)
        assert stats.files == 1 and not stats.elements_rejected and stats.records_truncated == 0

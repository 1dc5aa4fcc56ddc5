"""analyze and evaluate on every core: threads 2 and 3 give the single-thread (reference) result, byte
for byte, on the demo logs, the real captures, generated multi-file sets (random ones too), with
service tags by hour and with AVNM admin rules; on_batch sees the batches in input order; errors are
raised where a loop would raise them."""
from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from adu_fw import flowlogs
from adu_fw.analysis import analyze
from adu_fw.cli import main
from adu_fw.demo import demo_dir
from adu_fw.flowlogs import FlowLogError, read
from adu_fw.policy import Policy
from adu_fw.servicetags import _embedded_dir
from adu_fw.tags.versions import TagVersions, VersionedPolicy
from adu_fw.workers import ordered, resolve_threads

from conftest import SHARED

DEMO = demo_dir()
NSG = DEMO / "client-nsg.json"


def _doc(paths, policy, threads, **kw):
    return json.dumps(analyze(read(paths), policy, threads=threads, **kw).to_dict(), sort_keys=True, default=str)


@pytest.fixture(scope="module")
def policy():
    return Policy.from_nsg(NSG, service_tags="20240610")


@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    """Generated hourly v2 blobs, the demo's v1/v2/v4 files (one cut mid-write), a file that is not a
    flow log and one with a tuple that does not split: more files than threads, of every kind."""
    from adu_fw.samples import write_nsg_v2_hours

    root = tmp_path_factory.mktemp("multi")
    write_nsg_v2_hours(root, hours=7, tuples_per_hour=3000, seed=11)
    shutil.copytree(DEMO / "flowlogs", root / "flowlogs" / "demo")
    (root / "flowlogs" / "notes.txt").write_text("shipped by filebeat\n")
    bad = {"records": [{"time": "2024-06-10T05:00:00Z", "properties": {"Version": 2, "flows": [{"rule": "UserRule_x", "flows": [
        {"mac": "000D3A1B2C3D", "flowTuples": ["1717995600,10.20.1.4,20.119.27.200,50000,443,T,O,A,B,,,,", "oops"]}]}]}}]}
    (root / "flowlogs" / "zz-bad.json").write_text(json.dumps(bad))
    return root / "flowlogs"


@pytest.mark.parametrize("threads", [2, 3])
def test_threads_give_the_single_thread_report(policy, multi, threads):
    one = _doc(multi, policy, 1)
    doc = json.loads(one)
    rec = doc["reconciliation"]
    assert rec["reconciles"] and rec["files"] >= 12 and rec["skipped_files"] and rec["rejected_total"] > 0
    assert _doc(multi, policy, threads) == one
    assert _doc(multi, policy, None) == one  # the default: every core


def test_threads_on_the_demo_and_the_real_captures(policy):
    real = SHARED / "data" / "flowlogs"
    paths = [DEMO / "flowlogs"] + ([real] if real.is_dir() else []) + (
        [SHARED / "data" / "flowlogs-ext"] if (SHARED / "data" / "flowlogs-ext").is_dir() else [])
    for p in paths:
        assert _doc(p, policy, 2) == _doc(p, policy, 1), p


def test_threads_with_service_tags_by_hour(multi):
    def versioned():
        return VersionedPolicy(TagVersions.from_dir(_embedded_dir()), lambda tags: Policy.from_nsg(NSG, service_tags=tags))

    one, two = versioned(), versioned()
    a = analyze(read(multi), one, threads=1)
    b = analyze(read(multi), two, threads=2)
    assert json.dumps(a.to_dict(), default=str) == json.dumps(b.to_dict(), default=str)
    assert one.to_dict() == two.to_dict() and len(one.to_dict()) == 2  # the same versions, hours and tuple counts
    assert (one.untimed, one.before_oldest) == (two.untimed, two.before_oldest)


def test_threads_with_admin_rules():
    p = Policy.from_nsg(NSG, service_tags="20240610", admin_rules=str(DEMO / "avnm-admin-rules.json"))
    one = _doc(DEMO / "flowlogs-avnm", p, 1)
    assert json.loads(one)["admin_rules"] and _doc(DEMO / "flowlogs-avnm", p, 2) == one


def test_cli_json_and_parquet_are_the_same_for_any_threads(multi, tmp_path, capsys):
    out = {}
    for t in ("1", "2"):
        code = main(["analyze", str(multi), "--nsg", str(NSG), "--service-tags", str(_embedded_dir()), "--json",
                     "--threads", t, "--parquet", str(tmp_path / f"{t}.parquet")])
        out[t] = (code, capsys.readouterr().out)
    assert out["1"] == out["2"]
    one, two = pq.read_table(tmp_path / "1.parquet"), pq.read_table(tmp_path / "2.parquet")
    assert one.num_rows > 0 and one.equals(two)  # on_batch: the batches in input order
    with pytest.raises(SystemExit) as usage:
        main(["analyze", str(multi), "--nsg", str(NSG), "--threads", "0"])
    assert usage.value.code == 2 and "--threads: expected a number of threads" in capsys.readouterr().err


def test_on_batch_sees_files_in_input_order(policy, multi):
    seen = []
    analyze(read(multi), policy, threads=3, on_batch=lambda b, v: seen.append(b.column("source_file")[0].as_py()))
    files = [f.source for f in read(multi).files]
    order = [files.index(s) for s in seen]
    assert order == sorted(order) and len(set(seen)) > 5


def test_an_error_is_raised_where_the_loop_would_raise_it(policy, multi, monkeypatch):
    big = max(read(multi).files, key=lambda f: f.size)
    monkeypatch.setattr(flowlogs, "MAX_FILE_BYTES", big.size - 1)
    for threads in (1, 2):
        seen = []
        with pytest.raises(FlowLogError) as err:
            analyze(read(multi), policy, threads=threads, on_batch=lambda b, v: seen.append(b.column("source_file")[0].as_py()))
        assert big.source in str(err.value)
        assert all(s < big.source for s in seen)  # nothing after the failing file reached the callback


def test_a_stream_of_batches_is_spread_too(policy, multi):
    class Batches:  # not a FlowLogStream: its batches are the units
        def __init__(self):
            stream = read(multi)
            self.batches, self.stats = list(stream), stream.stats

        def __iter__(self):
            return iter(self.batches)

    one = analyze(Batches(), policy, threads=1).to_dict()
    assert json.dumps(analyze(Batches(), policy, threads=2).to_dict(), default=str) == json.dumps(one, default=str)


# -- random files: any split of the same records over files and batches gives the same counts ----------------
_ADDR = ["10.20.1.4", "10.20.1.5", "20.119.27.200", "20.53.48.174", "8.8.8.8", "2603:1030:210:11::201", "10.20.2.9"]
_TUPLE = st.tuples(
    st.integers(1717977600, 1717977600 + 5 * 3600), st.sampled_from(_ADDR), st.sampled_from(_ADDR),
    st.integers(0, 65535), st.sampled_from([22, 80, 443, 8883, 53]), st.sampled_from("TU"), st.sampled_from("IO"),
    st.sampled_from("AD"), st.sampled_from("BCE"), st.booleans(), st.booleans(),
)


def _text(t) -> str:
    ts, src, dst, sport, dport, proto, d, dec, state, counters, broken = t
    if broken:
        return f"{ts},{src},{dst},{sport}"  # a tuple that does not split: rejected with its reason
    tail = "7,1700,9,6400" if counters else ",,,"
    return f"{ts},{src},{dst},{sport},{dport},{proto},{d},{dec},{state},{tail}"


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(st.lists(_TUPLE, min_size=1, max_size=30), min_size=1, max_size=25),
       files=st.integers(1, 6), batch=st.integers(1, 40))
def test_any_split_over_files_gives_the_single_thread_counts(policy, records, files, batch):
    rules = ["UserRule_allow-adu-443", "DefaultRule_DenyAllInBound", "DefaultRule_AllowInternetOutBound"]
    recs = [{"time": "2024-06-10T00:00:00Z", "macAddress": "000D3A1B2C3D", "properties": {"Version": 2, "flows": [
        {"rule": rules[i % 3], "flows": [{"mac": "000D3A1B2C3D", "flowTuples": [_text(t) for t in r]}]}]}}
        for i, r in enumerate(records)]
    with tempfile.TemporaryDirectory() as tmp:
        whole = Path(tmp, "whole.json")
        whole.write_text(json.dumps({"records": recs}))
        split = Path(tmp, "split")
        split.mkdir()
        for k in range(files):
            Path(split, f"{k:02d}.json").write_text(json.dumps({"records": recs[k::files]}))
        reports = {t: analyze(read(split, batch_tuples=batch), policy, threads=t).to_dict() for t in (1, 2, 3)}
        reference = analyze(read(whole), policy, threads=1).to_dict()
    one = json.dumps(reports[1], sort_keys=True, default=str)
    assert json.dumps(reports[2], sort_keys=True, default=str) == one
    assert json.dumps(reports[3], sort_keys=True, default=str) == one
    rec = reports[1]["reconciliation"]
    assert rec["reconciles"] and rec["tuples_read"] == sum(len(r) for r in records)
    for key in ("evaluated", "rejected_total", "rejected"):
        assert rec[key] == reference["reconciliation"][key], key
    for key in ("agree", "disagree", "decision_disagree", "rule_disagree", "unknown", "rule_not_comparable"):
        assert reports[1]["agreement"][key] == reference["agreement"][key], key
    for key in ("rules", "top_talkers", "tag", "timeline"):
        assert reports[1][key] == reference[key], key
    assert sorted(map(str, reports[1]["denied_by_port"])) == sorted(map(str, reference["denied_by_port"]))


# -- evaluate ---------------------------------------------------------------------------------------------------
def test_evaluate_cli_is_the_same_for_any_threads(tmp_path, capsys):
    import numpy as np

    rng = np.random.default_rng(3)
    n = 5000
    addr = np.array(["10.20.1.4", "20.119.27.200", "8.8.8.8", "2603:1030:210:11::201", "not-an-ip"])
    flows = pa.table({
        "time": pa.array(rng.integers(1717372800, 1718150400, n) * 1000, pa.timestamp("ms", tz="UTC")),
        "direction": rng.choice(["Outbound", "Inbound", "O", "sideways"], n), "protocol": rng.choice(["tcp", "udp", "6"], n),
        "src_ip": addr[rng.integers(0, 5, n)], "src_port": rng.integers(0, 65536, n),
        "dst_ip": addr[rng.integers(0, 5, n)], "dst_port": rng.choice([443, 80, 22], n)})
    pacsv.write_csv(flows, tmp_path / "flows.csv")
    pq.write_table(flows, tmp_path / "flows.parquet")
    for src in ("flows.csv", "flows.parquet"):
        for tags in ("20240610", str(_embedded_dir())):
            got = {}
            for t in ("1", "2"):
                out = tmp_path / f"out-{t}.parquet"
                code = main(["evaluate", "--nsg", str(NSG), "--service-tags", tags, "--flows", str(tmp_path / src),
                             "--out", str(out), "--json", "--threads", t, "--batch-rows", "700"])
                got[t] = (code, capsys.readouterr().out.replace(str(out), "OUT"), pq.read_table(out))
            assert got["1"][:2] == got["2"][:2]
            assert got["1"][2].num_rows == n and got["1"][2].equals(got["2"][2])


# -- the pool itself --------------------------------------------------------------------------------------------
def test_ordered_keeps_order_bounds_work_and_raises_in_place():
    def slow(i):
        time.sleep(0.002 * ((7 * i) % 5))
        return i * i

    assert list(ordered(slow, range(40), 3)) == [i * i for i in range(40)]
    assert list(ordered(slow, range(5), 1)) == [0, 1, 4, 9, 16]
    started = []
    lock = threading.Lock()

    def fail_at_5(i):
        with lock:
            started.append(i)
        if i == 5:
            raise ValueError("five")
        return i

    got = []
    with pytest.raises(ValueError, match="five"):
        for x in ordered(fail_at_5, range(1000), 2, ahead=4):
            got.append(x)
    assert got == [0, 1, 2, 3, 4] and max(started) < 5 + 4 + 2  # a bounded window, nothing started after it
    assert resolve_threads(None) >= 1 and resolve_threads(3) == 3
    with pytest.raises(ValueError):
        resolve_threads(0)

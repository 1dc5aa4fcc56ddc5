"""adu_fw.spark on a real local Spark (local[2]): the same answers as the single-machine path."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pyspark = pytest.importorskip("pyspark", reason="make test installs pyspark; this only skips outside the venv")

from adu_fw import spark as adu_spark  # noqa: E402
from adu_fw.analysis import analyze  # noqa: E402
from adu_fw.demo import demo_dir  # noqa: E402
from adu_fw.flowlogs import read  # noqa: E402
from adu_fw.policy import Policy  # noqa: E402

from conftest import shared  # noqa: E402


@pytest.fixture(scope="module")
def spark():
    import os
    import sys

    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable  # workers import adu_fw from this venv
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    s = (
        SparkSession.builder.master("local[2]")
        .appName("adu-fw-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.memory", "1g")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "20000")
        .getOrCreate()
    )
    yield s
    s.stop()


def _single(paths, policy, threads=1):
    return analyze(read(paths), policy, threads=threads).to_dict()


def _plain(doc):
    return json.loads(json.dumps(doc, default=str))


def _multi(tmp_path_factory):
    """Generated hourly v2 blobs beside the demo's v1/v2/v4 files: more files than tasks."""
    import shutil

    from adu_fw.samples import write_nsg_v2_hours

    root = tmp_path_factory.mktemp("multi")
    write_nsg_v2_hours(root, hours=6, tuples_per_hour=2000, seed=5)
    shutil.copytree(demo_dir() / "flowlogs", root / "flowlogs", dirs_exist_ok=True)
    return str((root / "flowlogs").resolve())


def test_read_has_the_fixed_schema_and_counts_every_file(spark):
    df = adu_spark.read_flow_logs(spark, str(demo_dir() / "flowlogs"))
    assert df.columns[:6] == ["time", "src_ip", "dst_ip", "src_port", "dst_port", "protocol"]
    assert df.columns[-1] == "_file_stats"
    stream = read(demo_dir() / "flowlogs")
    single = sum(b.num_rows for b in stream)
    assert df.where("_file_stats is null").count() == single
    assert df.where("_file_stats is not null").count() == stream.stats.files == 5
    hours = {r["hour"] for r in df.where("_file_stats is null").select("hour").distinct().collect()}
    assert len(hours) == 5  # taken from the blob paths, not from Spark's partition discovery


@pytest.mark.parametrize("which", ["demo", "real-v1", "multi"])
def test_analyze_equals_the_single_machine_report(spark, which, tmp_path_factory):
    """Files read, evaluated and aggregated in the tasks; the merged report is the one-machine document."""
    policy = Policy.from_nsg(demo_dir() / "client-nsg.json", service_tags="20240610")
    if which == "demo":
        paths = str(demo_dir() / "flowlogs")
    elif which == "multi":
        paths = _multi(tmp_path_factory)
    else:
        from nsgkit import nsg, rule

        paths = str(shared("data", "flowlogs", "sampleOfInputV1.json").resolve())
        policy = Policy.from_nsg(nsg("APPNSG", rule("fe_rule", 100, protocol="Tcp", src="VirtualNetwork", dport="80")),
                                 virtual_network=["10.1.0.0/16"])
    got = adu_spark.analyze(adu_spark.read_flow_logs(spark, paths), policy)
    want = _single(paths, policy)
    assert want["reconciliation"]["evaluated"] > 0 and want["reconciliation"]["reconciles"]
    assert _plain(got) == _plain(want)
    assert _plain(_single(paths, policy, threads=2)) == _plain(want)


def test_analyze_of_rows_aggregates_in_the_tasks(spark, tmp_path_factory):
    """A DataFrame of rows (not the files): each batch is aggregated where it is; the counts are the same."""
    policy = Policy.from_nsg(demo_dir() / "client-nsg.json", service_tags="20240610")
    paths = _multi(tmp_path_factory)
    rows = adu_spark.read_flow_logs(spark, paths).select("*")  # a derived DataFrame: no longer the files
    assert not hasattr(rows, "_adu_fw_source")
    got, want = _plain(adu_spark.analyze(rows, policy)), _plain(_single(paths, policy))
    for key in ("files", "records", "records_truncated", "tuples_read", "rejected", "rejected_total", "evaluated",
                "reconciles", "shapes", "versions"):
        assert got["reconciliation"][key] == want["reconciliation"][key], key
    for key in ("agree", "disagree", "decision_disagree", "rule_disagree", "unknown", "rule_not_comparable"):
        assert got["agreement"][key] == want["agreement"][key], key
    for key in ("rules", "unused_rules", "top_talkers", "denied_by_port", "tag", "timeline"):
        assert got[key] == want[key], key


@pytest.mark.parametrize("read_in_tasks", [None, False])
def test_the_binary_files_dataframe_is_taken_as_files(spark, read_in_tasks):
    """The tasks open local files themselves (the default), or take the content Spark read: the same report."""
    policy = Policy.from_nsg(demo_dir() / "client-nsg.json", service_tags="20240610")
    files = spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(str(demo_dir() / "flowlogs"))
    want = _plain(_single(str(demo_dir() / "flowlogs"), policy))
    assert _plain(adu_spark.analyze(files, policy, read_in_tasks=read_in_tasks)) == want
    df = adu_spark.read_flow_logs(spark, str(demo_dir() / "flowlogs"))
    assert _plain(adu_spark.analyze(df, policy, read_in_tasks=read_in_tasks)) == want


def test_files_in_bins_of_about_equal_size():
    files = [(f"f{i}", f"/p/f{i}", size) for i, size in enumerate([9, 1, 5, 5, 3, 7, 2, 8])]
    bins = adu_spark._bins(files, 3)
    loads = sorted(sum(f[2] for f in b) for b in bins)
    assert sorted(f for b in bins for f in b) == sorted(files) and loads[-1] - loads[0] <= 2
    assert adu_spark._bins(files[:1], 4) == [[files[0]]]
    assert adu_spark._local("file:/tmp/a%20b/PT1H.json") == "/tmp/a b/PT1H.json"
    assert adu_spark._local("abfss://c@a.dfs.core.windows.net/x") is None


def test_readme_snippet_runs_as_written_without_pyspark_python(tmp_path):
    """The README's Spark snippet, with local paths, in a fresh interpreter whose PATH has no adu-fw:
    the workers start this interpreter (a local master), not ``python3`` from PATH."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme[readme.index("### On Apache Spark"):]
    code = re.search(r"```py\n(.*?)```", section, flags=re.S).group(1)
    code = code.replace('"client-nsg.json"', repr(str(demo_dir() / "client-nsg.json")))
    code = re.sub(r'"abfss://[^"]*"', repr(str(demo_dir() / "flowlogs")), code)
    assert "abfss://" not in code and "client-nsg.json'" in code
    script = tmp_path / "snippet.py"
    script.write_text(code + "\nimport json\nprint(json.dumps(report['reconciliation']['evaluated']))\nspark.stop()\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON")}
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p and p != venv_bin)
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    policy = Policy.from_nsg(demo_dir() / "client-nsg.json", virtual_network=["10.20.0.0/16"])
    assert json.loads(done.stdout.strip().splitlines()[-1]) == _single(str(demo_dir() / "flowlogs"), policy)[
        "reconciliation"]["evaluated"]


def test_worker_python_keeps_a_chosen_one(spark, monkeypatch):
    sc = spark.sparkContext
    monkeypatch.setattr(sc, "pythonExec", "/opt/chosen/python")
    monkeypatch.setenv("PYSPARK_PYTHON", "/opt/chosen/python")
    assert adu_spark.worker_python(spark) == "/opt/chosen/python"
    monkeypatch.delenv("PYSPARK_PYTHON")
    assert adu_spark.worker_python(spark) == sys.executable  # local[2], nothing chosen: this interpreter


def test_evaluate_adds_the_verdict(spark):
    policy = Policy.from_nsg(demo_dir() / "client-nsg.json", service_tags="20240610")
    ev = adu_spark.evaluate(adu_spark.read_flow_logs(spark, str(demo_dir() / "flowlogs")), policy)
    rows = ev.where("_file_stats is null").select("access", "rule", "log_rule", "agreement").collect()
    assert {r["access"] for r in rows} == {"Allow", "Deny"}
    assert {r["agreement"] for r in rows} <= {"agree", "disagree_decision", "disagree_rule", "unknown"}

"""adu_fw.spark on a real local Spark (local[2]): the same answers as the single-machine path."""
from __future__ import annotations

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


def _single(paths, policy):
    return analyze(read(paths), policy).to_dict()


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


@pytest.mark.parametrize("which", ["demo", "real-v1"])
def test_analyze_equals_the_single_machine_result(spark, which):
    if which == "demo":
        paths, policy = str(demo_dir() / "flowlogs"), Policy.from_nsg(demo_dir() / "client-nsg.json", service_tags="20240610")
    else:
        from nsgkit import nsg, rule

        paths = str(shared("data", "flowlogs", "sampleOfInputV1.json"))
        policy = Policy.from_nsg(nsg("APPNSG", rule("fe_rule", 100, protocol="Tcp", src="VirtualNetwork", dport="80")),
                                 virtual_network=["10.1.0.0/16"])
    got = adu_spark.analyze(adu_spark.read_flow_logs(spark, paths), policy)
    want = _single(paths, policy)
    for key in ("files", "records", "records_truncated", "tuples_read", "rejected", "rejected_total", "evaluated", "reconciles"):
        assert got["reconciliation"][key] == want["reconciliation"][key], key
    for key in ("agree", "disagree", "decision_disagree", "rule_disagree", "unknown"):
        assert got["agreement"][key] == want["agreement"][key], key
    assert [(r["rule"], r["flows"], r["bytes"]) for r in got["rules"]] == [(r["rule"], r["flows"], r["bytes"]) for r in want["rules"]]


def test_evaluate_adds_the_verdict(spark):
    policy = Policy.from_nsg(demo_dir() / "client-nsg.json", service_tags="20240610")
    ev = adu_spark.evaluate(adu_spark.read_flow_logs(spark, str(demo_dir() / "flowlogs")), policy)
    rows = ev.where("_file_stats is null").select("access", "rule", "log_rule", "agreement").collect()
    assert {r["access"] for r in rows} == {"Allow", "Deny"}
    assert {r["agreement"] for r in rows} <= {"agree", "disagree_decision", "disagree_rule", "unknown"}

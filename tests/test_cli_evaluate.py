"""`adu-fw evaluate`: CSV and Parquet in and out, every row kept, counts reconcile, exit codes."""
from __future__ import annotations

import json

import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from adu_fw.cli import main

from nsgkit import nsg, rule

CSV = """direction,protocol,src_ip,src_port,dst_ip,dst_port
Outbound,tcp,10.0.0.4,5000,20.119.27.200,443
Outbound,tcp,10.0.0.4,5000,20.119.27.200,80
Inbound,6,8.8.8.8,1,10.0.0.4,22
O,udp,10.0.0.4,1,2603:1030:210:11::201,443
sideways,tcp,1.1.1.1,1,1.1.1.1,1
"""


def read_csv(path):
    return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(strings_can_be_null=True))


def _setup(tmp_path):
    (tmp_path / "flows.csv").write_text(CSV)
    (tmp_path / "nsg.json").write_text(json.dumps(nsg("client-nsg",
        rule("adu", 100, "Outbound", protocol="Tcp", dst="AzureDeviceUpdate", dport="443"),
        rule("no-internet", 200, "Outbound", access="Deny", dst="Internet"))))
    return ["--nsg", str(tmp_path / "nsg.json"), "--vnet", "10.0.0.0/16", "--flows", str(tmp_path / "flows.csv")]


def test_evaluate_csv_to_csv(tmp_path, capsys):
    args = _setup(tmp_path)
    code = main(["evaluate", *args, "--out", str(tmp_path / "out.csv"), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1  # one row was rejected
    assert doc["counts"] == {"rows": 5, "allowed": 1, "denied": 2, "rejected": 2, "evaluated": 3}
    out = read_csv(tmp_path / "out.csv")
    assert out.column_names[:6] == ["direction", "protocol", "src_ip", "src_port", "dst_ip", "dst_port"]
    assert out.column("rule").to_pylist() == ["adu", "no-internet", "DenyAllInBound", None, None]
    assert out.column("access").to_pylist() == ["Allow", "Deny", "Deny", None, None]


def test_evaluate_to_parquet_and_back(tmp_path, capsys):
    args = _setup(tmp_path)
    main(["evaluate", *args, "--out", str(tmp_path / "out.parquet")])
    text = capsys.readouterr().out
    assert "5 rows: 3 evaluated (1 allowed, 2 denied), 2 rejected" in text
    t = pq.read_table(tmp_path / "out.parquet")
    assert t.num_rows == 5 and t.column("rule").to_pylist()[0] == "adu"
    # Parquet in: the same answers
    args2 = [a if a != str(tmp_path / "flows.csv") else str(tmp_path / "in.parquet") for a in args]
    pq.write_table(pacsv.read_csv(tmp_path / "flows.csv"), tmp_path / "in.parquet")
    main(["evaluate", *args2, "--out", str(tmp_path / "out2.csv")])
    assert read_csv(tmp_path / "out2.csv").column("rule").to_pylist() == t.column("rule").to_pylist()


def test_evaluate_bad_file_exit_2(tmp_path, capsys):
    args = _setup(tmp_path)
    (tmp_path / "flows.csv").write_text("a,b\n1,2\n")
    code = main(["evaluate", *args, "--out", str(tmp_path / "o.csv")])
    assert code == 2 and "lack column" in capsys.readouterr().err

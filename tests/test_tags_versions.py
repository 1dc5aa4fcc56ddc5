"""Time-aware replay: each flow-log hour with the file in force then; explanations; stale-tags warnings."""
from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pytest

from adu_fw import Policy
from adu_fw.analysis import analyze
from adu_fw.cli import main
from adu_fw.demo import demo_dir
from adu_fw.flowlogs import read
from adu_fw.servicetags import load_cached, resolve_path
from adu_fw.tags import store
from adu_fw.tags.freshness import stale_message
from adu_fw.tags.versions import TagVersions, VersionedPolicy

UTC = dt.timezone.utc
LOGS = str(demo_dir() / "flowlogs")
NSG = str(demo_dir() / "client-nsg.json")


def weeks(tmp_path: Path, *dates: str, names: dict[str, str] | None = None) -> Path:
    d = tmp_path / "weeks"
    d.mkdir(exist_ok=True)
    for date in dates:
        name = (names or {}).get(date, f"ServiceTags_Public_{date}.json")
        shutil.copyfile(resolve_path(date), d / name)
    return d


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def ms(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def test_the_file_in_force_at_each_time(tmp_path):
    v = TagVersions.from_dir(weeks(tmp_path, "20240603", "20240610", "20251028"))
    assert [f.label for f in v.files] == ["20240603", "20240610", "20251028"]
    times = ["2024-06-01T00:00", "2024-06-03T00:00", "2024-06-09T23:59:59.999", "2024-06-10T00:00", "2025-10-27T23:00",
             "2025-10-28T00:00", "2026-12-01T00:00"]
    assert v.index_at(np.array([ms(t) for t in times])).tolist() == [0, 0, 0, 1, 1, 2, 2]
    assert v.at(dt.datetime(2024, 6, 10, 9, tzinfo=UTC)).name == "ServiceTags_Public_20240610.json"


def test_a_folder_of_several_clouds_uses_public_and_names_are_dates(tmp_path):
    d = weeks(tmp_path, "20240603", "20240610")
    (d / "ServiceTags_China_20240605.json").write_bytes(b"{}")
    (d / "notes.txt").write_text("not a version")
    (d / ".ServiceTags_Public_20240611.json.123.abcd.part").write_text("a temporary")
    v = TagVersions.from_dir(d)
    assert [f.name for f in v.files] == ["ServiceTags_Public_20240603.json", "ServiceTags_Public_20240610.json"]
    assert [f.name for f in TagVersions.from_dir(d, cloud="China").files] == ["ServiceTags_China_20240605.json"]
    with pytest.raises(Exception, match="no weekly service-tag files"):
        TagVersions.from_dir(tmp_path / "weeks", cloud="AzureGermany")


def test_replay_of_the_demo_logs_agrees_on_every_tuple_without_until(tmp_path, capsys):
    d = weeks(tmp_path, "20240603", "20240610")
    code, out, err = run(capsys, "analyze", LOGS, "--nsg", NSG, "--service-tags", d, "--json")
    doc = json.loads(out)
    agr, rec = doc["agreement"], doc["reconciliation"]
    assert code == 0, err
    assert agr["disagree"] == 0 and agr["agree"] == rec["evaluated"] == 699 and agr["explanations"] == []
    used = {v["label"]: (v["hour_count"], v["first_hour"], v["tuples"]) for v in doc["service_tag_versions"]}
    assert used == {"20240603": (1, "2024-06-09T23:00:00+00:00", 160),
                    "20240610": (4, "2024-06-10T09:00:00+00:00", 539)}  # 160 + 539 = every evaluated tuple
    assert {p["hour"][:13]: p["service_tags"] for p in doc["timeline"]} == {
        "2024-06-09T23": "20240603", "2024-06-10T09": "20240610", "2024-06-10T10": "20240610",
        "2024-06-10T11": "20240610", "2024-06-10T12": "20240610"}
    assert doc["policy"]["service_tags"]["file"] == "ServiceTags_Public_20240610.json"
    code, out, _ = run(capsys, "analyze", LOGS, "--nsg", NSG, "--service-tags", d)
    assert code == 0 and "agreement with the log: 699 agree, 0 disagree" in out
    assert "service tags by hour (the file in force at each hour):" in out
    assert "  20240603 (ServiceTags_Public_20240603.json, changeNumber 309): 1 hour(s) 2024-06-09T23:00Z, 160 tuple(s)" in out
    assert "  20240610 (ServiceTags_Public_20240610.json, changeNumber 310): 4 hour(s) 2024-06-10T09:00Z .. 2024-06-10T12:00Z" in out
    # a newer file in the folder changes nothing for hours before its date
    weeks(tmp_path, "20251028")
    code, out, _ = run(capsys, "analyze", LOGS, "--nsg", NSG, "--service-tags", d, "--json")
    assert code == 0 and json.loads(out)["agreement"]["disagree"] == 0


def test_each_version_is_built_and_compiled_once(tmp_path):
    d = weeks(tmp_path, "20240603", "20240610")
    built = []

    def build(tags):
        built.append(tags.change_number)
        return Policy.from_nsg(NSG, service_tags=tags)

    vp = VersionedPolicy(TagVersions.from_dir(d), build)
    report = analyze(read(LOGS), vp)
    assert report.disagree == 0 and report.agree == 699 and sorted(built) == [309, 310]
    assert {u["label"]: u["hour_count"] for u in vp.to_dict()} == {"20240603": 1, "20240610": 4}


def test_the_disagreement_explanation(capsys):
    code, out, _ = run(capsys, "analyze", LOGS, "--nsg", NSG, "--service-tags", "20240610", "--json")
    (e,) = json.loads(out)["agreement"]["explanations"]
    assert code == 1
    assert e["text"] == ("36 disagreements are flows to prefixes added to AzureDeviceUpdate in changeNumber 2 (file 20240610); "
                         "the log was written under 20240603")
    assert (e["disagreements"], e["used"], e["log_version"], e["tag"], e["change"], e["changeNumber"], e["side"]) == (
        36, "20240610", "20240603", "AzureDeviceUpdate", "added", 2, "to")
    code, out, _ = run(capsys, "analyze", LOGS, "--nsg", NSG)  # the default, 2025-10-28
    assert ("  36 disagreements are flows to prefixes added to AzureDeviceUpdate in changeNumber 3 (file 20251028); "
            "the log was written under 20240603") in out


def test_a_disagreement_no_version_explains(tmp_path, capsys):
    d = weeks(tmp_path, "20240610", "20251028")  # nothing in force on 2024-06-09: the oldest decides
    code, out, _ = run(capsys, "analyze", LOGS, "--nsg", NSG, "--service-tags", d, "--json")
    doc = json.loads(out)
    assert code == 1 and doc["agreement"]["disagree"] == 36
    assert [e["text"] for e in doc["agreement"]["explanations"]] == [
        "36 disagreement(s) are not explained by another service-tag version (1 neighbouring version(s) tried)"]
    assert doc["service_tag_notes"] == [
        "160 tuple(s) are older than the oldest file (ServiceTags_Public_20240610.json) and were decided by it"]


def test_evaluate_with_a_time_column(tmp_path, capsys):
    d = weeks(tmp_path, "20240603", "20240610")
    flows = tmp_path / "flows.csv"
    adu6 = "2603:1030:210:11::201"
    flows.write_text(
        "time,direction,protocol,src_ip,src_port,dst_ip,dst_port\n"
        f"2024-06-09T23:30:00Z,Outbound,tcp,2001:db8:20:1::7,50000,{adu6},443\n"
        f"2024-06-10T10:00:00Z,Outbound,tcp,2001:db8:20:1::7,50000,{adu6},443\n"
        f",Outbound,tcp,2001:db8:20:1::7,50000,{adu6},443\n"
    )
    out_csv = tmp_path / "out.csv"
    code, out, err = run(capsys, "evaluate", "--nsg", NSG, "--flows", flows, "--out", out_csv, "--service-tags", d, "--json")
    assert code == 0, err
    doc = json.loads(out)
    t = pacsv.read_csv(out_csv)
    assert t.column("access").to_pylist() == ["Deny", "Allow", "Allow"]
    assert [str(v) for v in t.column("service_tags").to_pylist()] == ["20240603", "20240610", "20240610"]
    assert doc["rows_without_time"] == 1
    assert [(u["label"], u["tuples"]) for u in doc["service_tag_versions"]] == [("20240603", 1), ("20240610", 1)]
    epoch = tmp_path / "epoch.csv"  # epoch seconds, as NSG flow-log tuples carry them
    epoch.write_text("time,direction,protocol,src_ip,src_port,dst_ip,dst_port\n"
                     f"1717975800,O,6,2001:db8:20:1::7,50000,{adu6},443\n1718013600,O,6,2001:db8:20:1::7,50000,{adu6},443\n")
    code, out, _ = run(capsys, "evaluate", "--nsg", NSG, "--flows", epoch, "--out", out_csv, "--service-tags", d)
    assert code == 0 and pacsv.read_csv(out_csv).column("access").to_pylist() == ["Deny", "Allow"]
    assert "20240603 (ServiceTags_Public_20240603.json, changeNumber 309): 1 hour(s) 2024-06-09T23:00Z" in out


def test_diff_flows_with_a_folder(tmp_path, capsys):
    d = weeks(tmp_path, "20240603", "20240610")
    code, out, _ = run(capsys, "diff", "--nsg", NSG, "--old-service-tags", "20240610", "--new-service-tags", d,
                       "--flows", LOGS, "--json")
    doc = json.loads(out)
    assert code == 1 and doc["flows_changed"] == 36 and doc["region_count"] == 0
    assert {u["label"]: u["hour_count"] for u in doc["new"]["service_tag_versions"]} == {"20240603": 1, "20240610": 4}
    assert all(f["old"]["access"] == "Allow" and f["new"]["access"] == "Deny" for f in doc["flow_changes"])


def test_stale_messages():
    tags = load_cached("20240603")
    assert stale_message(tags, dt.datetime(2024, 6, 17, 0, tzinfo=UTC)) is None  # 14 days: fine
    msg = stale_message(tags, dt.datetime(2024, 6, 18, 1, tzinfo=UTC))
    assert msg.startswith("the service tags used (ServiceTags_Public_20240603.json, 2024-06-03) are 15 days older than "
                          "the newest flow-log hour (2024-06-18T01:00Z)") and "--service-tags DIR" in msg
    assert stale_message(tags, at=dt.datetime(2024, 9, 1, tzinfo=UTC)) is None  # 90 days
    assert "are 91 days old (today is 2024-09-02)" in stale_message(tags, at=dt.datetime(2024, 9, 2, tzinfo=UTC))


def test_the_stale_warning_with_and_without_a_log(tmp_path, capsys, monkeypatch):
    d = weeks(tmp_path, "20240603", names={"20240603": "ServiceTags_Public_20240520.json"})
    old = d / "ServiceTags_Public_20240520.json"
    code, _, err = run(capsys, "analyze", LOGS, "--nsg", NSG, "--service-tags", old)
    assert ("adu-fw: warning: the service tags used (ServiceTags_Public_20240520.json, 2024-05-20) are 21 days older "
            "than the newest flow-log hour (2024-06-10T12:00Z)") in err
    code, _, err = run(capsys, "analyze", LOGS, "--nsg", NSG, "--service-tags", "20240610")
    assert "warning: the service tags" not in err
    monkeypatch.setenv("ADU_FW_NOW", "2024-06-30")
    flow = ["--direction", "outbound", "--protocol", "tcp", "--src", "10.20.1.4", "--dst", "20.119.27.200", "--dst-port", "443"]
    code, out, err = run(capsys, "check", "--nsg", NSG, *flow, "--service-tags", "20240610")
    assert code == 0 and "warning" not in err and out.splitlines()[-1].startswith("service tags: ServiceTags_Public_20240610.json")
    monkeypatch.setenv("ADU_FW_NOW", "2024-09-09")
    code, _, err = run(capsys, "check", "--nsg", NSG, *flow, "--service-tags", "20240610")
    assert "are 91 days old (today is 2024-09-09)" in err
    monkeypatch.setenv("ADU_FW_NOW", "soon")
    code, _, err = run(capsys, "check", "--nsg", NSG, *flow, "--service-tags", "20240610")
    assert code == 2 and "ADU_FW_NOW must be an ISO date" in err


def test_references_by_date_prefer_public_and_report_ambiguity(tmp_path, monkeypatch):
    d = tmp_path / "store"
    d.mkdir()
    for cloud in ("China", "AzureGovernment"):
        (d / f"ServiceTags_{cloud}_20260720.json").write_text("{}")
    monkeypatch.setenv("ADU_FW_TAGS_DIR", str(d))
    with pytest.raises(Exception, match="names several service-tag files"):
        store.resolve("20260720")
    assert store.resolve("China_20260720").name == "ServiceTags_China_20260720.json"
    (d / "ServiceTags_Public_20260720.json").write_text("{}")
    assert store.resolve("20260720").name == "ServiceTags_Public_20260720.json"
    assert store.resolve("20240610") == resolve_path("20240610")  # embedded
    assert store.default_file().name == "ServiceTags_Public_20260720.json"

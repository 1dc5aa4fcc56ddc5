"""`adu-fw tags ...`: output, --json, exit codes (0 ok, 1 differences, 2 bad input)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from adu_fw.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_lookup_text_and_json(capsys):
    code, out, _ = run(capsys, "tags", "lookup", "20.119.27.200", "10.1.1.1", "--service-tags", "20240610")
    assert code == 0
    assert "AzureDeviceUpdate  20.119.27.192/26" in out
    assert "10.1.1.1: 0 tag(s)" in out
    code, out, _ = run(capsys, "tags", "lookup", "20.119.27.200", "--json", "--service-tags", "20240610")
    doc = json.loads(out)
    assert doc["serviceTags"]["changeNumber"] == 310
    assert doc["results"][0]["tags"][0] == {"name": "AzureDeviceUpdate", "prefix": "20.119.27.192/26"}


def test_lookup_with_older_embedded_file_by_date(capsys):
    code, out, _ = run(capsys, "tags", "lookup", "2603:1030:210:11::201", "--service-tags", "20240603", "--json")
    names = [t["name"] for t in json.loads(out)["results"][0]["tags"]]
    assert code == 0 and "AzureDeviceUpdate" not in names and "AzureCloud" in names


def test_show(capsys):
    code, out, _ = run(capsys, "tags", "show", "azuredeviceupdate", "--service-tags", "20240610")
    assert code == 0 and "name:           AzureDeviceUpdate" in out and "96 IPv4, 58 IPv6" in out
    code, out, _ = run(capsys, "tags", "show", "AzureDeviceUpdate", "--json", "--service-tags", "20240610")
    assert json.loads(out)["changeNumber"] == 2


def test_list_filters(capsys):
    code, out, _ = run(capsys, "tags", "list", "--region", "westeurope", "--feature", "NSG", "--json",
                       "--service-tags", "20240610")
    tags = json.loads(out)["tags"]
    assert code == 0 and tags and all(t["region"] == "westeurope" and "NSG" in t["networkFeatures"] for t in tags)
    code, out, _ = run(capsys, "tags", "list", "--name", "AzureCloud.west*", "--service-tags", "20240610")
    assert "AzureCloud.westeurope" in out and "Storage" not in out


def test_diff_exit_codes_and_json(capsys):
    code, out, _ = run(capsys, "tags", "diff", "20240603", "20240610", "--tag", "AzureDeviceUpdate", "--json")
    doc = json.loads(out)
    assert code == 1
    (adu,) = doc["changedTags"]
    assert (adu["oldChangeNumber"], adu["newChangeNumber"], len(adu["addedPrefixes"])) == (1, 2, 58)
    code, out, _ = run(capsys, "tags", "diff", "20240610", "20240610")
    assert code == 0 and "tags added: 0, removed: 0, changed: 0" in out
    code, out, _ = run(capsys, "tags", "diff", "20240603", "--service-tags", "20240610")  # NEW from --service-tags
    assert code == 1 and "+ MicrosoftCloudAppSecurity.WestUS3" in out


def test_input_errors_exit_2(capsys, tmp_path):
    code, _, err = run(capsys, "tags", "lookup", "999.1.1.1", "--service-tags", "20240610")
    assert code == 2 and "not an IPv4 or IPv6 address: '999.1.1.1'" in err
    code, _, err = run(capsys, "tags", "show", "NoSuchTag", "--service-tags", "20240610")
    assert code == 2 and "unknown service tag 'NoSuchTag'" in err
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    code, _, err = run(capsys, "tags", "list", "--service-tags", str(bad))
    assert code == 2 and "bad.json: malformed JSON" in err
    code, _, err = run(capsys, "tags", "diff", "20240603", "20240610", "--tag", "Nope")
    assert code == 2


def test_usage_error_exit_2():
    with pytest.raises(SystemExit) as exc:
        main(["tags", "frobnicate"])
    assert exc.value.code == 2


def test_console_script_is_installed():
    exe = Path(sys.executable).with_name("adu-fw")
    assert exe.exists(), "the adu-fw console script is installed beside the venv's python"
    res = subprocess.run([str(exe), "tags", "--help"], capture_output=True, text=True, env=os.environ)
    assert res.returncode == 0 and "lookup" in res.stdout


def test_default_is_the_current_embedded_file_and_output_names_it(capsys, monkeypatch):
    monkeypatch.setenv("ADU_FW_NOW", "2026-12-01")
    code, out, err = run(capsys, "tags", "lookup", "20.119.27.200")
    assert code == 0
    assert "service tags: ServiceTags_Public_20251028.json (embedded, the default; Public, changeNumber 375, 2025-10-28)" in out
    assert "are 399 days old (today is 2026-12-01)" in err and "adu-fw tags update" in err
    code, out, _ = run(capsys, "tags", "show", "AzureDeviceUpdate", "--json")
    doc = json.loads(out)
    assert doc["changeNumber"] == 3 and doc["serviceTags"]["file"] == "ServiceTags_Public_20251028.json"
    assert len([p for p in doc["addressPrefixes"] if ":" in p]) == 61


def test_diff_by_date_across_the_embedded_years(capsys):
    code, out, _ = run(capsys, "tags", "diff", "20240610", "20251028", "--tag", "AzureDeviceUpdate", "--json")
    (adu,) = json.loads(out)["changedTags"]
    assert code == 1 and (adu["oldChangeNumber"], adu["newChangeNumber"]) == (2, 3)
    assert len(adu["addedPrefixes"]) == 3 and adu["removedPrefixes"] == []


def test_no_stale_warning_for_a_fresh_file(capsys, monkeypatch):
    monkeypatch.setenv("ADU_FW_NOW", "2025-12-01")  # 34 days after the default's date
    code, _, err = run(capsys, "tags", "lookup", "20.119.27.200")
    assert code == 0 and "warning" not in err
    monkeypatch.setenv("ADU_FW_NOW", "2026-01-27")  # 91 days
    code, _, err = run(capsys, "tags", "lookup", "20.119.27.200")
    assert "are 91 days old" in err

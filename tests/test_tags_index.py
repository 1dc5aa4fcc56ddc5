"""The compiled index cache: the same answers as the file read whole; missing, stale and concurrent builds."""
from __future__ import annotations

import json
import random
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from adu_fw.servicetags import ServiceTags, resolve_path
from adu_fw.tags import index
from adu_fw.tags.index import IndexedServiceTags, index_path, open_tags, sha256_of


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


def _copy(tmp_path: Path, date: str) -> Path:
    p = tmp_path / f"ServiceTags_Public_{date}.json"
    p.write_bytes(resolve_path(date).read_bytes())
    return p


def test_the_index_answers_as_the_file(tmp_path, cache):
    path = _copy(tmp_path, "20240610")
    whole = ServiceTags.load(path)
    first = open_tags(path, cache=cache)  # builds and keeps the index
    assert not isinstance(first, IndexedServiceTags)
    ix = open_tags(path, cache=cache)
    assert isinstance(ix, IndexedServiceTags) and ix.index_file == index_path(sha256_of(path.read_bytes()), cache)
    assert (ix.cloud, ix.change_number, ix.date, ix.shape, ix.source, len(ix), ix.prefix_count) == (
        whole.cloud, whole.change_number, whole.date, whole.shape, whole.source, len(whole), whole.prefix_count)
    assert ix["storage.westeurope"] == whole["Storage.WestEurope"] and ix.get("nope") is None and "AzureCloud" in ix
    assert [t.to_dict() for t in ix] == [t.to_dict() for t in whole]
    assert ix.names() == whole.names()
    for name in ("AzureDeviceUpdate", "AzureCloud", "Storage.WestEurope"):
        for a, b in zip(ix.prefix_arrays(name), whole.prefix_arrays(name)):
            assert np.array_equal(a, b)
    rng = random.Random(18)
    v4 = [f"{rng.choice([4, 13, 20, 40, 52, 104])}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}" for _ in range(3000)]
    v6 = [f"2603:10{rng.randrange(10, 50)}:{rng.randrange(4096):x}:{rng.randrange(32):x}::{rng.randrange(4096):x}" for _ in range(1000)]
    for ip in v4[:300] + v6[:300] + ["20.119.27.200", "2603:1030:210:11::201", "0.0.0.0", "::"]:
        assert ix.match(ip) == whole.match(ip), ip
    assert ix.lookup_many(v4 + v6).to_pylist() == whole.lookup_many(v4 + v6).to_pylist()
    assert ix.select(region="westeurope", feature="NSG") == whole.select(region="westeurope", feature="NSG")
    assert not whole.diff(ix) and not ix.diff(whole)
    old = ServiceTags.load(resolve_path("20240603"))
    assert old.diff(ix).to_dict() | {"new": None} == old.diff(whole).to_dict() | {"new": None}
    with pytest.raises(KeyError, match="did you mean AzureDeviceUpdate"):
        ix["AzureDeviceUpdat"]


def test_missing_and_stale_indexes_are_rebuilt(tmp_path, cache):
    path = _copy(tmp_path, "20240603")
    sha = sha256_of(path.read_bytes())
    ipath = index_path(sha, cache)
    open_tags(path, cache=cache)
    good = ipath.read_bytes()
    assert isinstance(open_tags(path, cache=cache), IndexedServiceTags)

    def damaged(blob: bytes) -> ServiceTags:
        ipath.write_bytes(blob)
        t = open_tags(path, cache=cache)
        assert not isinstance(t, IndexedServiceTags)  # read from the file, and the index written again
        assert ipath.read_bytes() == good and isinstance(open_tags(path, cache=cache), IndexedServiceTags)
        return t

    damaged(good[: len(good) // 2])  # truncated
    damaged(b"")  # empty
    damaged(good[:8] + struct.pack("<I", index.FORMAT + 1) + good[12:])  # another format
    head = json.loads(good[16:16 + struct.unpack_from("<I", good, 12)[0]])
    other = good.replace(head["sha256"].encode(), b"0" * 64, 1)  # built for other content
    damaged(other)
    ipath.unlink()
    assert not isinstance(open_tags(path, cache=cache), IndexedServiceTags) and ipath.exists()


def test_a_changed_file_gets_its_own_index(tmp_path, cache):
    path = _copy(tmp_path, "20240603")
    assert open_tags(path, cache=cache).change_number == 309
    path.write_bytes(resolve_path("20240610").read_bytes())  # same name, other content
    t = open_tags(path, cache=cache)
    assert t.change_number == 310 and len(list((cache / "index").glob("*.idx"))) == 2
    assert isinstance(open_tags(path, cache=cache), IndexedServiceTags)


def test_an_unwritable_cache_only_costs_time(tmp_path):
    path = _copy(tmp_path, "20240603")
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory would be")
    t = open_tags(path, cache=blocker)
    assert t.change_number == 309 and t.lookup("20.119.27.200")[0] == "AzureDeviceUpdate"


_BUILD = """
import sys
from pathlib import Path
from adu_fw.tags.index import open_tags
t = open_tags(Path(sys.argv[1]), cache=Path(sys.argv[2]))
print(type(t).__name__, t.change_number, t.lookup("2603:1030:210:11::201"))
"""


def test_two_processes_building_the_same_index_at_once(tmp_path, cache):
    path = _copy(tmp_path, "20240610")
    procs = [subprocess.Popen([sys.executable, "-c", _BUILD, str(path), str(cache)], stdout=subprocess.PIPE, text=True)
             for _ in range(3)]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert all(o.split(" ", 1)[1].strip() == "310 ['AzureDeviceUpdate', 'AzureCloud.eastus', 'AzureCloud']" for o in outs), outs
    files = sorted(p.name for p in (cache / "index").iterdir())
    assert files == [f"{sha256_of(path.read_bytes())}.idx"]  # one complete index, no temporaries left
    t = open_tags(path, cache=cache)
    assert isinstance(t, IndexedServiceTags) and not t.diff(ServiceTags.load(path))

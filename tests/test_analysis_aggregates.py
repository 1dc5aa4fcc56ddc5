"""The aggregates of `analyze`: the reader's parsed path equals the generic path, and the numpy
helpers are exact where floats would not be."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from adu_fw import analysis
from adu_fw.analysis import KeyCounts, analyze
from adu_fw.flowlogs import read
from adu_fw.policy import Policy

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"


class _Batches:
    """A stream without ``pairs()``: analyze parses the batches itself and reads time/bytes from them."""

    def __init__(self, path: Path) -> None:
        stream = read(path)
        self.batches = list(stream)
        self.stats = stream.stats

    def __iter__(self):
        return iter(self.batches)


def test_parsed_flows_path_equals_generic_path():
    policy = Policy.from_nsg(DEMO / "client-nsg.json", service_tags="20240610")
    fast = analyze(read(DEMO / "flowlogs"), policy).to_dict()
    generic = analyze(_Batches(DEMO / "flowlogs"), policy).to_dict()
    assert fast == generic
    assert fast["reconciliation"]["evaluated"] > 0 and fast["top_talkers"]


def test_key_counts_merge_and_compact(monkeypatch):
    monkeypatch.setattr(KeyCounts, "COMPACT_AT", 3)
    rng = np.random.default_rng(1)
    kc, want = KeyCounts(), Counter()
    for _ in range(6):
        keys = rng.integers(0, 20, 50).astype(np.uint32)
        kc.add(keys)
        want.update(keys.tolist())
    kc.big.update({analysis._V6_KEY + 5: 1000})
    want[analysis._V6_KEY + 5] = 1000
    assert kc.counter() == want
    top = kc.most_common(4)
    assert top[0] == (analysis._V6_KEY + 5, 1000)
    assert [n for _, n in top] == sorted((n for _, n in want.items()), reverse=True)[:4]
    assert analysis._address_text(analysis._V6_KEY + 5) == "::5"


def test_exact_sums_beyond_float_precision():
    groups = np.array([0, 1, 1, 0], np.int64)
    values = np.array([2**61 + 1, 2**61 + 3, 1, 2**61], np.int64)
    assert analysis._exact_sums(groups, values, 2).tolist() == [2**62 + 1, 2**61 + 4]


def test_grouped_dense_and_sparse_keys():
    for keys in (np.array([5, 7, 5, 5]), np.array([5, 10**12, 5, 5])):
        got, (counts, w) = analysis._grouped(keys, np.array([1.0, 2.0, 3.0, 4.0]))
        assert dict(zip(got, zip(counts, w))) == {5: (3, 8), int(keys[1]): (1, 2)}


def test_agreement_by_combination_equals_agreement_by_rows(monkeypatch):
    """Counting each (logged rule, computed rule, decisions) combination once gives what the row masks give."""
    import json

    for tags in ("20240603", "20240610"):  # the older file disagrees with the log on some flows
        policy = Policy.from_nsg(DEMO / "client-nsg.json", service_tags=tags)
        fast = json.dumps(analyze(read(DEMO / "flowlogs"), policy, threads=1).to_dict(), default=str)
        monkeypatch.setattr(analysis, "_COMBINED_MAX", 0)
        rows = json.dumps(analyze(read(DEMO / "flowlogs"), policy, threads=1).to_dict(), default=str)
        monkeypatch.undo()
        assert fast == rows and json.loads(fast)["agreement"]["disagree"] > 0


def test_key_counts_dense_and_sparse_keys_agree_and_ties_go_to_the_smaller_key() -> None:
    """Dense keys are counted by bincount, sparse ones by hash: the same counts, and most_common breaks
    ties by key whatever order the keys arrived in (one batch or many)."""
    dense = np.array([9, 7, 7, 9, 8, 5], np.uint32)  # 7 and 9 tie
    sparse = dense.astype(np.uint64) * np.uint64(1 << 40)
    for keys in (dense, sparse):
        kc = KeyCounts()
        kc.add(keys)
        assert kc.counter() == Counter(keys.tolist())
        assert kc.most_common(1) == [(int(keys[1]), 2)]

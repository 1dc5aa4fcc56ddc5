"""Hostile input for the AVNM admin-rule reader and the Azure Firewall log reader (shared fuzz targets)."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from test_hostile_input import SETTINGS, TARGETS, _seed, mutated


@SETTINGS
@given(mutated(_seed("admin_rules")))
def test_structured_mutations_of_admin_rules(data):
    TARGETS["admin_rules"](data)


def test_structured_mutations_of_firewall_records(tmp_path_factory):
    """Each firewall record of the seed mutated (dropped keys, weird values, nesting), one per line, with good ones."""
    lines = _seed("firewall_log").read_bytes().splitlines()
    d = tmp_path_factory.mktemp("fw")
    for i, line in enumerate(lines):
        one = d / f"r{i}.json"
        one.write_bytes(line)

        @SETTINGS
        @given(mutated(one), st.just(line))
        def run(data, good):
            TARGETS["firewall_log"](data.replace(b"\n", b" ") + b"\n" + good)

        run()


@SETTINGS
@given(st.lists(st.sampled_from(_seed("firewall_log").read_bytes().splitlines()), max_size=8),
       st.lists(st.binary(max_size=40), max_size=3), st.randoms())
def test_firewall_log_lines_shuffled_cut_and_corrupted(lines, junk, rnd):
    lines = list(lines) + junk
    rnd.shuffle(lines)
    data = b"\n".join(lines)
    TARGETS["firewall_log"](data)
    if data:
        TARGETS["firewall_log"](data[: rnd.randrange(len(data))])


@pytest.mark.parametrize("target", ["admin_rules", "firewall_log"])
@given(data=st.binary(max_size=300))
@SETTINGS
def test_random_bytes_and_invalid_utf8(target, data):
    TARGETS[target](data)
    TARGETS[target](b"\xef\xbb\xbf" + data)


@pytest.mark.parametrize("target", ["admin_rules", "firewall_log"])
def test_truncation_at_every_byte_of_a_small_valid_file(target):
    raw = _seed(target).read_bytes()[:1500]
    for cut in range(0, len(raw), 3):
        TARGETS[target](raw[:cut])

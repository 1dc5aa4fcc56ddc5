"""Bad NSG input: every problem is a PolicyError naming NSG, rule and field; lint lists them all."""
from __future__ import annotations

import pytest

from adu_fw import PolicyError
from adu_fw.nsg import load_nsg, read_nsgs
from adu_fw.policy import Policy

from nsgkit import nsg, rule


def problems(*rules):
    (n,) = read_nsgs(nsg("n1", *rules))
    return [str(e) for e in n.errors]


@pytest.mark.parametrize(
    "bad, fld, match",
    [
        (rule("r", 99), "priority", "99 is outside 100-4096"),
        (rule("r", 4097), "priority", "4097 is outside 100-4096"),
        (rule("r", "high"), "priority", "expected an integer"),
        (rule("r", 100, src="10.0.0.0/33"), "sourceAddressPrefix", "'10.0.0.0/33' is not a valid IP address or CIDR"),
        (rule("r", 100, dst="300.1.1.1"), "destinationAddressPrefix", "'300.1.1.1' is not a valid"),
        (rule("r", 100, src="10.0.0.0/8", dst="2001:db8::/32"), "addressPrefixes", "IPv4 and IPv6 prefixes cannot be mixed"),
        (rule("r", 100, src=["10.0.0.0/8", "2001:db8::/32"]), "addressPrefixes", "cannot be mixed"),
        (rule("r", 100, src=["Storage", "Sql"]), "sourceAddressPrefix", "at most one service tag"),
        (rule("r", 100, src=["Storage", "10.0.0.0/8"]), "sourceAddressPrefix", "at most one service tag and nothing else"),
        (rule("r", 100, dport="65536"), "destinationPortRange", "ports are 0-65535"),
        (rule("r", 100, dport="90-80"), "destinationPortRange", "reversed range"),
        (rule("r", 100, sport="http"), "sourcePortRange", "is not a port"),
        (rule("r", 100, protocol="Gre"), "protocol", "'Gre' is not one of"),
        (rule("r", 100, direction="Both"), "direction", "'Both' is not one of"),
        (rule("r", 100, access="Maybe"), "access", "'Maybe' is not one of"),
        (rule("-bad name", 100), "name", "a rule name starts with a word character"),
        (rule("x" * 81, 100), "name", "at most 80 characters"),
        (rule("r", 100, src=None), "sourceAddressPrefix", "missing"),
    ],
)
def test_rule_problems_name_nsg_rule_and_field(bad, fld, match):
    errs = problems(bad)
    assert errs, "expected a problem"
    assert any("NSG 'n1'" in e and f"field '{fld}'" in e and match in e for e in errs), errs
    with pytest.raises(PolicyError, match="NSG 'n1'"):
        load_nsg(nsg("n1", bad))


def test_duplicate_priority_per_direction_and_duplicate_names():
    errs = problems(
        rule("a", 100, "Inbound"),
        rule("b", 100, "Inbound"),
        rule("c", 100, "Outbound"),  # fine: other direction
        rule("A", 200, "Outbound"),  # names are unique case-insensitively
    )
    assert any("rule 'b': field 'priority': priority 100 is already used by 'a' for Inbound" in e for e in errs)
    assert any("rule 'A': field 'name': duplicate rule name 'A'" in e for e in errs)
    assert len(errs) == 2


def test_limits_on_rules_and_prefixes():
    many = [rule(f"r{i}", 100 + i % 3997, "Inbound" if i < 3997 else "Outbound") for i in range(1001)]
    assert any("1001 rules; an NSG holds at most 1000" in e for e in problems(*many))
    wide = [f"10.{i // 256}.{i % 256}.0/24" for i in range(4001)]
    assert any("4001 prefixes; at most 4000 per rule side" in e for e in problems(rule("r", 100, src=wide)))


def test_asg_and_prefix_on_one_side_and_too_many_asgs():
    r = rule("r", 100, src="10.0.0.0/8")
    r["properties"]["sourceApplicationSecurityGroups"] = [{"id": "/x/applicationSecurityGroups/a"}]
    assert any("either address prefixes/tags or application security groups" in e for e in problems(r))
    r = rule("r", 100)
    del r["properties"]["sourceAddressPrefix"]
    r["properties"]["sourceApplicationSecurityGroups"] = [{"id": f"/x/applicationSecurityGroups/a{i}"} for i in range(11)]
    assert any("11 ASGs; at most 10" in e for e in problems(r))


def test_host_bits_are_a_warning_and_the_network_is_used():
    (n,) = read_nsgs(nsg("n1", rule("r", 100, src="10.0.0.1/8", access="Deny")))
    assert not n.errors and "host bits set; evaluated as 10.0.0.0/8" in n.warnings[0]
    p = Policy.from_nsg(n, virtual_network=["192.168.0.0/16"])
    assert p.check("Inbound", "tcp", "10.200.0.1", 1, "192.168.0.4", 1).rule == "r"


def test_all_problems_of_one_rule_are_reported_together():
    errs = problems(rule("r", 5, protocol="Gre", dport="70000", access="Perhaps"))
    assert len(errs) == 4


def test_load_raises_the_first_problem_and_counts_the_rest():
    with pytest.raises(PolicyError, match=r"and 2 more problem\(s\); adu-fw lint lists them all"):
        load_nsg(nsg("n1", rule("a", 1), rule("b", 2), rule("c", 3)))

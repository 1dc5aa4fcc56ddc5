"""The ARM expression language offline: functions as the ARM reference documents them, laziness,
copy loops, user-defined functions, lambdas, the deployment context, and JSON with comments."""
from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adu_fw.arm import ArmContext, Deployment, Unresolved, arm_guid, expand, loads, strip_comments, unique_string
from adu_fw.arm.expr import parse


def ev(text, parameters=None, variables=None, values=None, deployment=None):
    return ArmContext(parameters, variables, values, deployment=deployment).evaluate(text)


def test_unique_string_is_azures():
    # outputs Azure printed for these inputs (quoted in public ARM tooling), and the 13-character shape
    assert unique_string("aaa") == "zavj67f3en4hc"
    assert unique_string("bbb") == "w5eragfxe33cy"
    assert unique_string("zzz") == "cryksdzzzawae"
    assert unique_string("xxx", "yyy", "zzz") == "lghi7k5js7itq"
    assert ev("uniqueString('aaa')") == "zavj67f3en4hc"


def test_guid_is_a_v5_uuid_in_arms_namespace():
    g = ev("guid('a', 'b')")
    assert g == arm_guid("a", "b") == str(uuid.uuid5(uuid.UUID("11fb06fb-712d-4ddd-98c7-e71bbd588830"), "a-b"))
    assert uuid.UUID(g).version == 5 and g != ev("guid('a-b', '')")


@pytest.mark.parametrize("text, expected", [
    ("format('{{0}}-{0}-{1:D3}', 'a', 7)", "{0}-a-007"),
    ("format('{0,5}|{1,-3}|', 'ab', 'c')", "   ab|c  |"),
    ("concat('a', 1, true())", "a1True"),
    ("concat(createArray(1), createArray(2, 3))", [1, 2, 3]),
    ("string(createObject('a', 1))", '{"a":1}'),
    ("replace('a-b-c', '-', '')", "abc"),
    ("split('a,b;c', createArray(',', ';'))", ["a", "b", "c"]),
    ("substring('hello', 1, 3)", "ell"),
    ("padLeft('7', 3, '0')", "007"),
    ("toUpper(toLower('AbC'))", "ABC"),
    ("contains('Hello', 'ELL')", True),
    ("contains(createObject('Key', 1), 'kEY')", True),
    ("contains(createArray('a', 'b'), 'B')", False),
    ("startsWith('Storage.WestEurope', 'storage.')", True),
    ("indexOf(createArray('x', 'y'), 'y')", 1),
    ("lastIndexOf('abcabc', 'BC')", 4),
    ("equals(1, true())", False),
    ("equals(createObject('a', createArray(1)), json('{\"A\": [1]}'))", True),
    ("equals('a', 'A')", False),
    ("div(-7, 2)", -3),
    ("mod(-7, 2)", -1),
    ("add(sub(10, 3), mul(2, 3))", 13),
    ("max(createArray(3, 9, 2))", 9),
    ("min(4, 1)", 1),
    ("range(5, 3)", [5, 6, 7]),
    ("length(range(0, 0))", 0),
    ("union(createObject('a', createObject('x', 1)), createObject('a', createObject('y', 2)))", {"a": {"x": 1, "y": 2}}),
    ("union(createArray(1, 2), createArray(2, 3))", [1, 2, 3]),
    ("intersection(createArray(1, 2, 3), createArray(3, 2))", [2, 3]),
    ("first(createArray())", None),
    ("last('abc')", "c"),
    ("take(createArray(1, 2, 3), 2)", [1, 2]),
    ("skip('abc', 1)", "bc"),
    ("empty(null())", True),
    ("tryGet(createObject('a', createArray(5)), 'a', 0)", 5),
    ("tryGet(createObject('a', 1), 'b')", None),
    ("tryIndexFromEnd(createArray(1, 2), 3)", None),
    ("indexFromEnd(createArray(1, 2), 1)", 2),
    ("items(createObject('b', 2, 'a', 1))", [{"key": "a", "value": 1}, {"key": "b", "value": 2}]),
    ("objectKeys(createObject('a', 1, 'b', 2))", ["a", "b"]),
    ("flatten(createArray(createArray(1), createArray(2, 3)))", [1, 2, 3]),
    ("shallowMerge(createArray(createObject('a', 1), createObject('a', 2, 'b', 3)))", {"a": 2, "b": 3}),
    ("json('null')", None),
    ("bool('TRUE')", True),
    ("int('42')", 42),
    ("base64ToString(base64('héllo'))", "héllo"),
    ("uriComponentToString(uriComponent('a b/c'))", "a b/c"),
    ("uri('https://x.example/a/b', 'c')", "https://x.example/a/c"),
    ("parseCidr('10.144.0.0/20')", {"network": "10.144.0.0", "netmask": "255.255.240.0", "broadcast": "10.144.15.255",
                                     "firstUsable": "10.144.0.1", "lastUsable": "10.144.15.254", "cidr": 20}),
    ("cidrSubnet('10.144.0.0/20', 24, 3)", "10.144.3.0/24"),
    ("cidrSubnet('fdad:3236:5555::/48', 52, 1)", "fdad:3236:5555:1000::/52"),
    ("cidrHost('10.144.3.0/24', 0)", "10.144.3.1"),
    ("cidrHost('fdad:3236:5555:3000::/52', 4)", "fdad:3236:5555:3000::5"),
    ("map(range(1, 3), lambda('i', mul(lambdaVariables('i'), 10)))", [10, 20, 30]),
    ("filter(createArray(1, 2, 3, 4), lambda('i', equals(mod(lambdaVariables('i'), 2), 0)))", [2, 4]),
    ("reduce(createArray(1, 2, 3), 10, lambda('acc', 'x', add(lambdaVariables('acc'), lambdaVariables('x'))))", 16),
    ("sort(createArray(3, 1, 2), lambda('a', 'b', less(lambdaVariables('a'), lambdaVariables('b'))))", [1, 2, 3]),
    ("toObject(createArray('a', 'b'), lambda('k', toUpper(lambdaVariables('k'))))", {"A": "a", "B": "b"}),
    ("environment().suffixes.storage", "core.windows.net"),
    ("createObject('a', 1).A", 1),
    ("createArray(createObject('x', 'y'))[0]['x']", "y"),
])
def test_functions(text, expected):
    assert ev(text) == expected


def test_values_that_decide_nothing_do_not_need_to_be_known():
    # if() evaluates only the branch it takes (ARM documents this); and/or/coalesce stop at a decided value
    assert ev("if(equals(1, 1), 'ok', reference('x').y)") == "ok"
    assert ev("and(false(), reference('x').on)") is False
    assert ev("or(true(), parameters('missing'))") is True
    assert ev("coalesce(null(), 'z', parameters('missing'))") == "z"
    assert ev("createObject('a', resourceGroup().location, 'b', 2).b") == 2
    variables = {"v": {"name": "[parameters('required')]", "prefix": "10.0.0.0/8"}}
    assert ev("variables('v').prefix", {"required": {"type": "string"}}, variables) == "10.0.0.0/8"
    with pytest.raises(Unresolved, match="parameter 'required' has no default value; pass it"):
        ev("variables('v').name", {"required": {"type": "string"}}, variables)
    with pytest.raises(Unresolved, match="pass --location REGION"):
        ev("if(true(), resourceGroup().location, 'x')")


def test_copy_index_loops_and_variable_copies():
    variables = {"copy": [{"name": "ports", "count": 3, "input": "[add(8000, copyIndex('ports', 1))]"}],
                 "nested": {"copy": [{"name": "items", "count": 2, "input": {"i": "[copyIndex('items')]"}}], "kept": 1}}
    assert ev("variables('ports')", variables=variables) == [8001, 8002, 8003]
    assert ev("variables('nested')", variables=variables) == {"items": [{"i": 0}, {"i": 1}], "kept": 1}
    with pytest.raises(Unresolved, match="copyIndex\\(\\) used outside a copy loop"):
        ev("copyIndex()")
    bad = {"copy": [{"name": "x", "count": "[parameters('n')]", "input": 1}]}
    with pytest.raises(Unresolved, match="the count of variable copy 'x' cannot be evaluated: parameter 'n'"):
        ev("variables('x')", {"n": {"type": "int"}}, bad)
    assert ev("variables('x')", {"n": {"type": "int"}}, bad, {"n": "2"}) == [1, 1]  # --param n=2 as text, coerced to int


def test_user_defined_functions_see_only_their_parameters():
    template = {"functions": [{"namespace": "ns", "members": {
        "twice": {"parameters": [{"name": "v", "type": "int"}], "output": {"type": "int", "value": "[mul(parameters('v'), 2)]"}},
        "leaky": {"parameters": [], "output": {"type": "string", "value": "[variables('x')]"}}}}],
        "variables": {"x": "outer"}, "resources": [
        {"type": "Microsoft.Network/networkSecurityGroups", "name": "[concat('n', string(ns.twice(21)))]"}]}
    r = expand(template, ["Microsoft.Network/networkSecurityGroups"]).resources[0]
    assert r.name() == "n42"
    assert "cannot use variables()" in str(r.evaluate("[ns.leaky()]").error)
    assert "not defined in the template's functions" in str(r.evaluate("[ns.nope()]").error)


def test_deployment_context_functions():
    assert ev("resourceGroup().name") == "rg-offline"
    assert ev("subscription().subscriptionId") == "00000000-0000-0000-0000-000000000000"
    dep = Deployment(resource_group="prod", location="westeurope", subscription_id="s1")
    assert ev("resourceGroup().id", deployment=dep) == "/subscriptions/s1/resourceGroups/prod"
    assert ev("resourceGroup().location", deployment=dep) == "westeurope"
    assert ev("resourceId('Microsoft.Network/virtualNetworks/subnets', 'v', 's')", deployment=dep) == \
        "/subscriptions/s1/resourceGroups/prod/providers/Microsoft.Network/virtualNetworks/v/subnets/s"
    assert ev("resourceId('other', 'Microsoft.Network/networkSecurityGroups', 'n')", deployment=dep).startswith(
        "/subscriptions/s1/resourceGroups/other/")
    assert ev("subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'r')", deployment=dep) == \
        "/subscriptions/s1/providers/Microsoft.Authorization/roleDefinitions/r"
    assert ev("extensionResourceId('/x/y', 'Microsoft.Authorization/locks', 'l')") == "/x/y/providers/Microsoft.Authorization/locks/l"
    assert ev("deployment().properties.mode") == "Incremental"
    assert len(ev("newGuid()")) == 36 and ev("utcNow('yyyy')") == "2000"
    with pytest.raises(Unresolved, match="managementGroup"):
        ev("managementGroup().name")


def test_reference_and_list_functions_answer_from_given_values():
    dep = Deployment(references={"pip1.ipAddress": "20.1.2.3", "pip1.dnsSettings.fqdn": "x.example", "st.keys[0].value": "k"})
    assert ev("reference('pip1').ipAddress", deployment=dep) == "20.1.2.3"
    assert ev("reference(resourceId('Microsoft.Network/publicIPAddresses', 'pip1'), '2023-09-01', 'Full').properties.dnsSettings.fqdn",
              deployment=dep) == "x.example"
    assert ev("listKeys('st', '2023-01-01').keys[0].value", deployment=dep) == "k"
    with pytest.raises(Unresolved, match=r"reference\(publicIPAddresses 'pip2'\) .*pass --reference pip2.ipAddress=VALUE"):
        ev("reference(resourceId('Microsoft.Network/publicIPAddresses', 'pip2')).ipAddress")
    with pytest.raises(Unresolved, match=r"pass --reference st2.primaryKey=VALUE"):
        ev("concat('k=', listKeys('st2', '2023-01-01').primaryKey)")


def test_nested_deployment_outputs_are_computed():
    template = {"resources": [
        {"type": "Microsoft.Resources/deployments", "name": "net", "properties": {
            "expressionEvaluationOptions": {"scope": "inner"}, "parameters": {"base": {"value": "10.9"}},
            "template": {"parameters": {"base": {"type": "string"}},
                         "outputs": {"prefix": {"type": "string", "value": "[concat(parameters('base'), '.0.0/16')]"}}}}},
        {"type": "Microsoft.Network/networkSecurityGroups", "name": "n", "properties": {"securityRules": [
            {"name": "r", "properties": {"sourceAddressPrefix":
                                         "[reference(resourceId('Microsoft.Resources/deployments', 'net')).outputs.prefix.value]"}}]}}]}
    r = expand(template, ["Microsoft.Network/networkSecurityGroups"]).resources[0]
    assert r.get("properties")["securityRules"][0]["properties"]["sourceAddressPrefix"] == "10.9.0.0/16"


def test_json_with_comments_and_multiline_strings():
    text = '{\n  // a comment\n  "a": "x // y", /* block\n */ "b": "[concat(\n  \'p\')]"\n}'
    assert loads(text) == {"a": "x // y", "b": "[concat(\n  'p')]"}
    assert strip_comments(text).count("\n") == text.count("\n")  # line numbers survive
    with pytest.raises(json.JSONDecodeError) as e:
        loads('{\n// c\n"a": }')
    assert e.value.lineno == 3
    with pytest.raises(ValueError, match="unterminated /\\* comment"):
        loads('{\n/* open\n"a": 1}')


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="()[],.' abcdeparmtsvil0123456789-_", max_size=60))
def test_the_parser_refuses_cleanly(text):
    try:
        parse(text)
    except Unresolved:
        pass


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=12),
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c, max_size=4), max_leaves=20))
def test_comment_stripping_keeps_json_without_comments(value):
    text = json.dumps(value)
    assert strip_comments(text) == text and loads(text) == value

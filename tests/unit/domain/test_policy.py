"""Routing policy: loading, validation messages, and which rule routes a number."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from byoc.domain.policy import Policy, PolicyError, Route, UnmanagedNumberError
from byoc.domain.policy_file import load_policy

REPO = Path(__file__).resolve().parents[3]

BASE = """
managed:
  prefixes: ["+1415555", "+1628555"]
rules:
  - match: "+14155550"
    genesys: {ivr: Main IVR}
    sbc_tag: main
  - match: ["+14155550100", "+16285550100"]
    genesys: {user: ceo@example.com}
  - match: "+1628555"
    genesys: none
    sbc_tag: park
defaults:
  genesys: {ivr: General Inbound}
  sbc_tag: default
"""


def problems_of(text: str) -> str:
    with pytest.raises(PolicyError) as caught:
        load_policy(text, "policy.yaml")
    return str(caught.value)


def with_rules(rules: str, managed: str = '{prefixes: ["+1415555"]}') -> str:
    return f"managed: {managed}\nrules:\n{rules}\ndefaults: {{genesys: none, sbc_tag: default}}\n"


# --- the shipped example ---------------------------------------------------------------------


def test_example_policy_at_repo_root_loads_and_routes() -> None:
    text = (REPO / "policy.example.yaml").read_text("utf-8")

    policy = load_policy(text, "policy.example.yaml")

    assert policy.is_managed("+14155551234")
    assert {r.genesys.kind for r in policy.rules} == {"ivr", "user", "none"}
    assert policy.route_for("+14155550100").genesys_kind == "user"
    assert policy.route_for("+14155550101").genesys_name == "Main IVR"
    assert policy.route_for("+16285551000").rule_index is None  # defaults


# --- matching --------------------------------------------------------------------------------


def test_most_specific_rule_wins_over_file_order() -> None:
    policy = load_policy(BASE, "policy.yaml")

    route = policy.route_for("+14155550100")

    assert route == Route(
        genesys_kind="user",
        genesys_name="ceo@example.com",
        sbc_tag="default",  # the rule has no tag: defaults.sbc_tag
        rule_index=1,
        matched="+14155550100",
    )


def test_more_specific_rule_wins_even_when_written_later() -> None:
    text = with_rules(
        '  - {match: "+1415", genesys: none, sbc_tag: broad}\n'
        '  - {match: "+14155551", genesys: {ivr: Sales}, sbc_tag: sales}',
        managed='{prefixes: ["+1415"]}',
    )
    policy = load_policy(text, "policy.yaml")

    assert policy.route_for("+14155551000").sbc_tag == "sales"
    assert policy.route_for("+14155559000").sbc_tag == "broad"


def test_prefix_rule_routes_the_numbers_under_it() -> None:
    policy = load_policy(BASE, "policy.yaml")

    route = policy.route_for("+14155550123")

    assert (route.genesys_kind, route.genesys_name, route.sbc_tag) == ("ivr", "Main IVR", "main")
    assert route.matched == "+14155550"


def test_none_target_routes_nowhere_in_genesys() -> None:
    route = load_policy(BASE, "policy.yaml").route_for("+16285551234")

    assert (route.genesys_kind, route.genesys_name, route.sbc_tag) == ("none", None, "park")


def test_managed_number_without_rule_gets_defaults() -> None:
    route = load_policy(BASE, "policy.yaml").route_for("+14155559999")

    assert route == Route("ivr", "General Inbound", "default", None, None)


def test_unmanaged_number_is_not_managed_and_has_no_route() -> None:
    policy = load_policy(BASE, "policy.yaml")

    assert not policy.is_managed("+442071234567")
    with pytest.raises(UnmanagedNumberError, match=r"\+442071234567 is not managed"):
        policy.route_for("+442071234567")


def test_all_on_trunk_manages_every_number() -> None:
    text = "managed: {all_on_trunk: true}\ndefaults: {genesys: none, sbc_tag: t}\n"

    policy = load_policy(text, "policy.yaml")

    assert policy.is_managed("+442071234567")
    assert policy.route_for("+442071234567").sbc_tag == "t"


def test_asking_about_a_non_e164_number_is_an_error() -> None:
    policy = load_policy(BASE, "policy.yaml")

    with pytest.raises(ValueError, match=r"expected E\.164"):
        policy.is_managed("4155550100")


def test_policy_is_immutable() -> None:
    policy = load_policy(BASE, "policy.yaml")

    with pytest.raises(ValueError, match="frozen"):
        policy.rules = ()  # type: ignore[misc]


# --- every kind of invalid field is named ----------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (
            '  - {match: "+1415555", genesys: {user: "bob@"}}',
            "policy.yaml: rules[0].genesys.user: 'bob@' is not a valid email address",
        ),
        (
            '  - {match: "+1415555", genesys: {ivr: " Main"}}',
            "policy.yaml: rules[0].genesys.ivr: ' Main' is not a valid name",
        ),
        (
            '  - {match: "+1415555", genesys: {queue: Sales}}',
            "policy.yaml: rules[0].genesys: {'queue': 'Sales'} is not a Genesys target",
        ),
        (
            '  - {match: "+1415555", genesys: nobody}',
            "policy.yaml: rules[0].genesys: 'nobody' is not a Genesys target",
        ),
        (
            '  - {match: "+1415555", genesys: {ivr: A, user: b@example.com}}',
            "policy.yaml: rules[0].genesys: {'ivr': 'A', 'user': 'b@example.com'} is not a",
        ),
        (
            '  - {match: "+1415555", genesys: none, sbc_tag: "has space"}',
            "policy.yaml: rules[0].sbc_tag: 'has space' is not a valid SBC tag",
        ),
        (
            '  - {match: "+1415555", genesys: none, sbc_tag: abcdefghijklmnopq}',
            "policy.yaml: rules[0].sbc_tag: 'abcdefghijklmnopq' is not a valid SBC tag",
        ),
        (
            '  - {match: "1415555", genesys: none}',
            "policy.yaml: rules[0].match[0]: '1415555' is not an E.164 prefix or number",
        ),
        (
            '  - {match: ["+1415555", "+1 415"], genesys: none}',
            "policy.yaml: rules[0].match[1]: '+1 415' is not an E.164 prefix or number",
        ),
        (
            "  - {match: +14155550100, genesys: none}",
            "policy.yaml: rules[0].match[0]: expected text, got int 14155550100; quote it",
        ),
        (
            "  - {match: [], genesys: none}",
            "policy.yaml: rules[0].match: is empty",
        ),
        (
            "  - {genesys: none}",
            "policy.yaml: rules[0].match: required, but missing",
        ),
        (
            '  - {match: "+1415555", genesys: none, colour: red}',
            "policy.yaml: rules[0].colour: unknown key (value 'red')",
        ),
    ],
)
def test_invalid_rule_field_is_named_with_its_value(rule: str, expected: str) -> None:
    assert expected in problems_of(with_rules(rule))


def test_invalid_managed_and_defaults_fields_are_named() -> None:
    text = (
        'managed: {all_on_trunk: maybe, prefixes: ["+1415555"]}\n'
        "defaults: {genesys: {user: nobody}, sbc_tag: ok}\n"
        "owner: me\n"
    )

    message = problems_of(text)

    assert "policy.yaml: managed.all_on_trunk: expected true or false, got 'maybe'" in message
    assert "policy.yaml: defaults.genesys.user: 'nobody' is not a valid email address" in message
    assert "policy.yaml: owner: unknown key" in message


def test_every_problem_is_listed_not_just_the_first() -> None:
    text = with_rules(
        '  - {match: "+1415555", genesys: {user: "bob@"}}\n'
        '  - {match: "+1415556", genesys: none, sbc_tag: "!"}\n'
        '  - {match: "nope", genesys: {ivr: X}}'
    )

    with pytest.raises(PolicyError) as caught:
        load_policy(text, "policy.yaml")

    paths = [p.path for p in caught.value.problems]
    assert paths == ["rules[0].genesys.user", "rules[1].sbc_tag", "rules[2].match[0]"]
    assert len(str(caught.value).splitlines()) == 3


def test_missing_sections_are_named() -> None:
    message = problems_of("rules: []\n")

    assert "policy.yaml: managed: required, but missing" in message
    assert "policy.yaml: defaults: required, but missing" in message


# --- cross-field problems ----------------------------------------------------------------------


def test_same_prefix_in_two_rules_is_reported_as_duplicate() -> None:
    text = with_rules(
        '  - {match: "+1415555", genesys: none}\n'
        '  - {match: ["+14155551", "+1415555"], genesys: {ivr: Sales}}'
    )

    message = problems_of(text)

    assert (
        "policy.yaml: rules[1].match[1]: '+1415555' is already matched by rules[0].match[0]"
        in message
    )


def test_same_number_twice_in_one_rule_is_reported_as_duplicate() -> None:
    text = with_rules('  - {match: ["+14155550100", "+14155550100"], genesys: none}')

    assert "rules[0].match[1]: '+14155550100' is already matched by rules[0].match[0]" in (
        problems_of(text)
    )


def test_rule_outside_every_managed_prefix_is_reported() -> None:
    text = with_rules('  - {match: "+4420", genesys: none}')

    assert "rules[0].match[0]: '+4420' is outside every managed prefix (+1415555)" in (
        problems_of(text)
    )


def test_broader_rule_overlapping_managed_prefix_is_accepted() -> None:
    text = with_rules('  - {match: "+1", genesys: none, sbc_tag: us}')

    assert load_policy(text, "policy.yaml").route_for("+14155550000").sbc_tag == "us"


def test_managing_nothing_is_an_error() -> None:
    text = "managed: {all_on_trunk: false}\ndefaults: {genesys: none, sbc_tag: t}\n"

    assert "policy.yaml: managed: manages no numbers" in problems_of(text)


def test_all_on_trunk_with_prefixes_is_an_error() -> None:
    text = (
        'managed: {all_on_trunk: true, prefixes: ["+1"]}\ndefaults: {genesys: none, sbc_tag: t}\n'
    )

    assert "policy.yaml: managed.prefixes: ['+1'] would be ignored" in problems_of(text)


def test_duplicate_managed_prefix_is_an_error() -> None:
    text = with_rules("  []", managed='{prefixes: ["+1415555", "+1628", "+1415555"]}')
    text = text.replace("rules:\n  []", "rules: []")

    assert "managed.prefixes[2]: '+1415555' is listed twice (first at managed.prefixes[0])" in (
        problems_of(text)
    )


def test_direct_construction_also_refuses_conflicts() -> None:
    with pytest.raises(ValueError, match="manages no numbers"):
        Policy.model_validate({"managed": {}, "defaults": {"genesys": "none", "sbc_tag": "t"}})


# --- YAML itself ---------------------------------------------------------------------------------


def test_yaml_syntax_error_gives_line_and_column() -> None:
    text = 'managed:\n  prefixes: ["+1415555"\ndefaults: {}\n'

    message = problems_of(text)

    assert message.startswith("policy.yaml: line 3, column 1: invalid YAML")


def test_key_written_twice_is_refused_with_its_line() -> None:
    text = BASE + "defaults: {genesys: none, sbc_tag: other}\n"

    message = problems_of(text)

    assert "line 16, column 1" in message
    assert "key 'defaults' is written twice" in message


def test_empty_or_non_mapping_policy_is_refused() -> None:
    assert "policy.yaml: is empty" in problems_of("")
    assert "expected a mapping with managed, rules and defaults" in problems_of("- a\n- b\n")


# --- property: the chosen rule is the one with the longest matching pattern -------------------

digits = st.text(alphabet="0123456789", min_size=0, max_size=4)


@settings(max_examples=60, deadline=None)
@given(
    patterns=st.lists(digits, min_size=1, max_size=6, unique=True),
    tail=st.text(alphabet="0123456789", min_size=7, max_size=7),
)
def test_route_uses_the_longest_matching_pattern(patterns: list[str], tail: str) -> None:
    prefixes = [f"+1415{p}" for p in patterns]
    rules = "\n".join(
        f'  - {{match: "{p}", genesys: none, sbc_tag: r{i}}}' for i, p in enumerate(prefixes)
    )
    policy = load_policy(with_rules(rules, managed='{prefixes: ["+1415"]}'), "policy.yaml")
    number = f"+1415{tail}"

    route = policy.route_for(number)

    matching = [p for p in prefixes if number.startswith(p)]
    if matching:
        longest = max(matching, key=len)
        assert route.matched == longest
        assert route.sbc_tag == f"r{prefixes.index(longest)}"
    else:
        assert route.rule_index is None


# --- routing in bulk -------------------------------------------------------------------------

BULK = """
managed:
  prefixes: ["+1415555", "+1628555", "+4420"]
rules:
  - {match: "+14155550", genesys: {ivr: Main IVR}, sbc_tag: main}
  - {match: ["+14155550100", "+16285550100"], genesys: {user: ceo@example.com}}
  - {match: "+1628555", genesys: none, sbc_tag: park}
  - {match: "+442071", genesys: {ivr: London}, sbc_tag: london}
  - {match: "+4420718", genesys: none, sbc_tag: london-park}
defaults: {genesys: {ivr: General Inbound}, sbc_tag: default}
"""
# Managed prefixes longer than every rule: the rule cannot say which numbers are managed.
BROAD_RULES = """
managed:
  prefixes: ["+1415555", "+4420"]
rules:
  - {match: "+1415", genesys: {ivr: Main IVR}, sbc_tag: main}
defaults: {genesys: none, sbc_tag: default}
"""

_BULK_NUMBERS = st.one_of(
    st.integers(0, 1200).map(lambda v: f"+1415555{v:04d}"),
    st.integers(0, 300).map(lambda v: f"+1628555{v:04d}"),
    st.integers(0, 99999).map(lambda v: f"+44207{v:05d}"),
    st.integers(0, 999).map(lambda v: f"+4420{v:03d}"),  # shorter than the London rules
    st.integers(0, 999).map(lambda v: f"+1212555{v:04d}"),  # not managed
    st.integers(0, 999).map(lambda v: f"+1415554{v:04d}"),  # not managed, next to managed ones
)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.lists(_BULK_NUMBERS, unique=True, max_size=80), st.booleans(),
       st.sampled_from([BULK, BROAD_RULES]))
def test_routing_in_bulk_matches_routing_each_number(
    numbers: list[str], ordered: bool, text: str
) -> None:
    policy = load_policy(text, "policy.yaml")
    if ordered:
        numbers.sort()

    routed = policy.route_numbers(numbers)

    expected = {n: policy.route_for(n) for n in numbers if policy.is_managed(n)}
    assert routed.routes == expected
    assert list(routed.routes) == [n for n in numbers if n in expected]  # the order given
    grouped: dict[object, list[str]] = {}
    for number, route in expected.items():
        grouped.setdefault(route, []).append(number)
    assert routed.by_route == grouped


@pytest.mark.parametrize("bad", ["+14155550100\n", "+1415555\n0100", "14155550100", "+0123456789"])
def test_routing_in_bulk_names_a_number_that_is_not_e164(bad: str) -> None:
    policy = load_policy(BULK, "policy.yaml")
    with pytest.raises(ValueError, match=r"expected E\.164"):
        policy.route_numbers(["+14155550101", bad, "+14155550102"])

"""The rules behind the hostile corpus (tests/hostile_stacks), one by one: template
variables by declaration, network sources by meaning, YAML read with bounds, and the
program's own bound on a config value nested too deeply."""

from __future__ import annotations

import ipaddress
import json

import pulumi
import pytest
from program_mocks import Recorded, run_program

from offline.yaml_load import MAX_BYTES, MAX_DEPTH, MAX_VALUES, StackYamlError, load_yaml
from vmimage.azure.nsg_sources import (
    internet_exposure,
    parse_source,
    port_range_covers,
    public_addresses,
)
from vmimage.scripts.declarations import (
    DeclarationError,
    Variable,
    declaration_of,
    parse_declaration,
)
from vmimage.scripts.render import TEMPLATES_DIR

# -- template variables -------------------------------------------------------------------


def test_every_built_in_template_declares_its_variables() -> None:
    templates = sorted(p.relative_to(TEMPLATES_DIR).as_posix()
                       for p in TEMPLATES_DIR.rglob("*.j2"))
    assert len(templates) >= 7
    for template in templates:
        declared = declaration_of(str(TEMPLATES_DIR), template)
        assert declared is not None, template
        for variable in declared.variables.values():
            assert variable.description, f"{template}: {variable.name} is not described"


@pytest.mark.parametrize(("kind", "value", "problem"), [
    ("list", "nginx", "expected a list of strings, got a string"),
    ("list", [1], "item 0: expected a string, got a number"),
    ("list", None, "expected a list of strings, got null"),
    ("int", "5", "expected a whole number, got a string"),
    ("int", True, "expected a whole number, got a boolean"),
    ("bool", "yes", "expected true or false, got a string"),
    ("str", "two\nlines", "expected one line, got several"),
    ("text", "a\x00b", "contains a NUL character"),
])
def test_variables_take_values_as_they_are(kind: str, value: object, problem: str) -> None:
    assert Variable("v", kind, required=True).problems(value) == [problem]


@pytest.mark.parametrize(("kind", "value"), [
    ("list", ["a", "b"]), ("int", 0), ("bool", False), ("str", "x"), ("text", "a\nb")])
def test_variables_accept_their_type(kind: str, value: object) -> None:
    assert Variable("v", kind).problems(value) == []


def test_declaration_names_each_problem_with_its_key_path() -> None:
    declared = parse_declaration("t.j2", "{#- vars:\n  packages: {type: list, required: true,"
                                 " description: names}\n-#}\nbody")
    assert declared is not None
    assert declared.problems({"pakages": ["x"], "os": "evil"}, "b.vars") == [
        "b.vars.pakages: t.j2 takes no such variable (it takes: packages); "
        "did you mean 'packages'?",
        "b.vars.os: set by vmimage for every template; remove it",
        "b.vars.packages: required by t.j2 (names)",
    ]


@pytest.mark.parametrize("source", [
    "{#- vars: [a, b] -#}",
    "{#- vars:\n  x: {type: float}\n-#}",
    "{#- vars:\n  vm_name: {type: str}\n-#}",
    "{#- vars:\n  x: {type: str, colour: red}\n-#}",
    "{#- vars: {x: [ -#}",
])
def test_a_malformed_declaration_is_the_template_s_fault(source: str) -> None:
    with pytest.raises(DeclarationError, match="t.j2"):
        parse_declaration("t.j2", source)


def test_a_template_without_a_declaration_has_none() -> None:
    assert parse_declaration("t.j2", "#!/bin/bash\n{# vars: not at the top #}") is None


# -- network sources by meaning ----------------------------------------------------------


@pytest.mark.parametrize("text", ["internet", "INTERNET", "Internet", "*", "any", " Any "])
def test_internet_tags_in_any_case(text: str) -> None:
    assert parse_source(text).is_internet


@pytest.mark.parametrize(("text", "hint"), [
    ("everyone", None), ("10.0.0.0/33", None), ("10.0.0.1/8", None),
    ("VirtualNetwrok", "VirtualNetwork"), ("1O.0.0.0/8", None), ("１0.0.0.0/8", None)])
def test_garbage_sources_are_refused(text: str, hint: str | None) -> None:
    with pytest.raises(ValueError) as raised:
        parse_source(text)
    assert repr(text) in str(raised.value)
    if hint:
        assert f"did you mean {hint!r}" in str(raised.value)


@pytest.mark.parametrize(("sources", "exposed"), [
    (["0.0.0.0/0"], True),
    (["0.0.0.0/1", "128.0.0.0/1"], True),
    (["::/0"], True),
    (["2000::/3"], True),
    (["10.0.0.0/8", "192.168.0.0/16", "172.16.0.0/12"], False),  # private: not the internet
    (["203.0.113.7/32"], False),
    (["VirtualNetwork", "AzureLoadBalancer"], False),
    (["2001:db8::/32"], False),  # documentation range
    ([f"32.{i * 64}.0.0/10" for i in range(3)], False),
    ([f"32.{i * 64}.0.0/10" for i in range(4)], True),  # a /8's worth, together
])
def test_exposure_is_judged_on_the_union(sources: list[str], exposed: bool) -> None:
    assert (internet_exposure(parse_source(s) for s in sources) is not None) == exposed


def test_public_addresses_leave_out_private_and_reserved_space() -> None:
    everything = [ipaddress.ip_network("0.0.0.0/0")]
    assert 3_600_000_000 < public_addresses(everything, 4) < 2**32
    assert public_addresses([ipaddress.ip_network("10.0.0.0/8")], 4) == 0


@pytest.mark.parametrize(("spec", "port", "covers"), [
    ("22", 22, True), ("20-25", 22, True), ("*", 3389, True), ("23-3388", 22, False),
    ("23-3388", 3389, False), ("٢٢", 22, False), ("x", 22, False)])
def test_port_ranges(spec: str, port: int, covers: bool) -> None:
    assert port_range_covers(spec, port) == covers


# -- YAML read with bounds ----------------------------------------------------------------


def test_an_alias_bomb_is_refused_before_it_is_expanded() -> None:
    lines = ["a0: &a0 [x]"] + [
        f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    with pytest.raises(StackYamlError, match="alias bomb"):
        load_yaml("\n".join(lines))


def test_many_aliases_within_the_bound_are_fine() -> None:
    text = "base: &b {size: Standard_B2s}\nclones: [" + ", ".join(["*b"] * 100) + "]"
    assert len(load_yaml(text)["clones"]) == 100
    assert MAX_VALUES >= 10_000


def test_depth_is_bounded_whether_or_not_python_could_read_it() -> None:
    shallow = "a: " + "[" * (MAX_DEPTH - 2) + "]" * (MAX_DEPTH - 2)
    load_yaml(shallow)
    for depth in (MAX_DEPTH + 1, 5000):
        with pytest.raises(StackYamlError, match=f"deeper than {MAX_DEPTH}"):
            load_yaml("a: " + "[" * depth + "]" * depth)


def test_size_is_bounded() -> None:
    with pytest.raises(StackYamlError, match="bytes"):
        load_yaml("a: '" + "x" * MAX_BYTES + "'")


def test_a_recursive_alias_is_refused() -> None:
    with pytest.raises(StackYamlError, match="line 2: a value contains itself"):
        load_yaml("ok: 1\nloop: &l {self: *l}\n")
    with pytest.raises(StackYamlError, match="a value contains itself"):
        load_yaml("ok: 1\nloop: &l [*l]\n")  # a list is built before it is walked


def test_merge_keys_merge_and_explicit_keys_win() -> None:
    document = load_yaml("base: &b {count: 3, size: S}\nclone:\n  <<: *b\n  count: 5\n")
    assert document["clone"] == {"count": 5, "size": "S"}


def test_a_key_given_twice_is_still_refused_next_to_a_merge() -> None:
    with pytest.raises(Exception, match="given twice"):
        load_yaml("base: &b {a: 1}\nclone:\n  <<: *b\n  count: 5\n  count: 6\n")


def test_dates_stay_text_so_the_spec_names_the_key() -> None:
    assert load_yaml("endOfLife: 2027-02-30\nok: 2027-02-28") == {
        "endOfLife": "2027-02-30", "ok": "2027-02-28"}


# -- the program's own bound --------------------------------------------------------------


def test_the_program_refuses_a_pipeline_nested_too_deeply_for_python() -> None:
    """The Pulumi CLI reads stack files up to 10,000 levels deep; Python's JSON reader
    stops near 1,000. Such a pipeline is refused by name, not with a RecursionError."""
    deep = "[" * 5000 + "]" * 5000
    json.loads("[" * 100 + "]" * 100)  # shallow is fine: the bound is the reader's
    recorded = Recorded()
    with pytest.raises(pulumi.RunError) as raised:
        run_program({"azure-native:location": "westeurope", "vmimage:pipeline": deep},
                    recorded=recorded)
    assert "vmimage:pipeline: nests too deeply" in str(raised.value)
    assert recorded.new_resource_calls == 0




def test_the_program_names_a_pipeline_that_is_text() -> None:
    recorded = Recorded()
    with pytest.raises(pulumi.RunError) as raised:
        run_program({"azure-native:location": "westeurope", "vmimage:pipeline": "x" * 500},
                    recorded=recorded)
    message = str(raised.value)
    assert "vmimage:pipeline: expected a mapping, got the text 'xxxx" in message
    assert "x" * 100 not in message and recorded.new_resource_calls == 0

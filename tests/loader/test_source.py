"""runtime.loader.source: YAML with positions, YAML 1.2 scalars, and load errors as Diagnostics."""

from __future__ import annotations

import pytest

from runtime.loader.source import Position, SourceMap, YamlLoadError, parse_yaml


def load_errors(text: str) -> list[str]:
    with pytest.raises(YamlLoadError) as caught:
        parse_yaml(text, "f.yaml")
    return [str(d) for d in caught.value.diagnostics]


# -- positions ------------------------------------------------------------------------------

NESTED = """\
flow: orders
steps:
  - id: reserve
    call: wms.reserve
    with: { sku: 'A-1', note: "two words", qty: 2 }
  - id: loop
    for_each: data.lines
    matrix: [[1, 2], [3, [4, 5]]]
note: |
  line one
"""


def test_values_and_keys_keep_one_based_line_and_column() -> None:
    doc = parse_yaml(NESTED, "flows/orders.yaml")
    values, keys = doc.source_map.values, doc.source_map.keys
    assert doc.source_map.file == "flows/orders.yaml"
    assert values[()] == Position(1, 1)
    assert values[("flow",)] == Position(1, 7)
    assert keys[("flow",)] == Position(1, 1)
    assert keys[("steps",)] == Position(2, 1)
    assert values[("steps",)] == Position(3, 3)
    assert values[("steps", 0)] == Position(3, 5)
    assert keys[("steps", 0, "id")] == Position(3, 5)
    assert values[("steps", 0, "id")] == Position(3, 9)
    assert keys[("steps", 0, "call")] == Position(4, 5)
    assert values[("steps", 0, "call")] == Position(4, 11)
    assert values[("steps", 0, "with")] == Position(5, 11)
    assert keys[("steps", 0, "with", "sku")] == Position(5, 13)
    assert values[("steps", 1)] == Position(6, 5)
    assert values[("steps", 1, "for_each")] == Position(7, 15)


def test_quote_style_is_recorded_and_the_position_is_the_opening_quote() -> None:
    values = parse_yaml(NESTED, "f.yaml").source_map.values
    assert values[("steps", 0, "with", "sku")] == Position(5, 18, "'")
    assert values[("steps", 0, "with", "note")] == Position(5, 31, '"')
    assert values[("steps", 0, "with", "qty")] == Position(5, 49, None)
    assert values[("steps", 0, "call")].style is None
    assert values[("note",)] == Position(9, 7, "|")


def test_positions_of_nested_list_items() -> None:
    doc = parse_yaml(NESTED, "f.yaml")
    values = doc.source_map.values
    assert doc.data["steps"][1]["matrix"] == [[1, 2], [3, [4, 5]]]
    assert values[("steps", 1, "matrix")] == Position(8, 13)
    assert values[("steps", 1, "matrix", 0)] == Position(8, 14)
    assert values[("steps", 1, "matrix", 0, 1)] == Position(8, 18)
    assert values[("steps", 1, "matrix", 1)] == Position(8, 22)
    assert values[("steps", 1, "matrix", 1, 1)] == Position(8, 26)
    assert values[("steps", 1, "matrix", 1, 1, 0)] == Position(8, 27)


def test_data_is_plain_json_with_block_scalars_kept_verbatim() -> None:
    doc = parse_yaml(NESTED, "f.yaml")
    assert doc.data["steps"][0] == {
        "id": "reserve",
        "call": "wms.reserve",
        "with": {"sku": "A-1", "note": "two words", "qty": 2},
    }
    assert doc.data["note"] == "line one\n"


def test_value_at_falls_back_to_the_nearest_existing_ancestor() -> None:
    source_map = parse_yaml(NESTED, "f.yaml").source_map
    assert source_map.value_at(("steps", 0, "with", "missing", 3)) == Position(5, 11)
    assert source_map.value_at(("nowhere",)) == Position(1, 1)
    # key_at prefers the key, and falls back to the value for list items
    assert source_map.key_at(("steps", 0, "call")) == Position(4, 5)
    assert source_map.key_at(("steps", 1)) == Position(6, 5)


def test_source_map_diagnostic_formats_path_and_position() -> None:
    source_map = parse_yaml(NESTED, "flows/orders.yaml").source_map
    at_value = source_map.diagnostic(("steps", 0, "call"), "x.code", "bad call", "fix it")
    at_key = source_map.diagnostic(("steps", 0, "call"), "x.code", "bad call", at_key=True)
    shifted = source_map.diagnostic(
        ("steps", 0, "call"), "x.code", "bad", col_offset=4, line_offset=1
    )
    assert (
        str(at_value) == "flows/orders.yaml:4:11: steps[0].call: bad call (hint: fix it) [x.code]"
    )
    assert str(at_key) == "flows/orders.yaml:4:5: steps[0].call: bad call [x.code]"
    assert (shifted.line, shifted.col) == (5, 15)
    assert (
        str(SourceMap("a.yaml").diagnostic((), "x.y", "empty"))
        == "a.yaml:1:1: (document): empty [x.y]"
    )


# -- scalars: YAML 1.2, plain JSON data --------------------------------------------------------


def test_yaml_1_1_booleans_stay_strings_and_on_stays_a_key() -> None:
    doc = parse_yaml("on: yes\nb: no\nc: On\nd: off\ne: y\nf: Yes\n", "f.yaml")
    assert doc.data == {"on": "yes", "b": "no", "c": "On", "d": "off", "e": "y", "f": "Yes"}


@pytest.mark.parametrize(
    ("text", "value"),
    [("true", True), ("false", False), ("True", True), ("FALSE", False), ("'true'", "true")],
)
def test_true_and_false_are_booleans(text: str, value: object) -> None:
    assert parse_yaml(f"a: {text}\n", "f.yaml").data == {"a": value}


def test_dates_and_timestamps_stay_strings() -> None:
    doc = parse_yaml("d: 2024-01-31\nt: 2024-01-31T10:00:00Z\n", "f.yaml")
    assert doc.data == {"d": "2024-01-31", "t": "2024-01-31T10:00:00Z"}


def test_numbers_null_and_strings() -> None:
    doc = parse_yaml("i: 12\nf: 1.5\nn: null\nt: ~\ne:\ns: '12'\nneg: -3\n", "f.yaml")
    assert doc.data == {"i": 12, "f": 1.5, "n": None, "t": None, "e": None, "s": "12", "neg": -3}
    assert isinstance(doc.data["i"], int) and isinstance(doc.data["f"], float)


def test_yaml_1_1_sexagesimal_numbers_stay_strings() -> None:
    # YAML 1.1 reads 10:30 as 630 (base 60); YAML 1.2 and every analyst read a string
    assert parse_yaml("at: 10:30\ndelay: 1:30:00\n", "f.yaml").data == {
        "at": "10:30",
        "delay": "1:30:00",
    }


def test_a_lone_equals_sign_is_a_string() -> None:
    # YAML 1.1 has a `value` type for `=` that no constructor handles; it must not crash
    assert parse_yaml("op: =\n", "f.yaml").data == {"op": "="}


def test_non_string_keys_become_their_json_text() -> None:
    assert parse_yaml("1: a\ntrue: b\n1.5: c\n", "f.yaml").data == {
        "1": "a",
        "true": "b",
        "1.5": "c",
    }


def test_merge_keys_are_resolved() -> None:
    doc = parse_yaml("base: &b { p: 1, q: 2 }\nother:\n  <<: *b\n  q: 3\n", "f.yaml")
    assert doc.data["other"] == {"p": 1, "q": 3}


# -- empty documents ---------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty_document_is_none_at_line_one(text: str) -> None:
    doc = parse_yaml(text, "f.yaml")
    assert doc.data is None
    assert doc.source_map.values == {(): Position(1, 1)}
    assert doc.source_map.keys == {}


# -- errors ------------------------------------------------------------------------------------


def test_duplicate_key_points_at_the_second_key_and_names_the_first_line() -> None:
    assert load_errors("a: 1\nb: 2\na: 3\n") == [
        "f.yaml:3:1: a: duplicate key 'a' (first defined at line 1) "
        "(hint: a key may appear once per mapping; merge the two entries) [yaml.duplicate_key]"
    ]


def test_every_duplicate_key_is_reported_nested_ones_too() -> None:
    text = "steps:\n  - id: a\n    call: x.y\n    id: b\n  - id: c\n    with: { k: 1, k: 2 }\nsteps: []\n"
    assert load_errors(text) == [
        "f.yaml:4:5: steps[0].id: duplicate key 'id' (first defined at line 2) "
        "(hint: a key may appear once per mapping; merge the two entries) [yaml.duplicate_key]",
        "f.yaml:6:19: steps[1].with.k: duplicate key 'k' (first defined at line 6) "
        "(hint: a key may appear once per mapping; merge the two entries) [yaml.duplicate_key]",
        "f.yaml:7:1: steps: duplicate key 'steps' (first defined at line 1) "
        "(hint: a key may appear once per mapping; merge the two entries) [yaml.duplicate_key]",
    ]


SYNTAX_HINT = "(hint: check indentation and quoting; a value containing ': ' or '#' needs quotes) [yaml.syntax]"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: b: c\n", "f.yaml:1:5: YAML syntax error: mapping values are not allowed here"),
        (
            "a: [1, 2\nb: 3\n",
            "f.yaml:2:2: YAML syntax error: expected ',' or ']', but got ':' (while parsing a flow sequence)",
        ),
        ("a: 1\n  b: 2\n", "f.yaml:2:4: YAML syntax error: mapping values are not allowed here"),
        (
            "a: 'open\n",
            "f.yaml:2:1: YAML syntax error: found unexpected end of stream (while scanning a quoted scalar)",
        ),
        (
            "\tx: 1\n",
            "f.yaml:1:1: YAML syntax error: found character '\\t' that cannot start any token "
            "(while scanning for the next token)",
        ),
    ],
)
def test_syntax_errors_have_a_position(text: str, expected: str) -> None:
    assert load_errors(text) == [f"{expected} {SYNTAX_HINT}"]


def test_a_second_document_is_a_syntax_error_that_reads_well() -> None:
    assert load_errors("a: 1\n---\nb: 2\n") == [
        f"f.yaml:2:1: YAML syntax error: expected a single document in the stream, but found another document {SYNTAX_HINT}"
    ]


UNSUPPORTED_HINT = "(hint: use plain strings, numbers, booleans, null, lists and mappings) [yaml.unsupported_value]"


def test_binary_is_unsupported() -> None:
    assert load_errors("a: 1\nb: [x, !!binary aGVsbG8=]\n") == [
        f"f.yaml:2:8: b[1]: unsupported YAML value of type bytes {UNSUPPORTED_HINT}"
    ]


def test_explicit_timestamp_is_unsupported() -> None:
    assert load_errors("a: !!timestamp 2024-01-01\n") == [
        f"f.yaml:1:4: a: unsupported YAML value of type date {UNSUPPORTED_HINT}"
    ]


def test_set_is_unsupported() -> None:
    assert load_errors("a: !!set {x, y}\n") == [
        f"f.yaml:1:4: a: unsupported YAML value of type set {UNSUPPORTED_HINT}"
    ]


@pytest.mark.parametrize("tag", ["!custom", "!!python/object:os.system"])
def test_unknown_tags_are_unsupported_not_a_crash(tag: str) -> None:
    assert load_errors(f"a: 1\nb: {tag} x\n") == [
        f"f.yaml:2:4: b: unsupported YAML tag '{tag.replace('!!', 'tag:yaml.org,2002:')}' {UNSUPPORTED_HINT}"
    ]


def test_all_unsupported_values_and_duplicates_are_reported_together() -> None:
    errors = load_errors("a: !!binary aGk=\nb: 1\nb: 2\n")
    assert [e.rsplit("[", 1)[1] for e in errors] == [
        "yaml.unsupported_value]",
        "yaml.duplicate_key]",
    ]


def test_explicit_core_tags_are_fine() -> None:
    assert parse_yaml("a: !!str 1\nb: !!int '3'\nc: !!float 2\n", "f.yaml").data == {
        "a": "1",
        "b": 3,
        "c": 2.0,
    }

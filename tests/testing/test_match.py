"""Payload comparison: equal, subset, the diff shown, and JSON merge patch."""

from __future__ import annotations

import pytest

from runtime.testing._match import diff, matches, merge_patch, same_value


@pytest.mark.parametrize(
    ("expected", "actual", "mode", "ok"),
    [
        ({"a": 1}, {"a": 1, "b": 2}, "subset", True),
        ({"a": 1}, {"a": 1, "b": 2}, "equal", False),
        ({"a": {"b": 1}}, {"a": {"b": 1, "c": 2}}, "subset", True),
        ({"a": None}, {}, "subset", False),  # a key given as null must be there
        ([{"a": 1}], [{"a": 1, "z": 0}], "subset", True),
        ([{"a": 1}], [{"a": 1}, {"a": 2}], "subset", False),  # lists keep their length
        (1, 1.0, "equal", True),
        (True, 1, "equal", False),
        ("1", 1, "subset", False),
        ([], [], "equal", True),
    ],
)
def test_matches(expected: object, actual: object, mode: str, ok: bool) -> None:
    assert matches(expected, actual, mode) is ok


def test_same_value_is_json_equality() -> None:
    assert same_value({"a": [1, 2.0]}, {"a": [1.0, 2]})
    assert not same_value({"a": False}, {"a": 0})


def test_a_subset_diff_leaves_out_keys_the_expectation_does_not_name() -> None:
    text = diff({"id": "X"}, {"id": "Y", "noise": [1, 2, 3]}, "subset")
    assert text == (
        "--- expected\n"
        "+++ actual (keys not expected are left out)\n"
        "@@ -1,3 +1,3 @@\n"
        " {\n"
        '-  "id": "X"\n'
        '+  "id": "Y"\n'
        " }"
    )


def test_merge_patch_follows_rfc_7386() -> None:
    target = {"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]}
    patch = {"a": "z", "c": {"f": None}, "l": [3], "n": {"x": 1}}
    assert merge_patch(target, patch) == {"a": "z", "c": {"d": "e"}, "l": [3], "n": {"x": 1}}
    assert target["c"] == {"d": "e", "f": "g"}  # the original is untouched

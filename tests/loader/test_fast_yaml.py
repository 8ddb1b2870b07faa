"""libyaml composes the documents when available; the result must be exactly the pure loader's."""

from __future__ import annotations

import pytest
import yaml

from runtime.loader import _yaml, source
from runtime.loader.source import YamlLoadError, parse_yaml
from tests.conftest import REPO

pytestmark = pytest.mark.skipif(_yaml._CParser is None, reason="PyYAML without libyaml")

EXTRA = [
    "a: 'héllo wörld'\nb: ${ x }  # ü\nc:\n  - é: \"ß${ y }\"\n    d: |\n      ŋ line\n      two\n",
    "base: &b { x: 1 }\nderived:\n  <<: *b\n  y: 2\non: yes\nwhen: 2024-01-01\n",
    "",
    "# only a comment\n",
]


def _files() -> list[tuple[str, str]]:
    found = [
        (str(p.relative_to(REPO)), p.read_text(encoding="utf-8"))
        for p in sorted(REPO.rglob("*.yaml"))
        if ".git" not in p.parts and ".seamline" not in p.parts
    ]
    return found + [(f"extra{i}.yaml", text) for i, text in enumerate(EXTRA)]


def _pure(text: str, file: str, monkeypatch: pytest.MonkeyPatch) -> object:
    with monkeypatch.context() as patched:
        patched.setattr(_yaml, "_CParser", None)
        patched.setattr(source, "_PARSED", {})  # parse again, not the cached fast result
        try:
            return parse_yaml(text, file)
        except YamlLoadError as exc:
            return exc.diagnostics


def test_every_workspace_file_parses_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    compared = 0
    for file, text in _files():
        try:
            fast: object = parse_yaml(text, file)
        except YamlLoadError as exc:
            fast = exc.diagnostics
        pure = _pure(text, file, monkeypatch)
        if isinstance(pure, list):
            assert fast == pure, file
            continue
        assert fast.data == pure.data, file  # type: ignore[attr-defined]
        assert fast.source_map.values == pure.source_map.values, file  # type: ignore[attr-defined]
        assert fast.source_map.keys == pure.source_map.keys, file  # type: ignore[attr-defined]
        compared += 1
    assert compared > 50


@pytest.mark.parametrize(
    "text",
    [
        "a: [1, 2\n",
        "a: b: c\n",
        "a:\n\t- x\n",
        "- a\nb: c\n",
        "a: 1\n---\nb: 2\n",
        'k: "unterminated\n',
    ],
)
def test_syntax_errors_keep_the_pure_loaders_wording(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(YamlLoadError) as fast:
        parse_yaml(text, "f.yaml")
    assert fast.value.diagnostics == _pure(text, "f.yaml", monkeypatch)


def test_the_fast_loader_is_used() -> None:
    node, loader = _yaml.compose("a: 1\n")
    assert isinstance(loader, _yaml._FastPositionLoader)
    assert isinstance(node, yaml.MappingNode)


def test_the_one_pass_build_agrees_with_the_positioned_build() -> None:
    """Clean documents are built without positions (build_plain); the SourceMap works them out
    from the text when first asked. Both builds must give the same data."""
    built = 0
    for file, text in _files():
        try:
            node, loader = _yaml.compose(text)
        except yaml.YAMLError:
            continue
        if node is None:
            continue
        walker = source._Walker(loader, source.SourceMap(file, text=text))
        try:
            plain = _yaml.build_plain(node, loader)
        except _yaml.NotPlain:
            continue
        assert plain == walker.build(node, ()), file
        assert not walker.problems, file
        built += 1
    assert built > 50


@pytest.mark.parametrize(
    "text",
    [
        "base: &b { x: 1 }\nderived:\n  <<: *b\n  y: 2\n",
        "a: 1\na: 2\n",
        "a: !!binary aGk=\n",
        "a: !custom x\n",
        "? [a, b]\n: c\n",
        "a: !!set { x }\n",
    ],
)
def test_merges_duplicates_and_tags_take_the_positioned_build(text: str) -> None:
    node, loader = _yaml.compose(text)
    with pytest.raises(_yaml.NotPlain):
        _yaml.build_plain(node, loader)


def test_positions_are_worked_out_when_first_read() -> None:
    text = "flow: x\nsteps:\n  - id: a\n    set: { k: 1 }\n"
    doc = parse_yaml(text, "lazy.yaml")
    assert doc.data == {"flow": "x", "steps": [{"id": "a", "set": {"k": 1}}]}
    assert doc.source_map.value_at(("steps", 0, "set", "k")).line == 4
    assert doc.source_map.key_at(("steps",)).col == 1

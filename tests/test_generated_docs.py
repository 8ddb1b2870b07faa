"""Generated references never drift from the models they are generated from."""

from __future__ import annotations

import ast
import re

import pytest

from runtime.cli.docs import generated_files
from tests.conftest import REPO


@pytest.mark.parametrize("rel", sorted(generated_files()))
def test_generated_file_is_up_to_date(rel: str) -> None:
    expected = generated_files()[rel]()
    path = REPO / rel
    assert path.is_file(), f"{rel} is missing; run `seamline docs`"
    assert path.read_text(encoding="utf-8") == expected, f"{rel} is stale; run `seamline docs`"


_CODE = re.compile(r"^(yaml|spec|expr|template|ref|emit|contract|json|lookup|switch|file|connector|wait|step|"
                   r"expression|internal|envelope|route|flow)\.[a-z_]*[a-z]$")


def _codes_in_source() -> set[str]:
    codes = set()
    for path in (REPO / "runtime").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and _CODE.match(node.value):
                codes.add(node.value)
    return codes - {"contract.yaml", "json.dumps_function", "json.dumps_kwargs"}  # not codes: a file, Jinja policies


def test_every_error_code_is_documented() -> None:
    documented = (REPO / "docs" / "errors.md").read_text(encoding="utf-8")
    codes = _codes_in_source()
    assert len(codes) > 40
    missing = sorted(code for code in codes if f"`{code}`" not in documented)
    assert not missing, f"add these codes to docs/errors.md: {missing}"


def test_docs_link_to_existing_files() -> None:
    for doc in [REPO / "README.md", *(REPO / "docs").glob("*.md")]:
        for target in re.findall(r"\]\(([^)#:]+\.md)", doc.read_text(encoding="utf-8")):
            assert (doc.parent / target).is_file(), f"{doc.name} links to missing {target}"

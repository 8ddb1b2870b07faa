"""Connector files -> connector instances, with their operations' values compiled."""

from __future__ import annotations

from collections.abc import Collection
from difflib import get_close_matches
from pathlib import Path
from typing import Annotated, Any, Union

from pydantic import Discriminator, TypeAdapter, ValidationError

import runtime.connectors  # noqa: F401 - registers connector kinds
from runtime.compiler._values import ValueCompiler, check_roots
from runtime.connectors.base import CONNECTOR_KINDS, Connector
from runtime.errors import Diagnostic, format_yaml_path
from runtime.loader.diagnostics import pydantic_diagnostics
from runtime.loader.files import parse_file
from runtime.spec.common import parse_duration


def connector_union() -> Any:
    members = tuple(k.config for k in CONNECTOR_KINDS.values())
    return Annotated[Union[members], Discriminator("kind")]  # noqa: UP007


def load_connectors(
    root: Path,
    values_for: Any,
    problems: list[Diagnostic],
    event_types: Collection[str] | None = None,
) -> dict[str, Connector]:
    """Every connector file, compiled; `event_types` (the contracts) checks what sources emit."""
    connectors: dict[str, Connector] = {}
    folder = root / "connectors"
    if not folder.is_dir():
        return connectors
    union = connector_union()
    adapter: TypeAdapter[Any] = TypeAdapter(union)
    for file in sorted(folder.glob("*.yaml")):
        doc = parse_file(root, file, problems)
        if doc is None:
            continue
        try:
            config = adapter.validate_python(doc.data)
        except ValidationError as exc:
            problems.extend(pydantic_diagnostics(exc, doc.data, doc.source_map, union))
            continue
        if config.connector != file.stem:
            problems.append(
                doc.source_map.diagnostic(
                    ("connector",),
                    "spec.name_mismatch",
                    f"connector `{config.connector}` is in file {file.name}",
                    f"rename the file to {config.connector}.yaml or the connector to {file.stem}",
                )
            )
            continue
        compiler = RootedCompiler(values_for(doc.source_map), root, event_types)
        connectors[config.connector] = CONNECTOR_KINDS[config.kind].create(config, compiler)
        problems.extend(compiler.values.diagnostics)
    return connectors


class RootedCompiler:
    """Compiles values that see only the given root names (an operation sees `input`)."""

    def __init__(
        self,
        values: ValueCompiler,
        root: Path | None = None,
        event_types: Collection[str] | None = None,
    ) -> None:
        self.values = values
        self._root = root if root is not None else Path.cwd()
        self._event_types = event_types

    @property
    def root(self) -> Path:
        return self._root

    def value(
        self, raw: Any, path: tuple[str | int, ...], *, roots: tuple[str, ...] = ("input",)
    ) -> Any:
        return self.values.value(raw, path, check_roots(roots))

    def expression(
        self, text: str | None, path: tuple[str | int, ...], *, roots: tuple[str, ...] = ("input",)
    ) -> Any:
        return None if text is None else self.values.expression(text, path, check_roots(roots))

    def duration(self, text: str | None) -> float | None:
        return parse_duration(text) if text else None

    def event_type(self, name: str, path: tuple[str | int, ...]) -> None:
        if self._event_types is None or name in self._event_types:
            return
        close = get_close_matches(name, list(self._event_types), n=1)
        self.error(
            path,
            "connector.unknown_event_type",
            f"no contract for event type `{name}`",
            f"did you mean `{close[0]}`?"
            if close
            else f"add contracts/{name}/v1.schema.json, or emit a type that has a contract",
        )

    def error(
        self, path: tuple[str | int, ...], code: str, message: str, hint: str | None = None
    ) -> None:
        self.values.error(path, code, message, hint)

    def error_at(
        self,
        path: tuple[str | int, ...],
        text: str,
        offset: int,
        code: str,
        message: str,
        hint: str | None = None,
    ) -> None:
        line, col = self.values.source_map.locate(path, text, offset)
        self.values.diagnostics.append(
            Diagnostic(
                self.values.source_map.file, line, col, format_yaml_path(path), code, message, hint
            )
        )

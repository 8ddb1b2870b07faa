"""Reference tables in flows/lookups: YAML mappings, or CSV keyed by the first column."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from runtime.errors import Diagnostic
from runtime.loader.files import parse_file, relative_name


def load_lookups(
    root: Path, problems: list[Diagnostic]
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Reference tables in flows/lookups: YAML mappings, or CSV files keyed by their first column.

    Tables in a subfolder belong to an entity and are named `<entity>.<table>`
    (flows/lookups/northwind_uk/account_codes.csv is `northwind_uk.account_codes`)."""
    tables: dict[str, dict[str, Any]] = {}
    files: dict[str, str] = {}
    folder = root / "flows" / "lookups"
    if not folder.is_dir():
        return tables, files
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        entity = file.parent.relative_to(folder).parts
        name, rel = ".".join((*entity, file.stem)), relative_name(root, file)
        if file.suffix in (".yaml", ".yml"):
            doc = parse_file(root, file, problems)
            if doc is None:
                continue
            if not isinstance(doc.data, dict):
                problems.append(
                    doc.source_map.diagnostic(
                        (),
                        "lookup.not_mapping",
                        "a lookup table is a mapping of key: value",
                        "write one `KEY: value` line per entry",
                    )
                )
                continue
            tables[name] = {str(k): v for k, v in doc.data.items()}
        elif file.suffix == ".csv":
            with file.open(newline="", encoding="utf-8") as handle:
                rows = list(csv.DictReader(handle))
            if not rows:
                problems.append(
                    Diagnostic(
                        rel,
                        1,
                        1,
                        "",
                        "lookup.empty",
                        "CSV lookup table has no rows",
                        "the first row names the columns; the first column is the key",
                    )
                )
                continue
            key_column = next(iter(rows[0]))
            table: dict[str, Any] = {}
            for line, row in enumerate(rows, start=2):
                key = row[key_column]
                if key in table:
                    problems.append(
                        Diagnostic(
                            rel,
                            line,
                            1,
                            "",
                            "lookup.duplicate_key",
                            f"key {key!r} appears twice",
                            "keys in the first column must be unique",
                        )
                    )
                table[key] = row
            tables[name] = table
        else:
            continue
        files[name] = rel
    return tables, files

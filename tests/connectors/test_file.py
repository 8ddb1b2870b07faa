"""`kind: file` in real temporary directories: atomic writes, safe names, bad rows, archiving."""

from __future__ import annotations

import csv
import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from runtime.compiler.workspace import check_workspace
from runtime.errors import ConnectorError
from tests.connectors._calls import call, call_all
from tests.steps import compile_flows, run

CONNECTOR = """
connector: drop
kind: file
directory: data/inbox
operations:
  write_csv:
    write: { file: "invoices-${ input.period }.csv", content: "${ input.lines }", columns: [id, amount, note] }
  write_jsonl:
    write: { file: "events-${ input.day }.jsonl", content: "${ input.events }" }
  write_json:
    write: { file: "${ input.name }", format: json, content: "${ input.doc }" }
  write_once:
    write: { file: "once-${ input.id }.json", content: "${ input.doc }", if_exists: error }
  read_csv:
    read:
      file: "${ input.file }"
      format: csv
      types: { qty: integer, price: number, active: boolean }
      required: [sku]
  read_jsonl:
    read: { file: "${ input.file }", format: jsonl }
  read_json:
    read: { file: "${ input.file }", format: json }
  read_optional:
    read: { file: "${ input.file }", format: csv, missing: "null" }
  archive:
    archive: { file: "${ input.file }", to: data/archive }
"""


@pytest.fixture
def drop(workspace) -> Any:
    return compile_flows(workspace, {"connectors/drop.yaml": CONNECTOR})


def inbox(plan: Any) -> Path:
    return Path(plan.root) / "data" / "inbox"


def test_write_csv_jsonl_and_json(drop) -> None:
    lines = [{"id": 1, "amount": 10.5, "note": "a, \"quoted\" note"}, {"id": 2, "amount": None, "extra": "dropped"}]
    written = call_all(drop, [
        ("drop.write_csv", {"period": "2024-05", "lines": lines}),
        ("drop.write_jsonl", {"day": "mon", "events": [{"n": 1}, "two", [3]]}),
        ("drop.write_json", {"name": "doc.json", "doc": {"ok": True, "n": [1, 2]}}),
    ])
    folder = inbox(drop)
    assert [w["file"] for w in written] == ["invoices-2024-05.csv", "events-mon.jsonl", "doc.json"]
    assert [w["rows"] for w in written] == [2, 3, 1]
    with open(folder / "invoices-2024-05.csv", newline="") as handle:
        assert list(csv.reader(handle)) == [["id", "amount", "note"], ["1", "10.5", 'a, "quoted" note'], ["2", "", ""]]
    assert (folder / "events-mon.jsonl").read_text() == '{"n":1}\n"two"\n[3]\n'
    assert json.loads((folder / "doc.json").read_text()) == {"ok": True, "n": [1, 2]}
    assert sorted(p.name for p in folder.iterdir()) == ["doc.json", "events-mon.jsonl", "invoices-2024-05.csv"]


def test_a_write_is_visible_only_complete(drop) -> None:
    """A reader polling the file while it is rewritten sees either nothing or a whole file."""
    big = [{"id": i, "amount": i * 1.5, "note": "x" * 200} for i in range(4000)]
    target = inbox(drop) / "invoices-big.csv"
    seen: list[int] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                with open(target, newline="") as handle:
                    seen.append(sum(1 for _ in csv.reader(handle)))
            except FileNotFoundError:
                continue

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        results = call_all(drop, [("drop.write_csv", {"period": "big", "lines": big[: 2000 + i]}) for i in range(8)])
    finally:
        stop.set()
        thread.join()
    assert all(isinstance(r, dict) for r in results), results
    assert seen, "the reader never saw the file"
    assert set(seen) <= {2001 + i for i in range(8)}  # header + rows of one complete write
    assert [p.name for p in inbox(drop).iterdir()] == ["invoices-big.csv"]  # no temp file left


def test_a_failed_write_leaves_neither_a_partial_file_nor_a_temp_file(drop, monkeypatch: pytest.MonkeyPatch) -> None:
    call(drop, "drop.write_json", {"name": "state.json", "doc": {"v": 1}})

    def disk_failure(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", disk_failure)
    with pytest.raises(ConnectorError) as caught:
        call(drop, "drop.write_json", {"name": "state.json", "doc": {"v": 2}})
    assert caught.value.error_class == "io" and caught.value.transient is False
    assert json.loads((inbox(drop) / "state.json").read_text()) == {"v": 1}  # the old file, whole
    assert [p.name for p in inbox(drop).iterdir()] == ["state.json"]


def test_if_exists_error(drop) -> None:
    first, second = call_all(drop, [("drop.write_once", {"id": 7, "doc": 1}), ("drop.write_once", {"id": 7, "doc": 2})])
    assert first["file"] == "once-7.json"
    assert (second.error_class, second.transient) == ("exists", False)
    assert json.loads((inbox(drop) / "once-7.json").read_text()) == 1


@pytest.mark.parametrize("period", ["../../etc/cron.d/x", "..\\..\\windows", "/etc/passwd", "a/b"])
def test_path_traversal_in_a_value_is_rejected(drop, period: str) -> None:
    with pytest.raises(ConnectorError) as caught:
        call(drop, "drop.write_csv", {"period": period, "lines": [{"id": 1}]})
    assert (caught.value.error_class, caught.value.transient) == ("bad_path", False)
    root = Path(drop.root)
    assert not any(p.is_file() and p.suffix == ".csv" for p in root.parent.rglob("*"))


@pytest.mark.parametrize("name", ["..", ".", "", ".hidden.json", "../escape.json"])
def test_a_name_that_is_not_a_plain_file_name_is_rejected(drop, name: str) -> None:
    with pytest.raises(ConnectorError) as caught:
        call(drop, "drop.write_json", {"name": name, "doc": {}})
    assert caught.value.error_class == "bad_path"


def test_unsafe_characters_in_values_are_replaced(drop) -> None:
    written = call(drop, "drop.write_csv", {"period": "Q1: ACME*Corp?<>|\"", "lines": [{"id": 1}]})
    assert written["file"] == "invoices-Q1__ACME_Corp_____.csv"
    assert (inbox(drop) / written["file"]).is_file()


def test_read_csv_reports_bad_rows_with_file_and_line(drop) -> None:
    folder = inbox(drop)
    folder.mkdir(parents=True)
    (folder / "lines.csv").write_text(
        "sku,qty,price,active\n"          # 1
        "A,1,9.5,true\n"                  # 2
        "B,two,1,false\n"                 # 3 qty not an integer
        "C,3\n"                           # 4 too few fields
        '"D, multi\nline",4,1.25,yes\n'   # 5-6 one record over two lines
        ',5,1,no\n'                       # 7 required sku empty
        '"E"x,6,1,true\n'                 # 8 malformed quoting
        "\n"                              # 9 blank: skipped
        "F,7,,maybe\n",                   # 10 not a boolean
        encoding="utf-8",
    )
    result = call(drop, "drop.read_csv", {"file": "lines.csv"})

    assert result["file"] == "lines.csv"
    assert result["rows"] == [
        {"sku": "A", "qty": 1, "price": 9.5, "active": True},
        {"sku": "D, multi\nline", "qty": 4, "price": 1.25, "active": True},
    ]
    assert result["errors"] == [
        {"file": "lines.csv", "line": 3, "message": "column qty: 'two' is not an integer"},
        {"file": "lines.csv", "line": 4, "message": "expected 4 fields, got 2"},
        {"file": "lines.csv", "line": 7, "message": "column sku is empty"},
        {"file": "lines.csv", "line": 8, "message": "malformed CSV: ',' expected after '\"'"},
        {"file": "lines.csv", "line": 10, "message": "column active: 'maybe' is not a boolean"},
    ]


def test_read_jsonl_json_and_missing_files(drop) -> None:
    folder = inbox(drop)
    folder.mkdir(parents=True)
    (folder / "e.jsonl").write_text('{"a": 1}\n\n{"a": \n[2]\n')
    (folder / "doc.json").write_text('[{"a": 1},\n {"b": 2}]')
    (folder / "bad.json").write_text('{\n  "a": 1,\n  oops\n}')
    jsonl, doc, bad, optional, missing = call_all(drop, [
        ("drop.read_jsonl", {"file": "e.jsonl"}),
        ("drop.read_json", {"file": "doc.json"}),
        ("drop.read_json", {"file": "bad.json"}),
        ("drop.read_optional", {"file": "nope.csv"}),
        ("drop.read_csv", {"file": "nope.csv"}),
    ])
    assert jsonl["rows"] == [{"a": 1}, [2]]
    assert [(e["line"], e["message"].split(":")[0]) for e in jsonl["errors"]] == [(3, "not JSON")]
    assert doc == {"file": "doc.json", "rows": [{"a": 1}, {"b": 2}], "errors": []}
    assert bad["rows"] == [] and [e["line"] for e in bad["errors"]] == [3]
    assert optional is None
    assert (missing.error_class, str(missing)) == ("not_found", "drop.read_csv: no file nope.csv")


def test_archive_moves_and_never_overwrites(drop) -> None:
    folder, archive = inbox(drop), Path(drop.root) / "data" / "archive"
    folder.mkdir(parents=True)
    archive.mkdir(parents=True)
    (archive / "day.csv").write_text("older\n")
    (folder / "day.csv").write_text("newer\n")

    moved, again, missing = call_all(drop, [
        ("drop.archive", {"file": "day.csv"}),
        ("drop.archive", {"file": "day.csv"}),  # a retry after the move: already done
        ("drop.archive", {"file": "never.csv"}),
    ])
    assert Path(moved["archived"]).name == "day-1.csv" and moved["already"] is False
    assert again["already"] is True
    assert missing.error_class == "not_found"
    assert not (folder / "day.csv").exists()
    assert (archive / "day.csv").read_text() == "older\n"
    assert (archive / "day-1.csv").read_text() == "newer\n"


def test_read_transform_write_archive_in_a_flow(workspace) -> None:
    plan = compile_flows(workspace, {
        "connectors/drop.yaml": CONNECTOR,
        "flows/batch.yaml": """\
flow: batch
on: { event: shop.order.placed }
steps:
  - id: read
    call: drop.read_csv
    with: { file: "orders-${ data.order_id }.csv" }
  - id: write
    call: drop.write_jsonl
    with: { day: "${ data.order_id }", events: "${ steps.read.output.rows }" }
  - id: done
    call: drop.archive
    with: { file: "orders-${ data.order_id }.csv" }
output: { written: "${ steps.write.output.rows }", errors: "${ steps.read.output.errors }" }
""",
    })
    folder = inbox(plan)
    folder.mkdir(parents=True)
    (folder / "orders-O1.csv").write_text("sku,qty,price,active\nA,1,2,true\nB,x,2,true\n")
    result = run(plan, "batch")

    assert result.status == "succeeded", result.error
    assert result.output == {"written": 1, "errors": [{"file": "orders-O1.csv", "line": 3,
                                                        "message": "column qty: 'x' is not an integer"}]}
    assert (folder / "events-O1.jsonl").read_text() == '{"sku":"A","qty":1,"price":2,"active":true}\n'
    assert (Path(plan.root) / "data" / "archive" / "orders-O1.csv").is_file()


def test_load_errors(workspace) -> None:
    report = check_workspace(workspace({"connectors/drop.yaml": """\
connector: drop
kind: file
directory: data
operations:
  nested:
    write: { file: "../out/${ input.x }.csv" }
  unknown_format:
    read: { file: "${ input.name }" }
"""}))
    assert [str(d) for d in report.diagnostics] == [
        "connectors/drop.yaml:6:20: operations.nested.write.file: a file name, not a path (hint: put the folder "
        "in the connector's `directory` (or an archive's `to`)) [connector.bad_path]",
        "connectors/drop.yaml:8:19: operations.unknown_format.read.file: cannot tell the format of "
        "'${ input.name }' from its extension (hint: add `format: csv`, `jsonl` or `json`) [connector.file_format]",
    ]


def test_an_operation_has_exactly_one_kind(workspace) -> None:
    report = check_workspace(workspace({"connectors/drop.yaml": """\
connector: drop
kind: file
directory: data
operations:
  two_kinds:
    read: { file: a.csv }
    archive: { file: a.csv, to: old }
"""}))
    assert [str(d) for d in report.diagnostics] == [
        "connectors/drop.yaml:6:5: operations.two_kinds: give exactly one of write, read, archive "
        "(got ['read', 'archive']) [spec.value_error]",
    ]

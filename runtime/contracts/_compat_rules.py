"""The subset check behind contract compatibility: does the reader accept all the writer does?

`Comparer(writer, reader)` walks both schemas in step, by data location, and records a
`Difference` wherever some value valid under the writer may be invalid under the reader. It is
sound: it never calls two schemas compatible when they are not. Where it cannot decide (a
changed `pattern`, a new `oneOf`, a conditional it cannot prove), it records the construct as a
difference with an explanation, so an undecided change fails like a breaking one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runtime.contracts._compat_objects import compare_objects
from runtime.contracts._compat_scalars import compare_numbers, compare_size, compare_strings
from runtime.contracts._compat_schema import (
    Node,
    RefError,
    child_path,
    describe_types,
    equivalent,
    finite_values,
    is_true,
    keywords,
    resolve,
    show,
    type_of_value,
    types_of,
)


@dataclass(frozen=True, order=True)
class Difference:
    """One way the reader may reject data the writer allows."""

    pointer: str
    """JSON pointer (`#/properties/lines/items/required`) in the schema the change is judged in."""
    path: str
    """Where in the data (`$.lines[*].hours`)."""
    rule: str
    """Stable rule code, e.g. `compat.required` (docs/contracts.md lists them)."""
    message: str

    def __str__(self) -> str:
        return f"{self.pointer}: {self.message} (at {self.path}) [{self.rule}]"


_COMPOSITION = ("allOf", "anyOf", "oneOf", "not", "dependentSchemas", "$dynamicRef")
_EXCLUSIVE = ("contains", "propertyNames", "unevaluatedItems")
_ALTERNATION = ("anyOf", "oneOf")


class Comparer:
    """Collects the differences between a writer schema and a reader schema."""

    def __init__(
        self, writer: Any, reader: Any, *, labels: tuple[str, str], report_in: str
    ) -> None:
        self.writer_root, self.reader_root = writer, reader
        self.w_label, self.r_label = labels
        self.report_in = report_in  # "writer" or "reader": whose pointers the report uses
        self.out: list[Difference] = []
        self._active: set[tuple[str, str]] = set()

    def run(self) -> list[Difference]:
        self.compare(
            Node(self.writer_root, self.writer_root), Node(self.reader_root, self.reader_root), "$"
        )
        return sorted(set(self.out))

    # -- reporting ---------------------------------------------------------------------
    def report(
        self,
        w: Node,
        r: Node,
        keyword: str | tuple[str, ...],
        path: str,
        rule: str,
        message: str,
        *,
        writer_at: tuple[str, ...] | None = None,
    ) -> None:
        node = r if self.report_in == "reader" else w
        if self.report_in == "writer" and writer_at is not None:
            keyword = writer_at
        tokens = (keyword,) if isinstance(keyword, str) else keyword
        pointer = node.at(*tokens) if keyword else node.pointer
        self.out.append(Difference(pointer, path, rule, message))

    def sub(self, w: Node, r: Node, path: str) -> list[Difference]:
        """The differences of a nested comparison, without recording them."""
        saved, self.out = self.out, []
        try:
            self.compare(w, r, path)
            return self.out
        finally:
            self.out = saved

    # -- the walk ----------------------------------------------------------------------
    def compare(self, w: Node, r: Node, path: str) -> None:
        try:
            w, r = resolve(w), resolve(r)
        except RefError as exc:
            self.report(w, r, "$ref", path, "compat.ref", str(exc))
            return
        if w.schema is False or is_true(r):
            return
        if r.schema is False:
            self.report(
                w,
                r,
                "",
                path,
                "compat.nothing_accepted",
                f"{self.r_label} accepts no value here (schema `false`), {self.w_label} does",
            )
            return
        if w.schema is True:
            w = Node(w.root, {}, w.pointer)
        key = (w.pointer, r.pointer)
        if key in self._active:  # recursive schemas: assume the cycle holds (coinduction)
            return
        self._active.add(key)
        try:
            same = self._same(w, r)
            for alternative in self._alternatives(w, same):
                self._compare_one(alternative, r, path, same)
        finally:
            self._active.discard(key)

    def _same(self, w: Node, r: Node) -> set[str]:
        """Composition keywords both sides hold identically: they constrain both alike."""
        same = {
            k
            for k in (*_COMPOSITION, *_EXCLUSIVE, "unevaluatedProperties")
            if w.has(k) and r.has(k) and _same_keywords(w, r, (k,))
        }
        if w.has("if") and r.has("if") and _same_keywords(w, r, ("if", "then", "else")):
            same.add("if")
        if "contains" in same and not _same_keywords(w, r, ("minContains", "maxContains")):
            same.discard("contains")
        return same

    def _alternatives(self, w: Node, same: set[str]) -> list[Node]:
        """The writer with its own allOf folded in and split per anyOf/oneOf branch.

        Folding only ever narrows the writer (sound); a branch that cannot be merged into the
        base is compared as the base alone, which accepts more (still sound)."""
        base = w
        if w.has("allOf") and "allOf" not in same:
            for index in range(len(w.get("allOf"))):
                merged = _merge(base, resolve(w.child("allOf", index)))
                base = merged or base
        for keyword in _ALTERNATION:
            if w.has(keyword) and keyword not in same:
                out = []
                for index in range(len(w.get(keyword))):
                    branch = resolve(w.child(keyword, index))
                    if branch.schema is False:
                        continue
                    merged = _merge(_without(base, keyword), branch, branch.pointer)
                    out.append(merged or _without(base, keyword))
                return out
        return [base]

    def _compare_one(self, w: Node, r: Node, path: str, same: set[str]) -> None:
        values = finite_values(w)
        if values is not None:
            self._finite(w, r, path, values)
            return
        wt, rt = types_of(w), types_of(r)
        if not wt <= rt:
            self.report(
                w,
                r,
                "type",
                path,
                "compat.type",
                f"{self.w_label} allows {describe_types(wt)} here, "
                f"{self.r_label} only {describe_types(rt)}",
            )
        if r.has("const") or r.has("enum"):
            allowed = [r.get("const")] if r.has("const") else r.get("enum")
            keyword = "const" if r.has("const") else "enum"
            self.report(
                w,
                r,
                keyword,
                path,
                f"compat.{keyword}",
                f"{self.r_label} accepts only {show(allowed)}, "
                f"{self.w_label} any {describe_types(wt & rt)} value",
            )
        common = wt & rt
        if "string" in common:
            compare_strings(self, w, r, path)
        if common & {"integer", "non-integer number"}:
            compare_numbers(self, w, r, path, integers_only="non-integer number" not in common)
        if "object" in common:
            compare_objects(self, w, r, path, same)
        if "array" in common:
            self._arrays(w, r, path, same)
        self._reader_composition(w, r, path, same)

    # -- values ------------------------------------------------------------------------
    def _finite(self, w: Node, r: Node, path: str, values: list[Any]) -> None:
        for value in values:
            if not w.accepts(value) or r.accepts(value):
                continue
            if r.has("const") or r.has("enum"):
                keyword = "const" if r.has("const") else "enum"
            elif type_of_value(value) not in types_of(r):
                keyword = "type"
            else:
                keyword = ""
            rule = f"compat.{keyword}" if keyword else "compat.value"
            self.report(
                w,
                r,
                keyword,
                path,
                rule,
                f"{self.w_label} allows {show(value)}, {self.r_label} does not",
            )

    # -- arrays ------------------------------------------------------------------------
    def _arrays(self, w: Node, r: Node, path: str, same: set[str]) -> None:
        w_max = w.get("maxItems")  # the writer never has more items than this
        compare_size(
            self,
            w,
            r,
            path,
            ("minItems", "compat.min_items"),
            ("maxItems", "compat.max_items"),
            lambda n: f"fewer than {n} items",
            lambda n: f"more than {n} items",
        )
        if r.get("uniqueItems") is True and w.get("uniqueItems") is not True:
            self.report(
                w,
                r,
                "uniqueItems",
                path,
                "compat.unique_items",
                f"{self.r_label} requires unique items, {self.w_label} allows repeats",
            )
        w_prefix, r_prefix = len(w.get("prefixItems") or []), len(r.get("prefixItems") or [])
        fixed = max(w_prefix, r_prefix)
        for index in range(fixed):
            if isinstance(w_max, int) and index >= w_max:
                return
            wi = w.child("prefixItems", index) if index < w_prefix else w.child("items")
            ri = r.child("prefixItems", index) if index < r_prefix else r.child("items")
            self.compare(wi, ri, child_path(path, index))
        if isinstance(w_max, int) and w_max <= fixed:
            return
        found = self.sub(w.child("items"), r.child("items"), child_path(path, "*"))
        if found and resolve(r.child("items")).schema is False:
            self.report(
                w,
                r,
                "items",
                path,
                "compat.items",
                f"{self.w_label} allows more than {fixed} items, {self.r_label} does not "
                "(items: false)",
            )
        else:
            self.out.extend(found)
        for keyword in _EXCLUSIVE:
            if r.has(keyword) and keyword not in same and keyword != "propertyNames":
                self.undecidable(w, r, keyword, path)

    # -- composition in the reader -------------------------------------------------------
    def _reader_composition(self, w: Node, r: Node, path: str, same: set[str]) -> None:
        if r.has("allOf") and "allOf" not in same:
            for index in range(len(r.get("allOf"))):
                self.compare(w, r.child("allOf", index), path)
        if (
            r.has("anyOf")
            and "anyOf" not in same
            or (r.has("oneOf") and "oneOf" not in same and len(r.get("oneOf")) == 1)
        ):
            keyword = "anyOf" if r.has("anyOf") and "anyOf" not in same else "oneOf"
            tries = [self.sub(w, r.child(keyword, i), path) for i in range(len(r.get(keyword)))]
            if tries and all(tries):
                closest = min(tries, key=len)[0]
                self.report(
                    w,
                    r,
                    keyword,
                    path,
                    "compat.any_of",
                    f"no branch of {self.r_label}'s {keyword} accepts everything "
                    f"{self.w_label} allows (closest: {closest.message})",
                    writer_at=(keyword,) if w.has(keyword) else (),
                )
        elif r.has("oneOf") and "oneOf" not in same:
            self.undecidable(w, r, "oneOf", path)
        if r.has("if") and "if" not in same:
            proved = not self.sub(w, r.child("then"), path) and (
                not r.has("else") or not self.sub(w, r.child("else"), path)
            )
            if not proved:
                self.report(
                    w,
                    r,
                    "if",
                    path,
                    "compat.conditional",
                    f"{self.r_label} has a conditional (if/then/else) that {self.w_label} "
                    "does not have identically, and seamline cannot prove that all data "
                    f"{self.w_label} allows satisfies it",
                    writer_at=("if",) if w.has("if") else (),
                )
        for keyword in ("not", "dependentSchemas", "$dynamicRef"):
            if r.has(keyword) and keyword not in same:
                self.undecidable(w, r, keyword, path)

    def undecidable(self, w: Node, r: Node, keyword: str, path: str) -> None:
        self.report(
            w,
            r,
            keyword,
            path,
            "compat.undecidable",
            f"{self.r_label} has a `{keyword}` that {self.w_label} does not have "
            "identically: seamline cannot decide whether every value "
            f"{self.w_label} allows passes it, so it counts as breaking",
            writer_at=(keyword,) if w.has(keyword) else (),
        )


def _same_keywords(w: Node, r: Node, names: tuple[str, ...]) -> bool:
    """The keywords `names` constrain both sides identically (absent on both counts)."""

    def only(node: Node) -> Node:
        return Node(node.root, {k: node.get(k) for k in names if node.has(k)}, node.pointer)

    return equivalent(only(w), only(r))


def _without(node: Node, keyword: str) -> Node:
    if not isinstance(node.schema, dict) or keyword not in node.schema:
        return node
    return Node(node.root, {k: v for k, v in node.schema.items() if k != keyword}, node.pointer)


def _merge(base: Node, extra: Node, pointer: str | None = None) -> Node | None:
    """`base` and `extra` as one schema when their keywords combine plainly, else None."""
    if extra.schema is True:
        return base
    if not isinstance(base.schema, dict) or not isinstance(extra.schema, dict):
        return None
    if "$ref" in extra.schema:
        return None
    merged = {k: v for k, v in base.schema.items() if k != "allOf"}
    for key in keywords(extra):
        value = extra.schema[key]
        if key not in merged or merged[key] == value:
            merged[key] = value
        elif key == "required":
            merged[key] = sorted(set(merged[key]) | set(value))
        elif key == "properties" and not (set(merged[key]) & set(value)):
            merged[key] = {**merged[key], **value}
        else:
            return None
    return Node(base.root, merged, pointer or base.pointer)

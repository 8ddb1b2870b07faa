"""String and number keywords of the subset check: lengths, pattern, format, bounds, multipleOf."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runtime.contracts._compat_schema import (
    Node,
    lower_bound,
    show,
    show_bound,
    to_fraction,
    upper_bound,
)

if TYPE_CHECKING:
    from runtime.contracts._compat_rules import Comparer


def compare_size(
    c: Comparer,
    w: Node,
    r: Node,
    path: str,
    low: tuple[str, str],
    high: tuple[str, str],
    too_few: Any,
    too_many: Any,
    *,
    detail: bool = True,
) -> None:
    """A min/max pair (items, length, properties): every size the writer allows, the reader must.
    `detail` adds the writer's own bound to the message."""
    (min_key, min_code), (max_key, max_code) = low, high
    w_min, r_min = w.get(min_key, 0), r.get(min_key, 0)
    if w_min < r_min:
        own = f" ({min_key} {w_min})" if detail else ""
        c.report(
            w,
            r,
            min_key,
            path,
            min_code,
            f"{c.w_label} allows {too_few(r_min)}{own}, {c.r_label} requires {min_key} {r_min}",
        )
    w_max, r_max = w.get(max_key), r.get(max_key)
    if r_max is not None and (w_max is None or w_max > r_max):
        own = (f" (no {max_key})" if w_max is None else f" ({max_key} {w_max})") if detail else ""
        c.report(
            w,
            r,
            max_key,
            path,
            max_code,
            f"{c.w_label} allows {too_many(r_max)}{own}, {c.r_label} requires {max_key} {r_max}",
        )


def compare_strings(c: Comparer, w: Node, r: Node, path: str) -> None:
    compare_size(
        c,
        w,
        r,
        path,
        ("minLength", "compat.min_length"),
        ("maxLength", "compat.max_length"),
        lambda n: f"strings shorter than {n} characters",
        lambda n: f"strings longer than {n} characters",
    )
    if r.has("pattern") and w.get("pattern") != r.get("pattern"):
        before = f"pattern {show(w.get('pattern'))}" if w.has("pattern") else "no pattern"
        c.report(
            w,
            r,
            "pattern",
            path,
            "compat.pattern",
            f"{c.r_label} requires pattern {show(r.get('pattern'))}, {c.w_label} "
            f"has {before}: regular expressions are compared only for identity, so "
            "seamline cannot prove every string one allows matches the other",
        )
    if r.has("format") and w.get("format") != r.get("format"):
        before = f"format {show(w.get('format'))}" if w.has("format") else "no format"
        c.report(
            w,
            r,
            "format",
            path,
            "compat.format",
            f"{c.r_label} asserts format {show(r.get('format'))}, {c.w_label} has {before}",
        )


def compare_numbers(c: Comparer, w: Node, r: Node, path: str, integers_only: bool) -> None:
    for lower, keyword in ((True, "minimum"), (False, "maximum")):
        bound = lower_bound if lower else upper_bound
        wb, rb = bound(w, integers_only), bound(r, integers_only)
        if rb is None:
            continue
        if wb is None or _looser(wb, rb, lower):
            exclusive = "exclusiveMinimum" if lower else "exclusiveMaximum"
            keyword = exclusive if r.has(exclusive) and not r.has(keyword) else keyword
            c.report(
                w,
                r,
                keyword,
                path,
                f"compat.{'minimum' if lower else 'maximum'}",
                f"{c.w_label} allows {show_bound(wb, lower)}, "
                f"{c.r_label} requires {show_bound(rb, lower)}",
            )
    r_step = r.get("multipleOf")
    if isinstance(r_step, int | float) and not (integers_only and r_step == 1):
        w_step = w.get("multipleOf")
        ok = (
            isinstance(w_step, int | float)
            and (to_fraction(w_step) / to_fraction(r_step)).denominator == 1
        )
        if not ok:
            c.report(
                w,
                r,
                "multipleOf",
                path,
                "compat.multiple_of",
                f"{c.r_label} requires multiples of {r_step}, {c.w_label} "
                + (f"allows multiples of {w_step}" if w_step else "has no such rule"),
            )


def _looser(writer: tuple[Any, bool], reader: tuple[Any, bool], lower: bool) -> bool:
    """True when the writer's bound admits values beyond the reader's."""
    (wv, we), (rv, re_) = writer, reader
    if wv != rv:
        return wv < rv if lower else wv > rv
    return re_ and not we

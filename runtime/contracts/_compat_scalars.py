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


def compare_strings(c: Comparer, w: Node, r: Node, path: str) -> None:
    w_min, r_min = w.get("minLength", 0), r.get("minLength", 0)
    if w_min < r_min:
        c.report(
            w,
            r,
            "minLength",
            path,
            "compat.min_length",
            f"{c.w_label} allows strings shorter than {r_min} characters "
            f"(minLength {w_min}), {c.r_label} requires minLength {r_min}",
        )
    w_max, r_max = w.get("maxLength"), r.get("maxLength")
    if r_max is not None and (w_max is None or w_max > r_max):
        shown = "no maxLength" if w_max is None else f"maxLength {w_max}"
        c.report(
            w,
            r,
            "maxLength",
            path,
            "compat.max_length",
            f"{c.w_label} allows strings longer than {r_max} characters ({shown}), "
            f"{c.r_label} requires maxLength {r_max}",
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

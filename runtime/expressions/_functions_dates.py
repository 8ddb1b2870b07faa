"""Date functions: ISO 8601 dates, date-times and durations, with calendar-aware months.

Deterministic by design: there is no now(); use `run.started_at` for the current time.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jmespath.functions import signature

from ._functions_base import FunctionArgumentError, FunctionDoc, arg, json_number
from ._functions_base import FunctionExample as Ex

Temporal = date | datetime  # datetime is a subclass of date: test for datetime first

_SIMPLE_DURATION = re.compile(r"(?:\d+(?:\.\d+)?\s*(?:ms|s|m|h|d|w)\s*)+")
_SIMPLE_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_SIMPLE_SECONDS = {"ms": Decimal("0.001"), "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_ISO_DURATION = re.compile(
    r"P(?:(?P<Y>\d+)Y)?(?:(?P<M>\d+)M)?(?:(?P<W>\d+(?:\.\d+)?)W)?(?:(?P<D>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?"
)
_ISO_SECONDS = {"W": 604800, "D": 86400, "h": 3600, "m": 60, "s": 1}
DIFF_UNITS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400, "weeks": 604800}
START_UNITS = ("day", "week", "month", "quarter", "year")


@dataclass(frozen=True)
class Duration:
    """Calendar months (years are 12 months) plus an exact number of seconds; both signed."""

    months: int
    seconds: Decimal


@lru_cache(maxsize=4096)  # dates and date-times are immutable; errors are not cached
def parse_temporal(function: str, value: str) -> Temporal:
    """`2026-01-31` -> date; `2026-01-31T09:30:00Z` (or with an offset, or naive) -> datetime."""
    text = value.strip()
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise FunctionArgumentError(
            function,
            f"cannot read date {value!r} (expected e.g. 2026-01-31 or 2026-01-31T09:30:00Z)",
        ) from None


def format_temporal(value: Temporal) -> str:
    """A date as `YYYY-MM-DD`; a date-time in ISO 8601, UTC written as `Z`, naive kept naive."""
    if not isinstance(value, datetime):
        return value.isoformat()
    offset = value.utcoffset()
    if offset == timedelta(0):
        return value.replace(tzinfo=None).isoformat() + "Z"
    return value.isoformat()


@lru_cache(maxsize=64)
def _zone(function: str, name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise FunctionArgumentError(
            function, f"unknown time zone {name!r} (expected an IANA name such as Europe/Berlin)"
        ) from None


@lru_cache(maxsize=1024)  # a Duration is frozen; flows use a handful of duration texts
def parse_duration(function: str, text: str) -> Duration:
    """`30d`, `1h30m`, `500ms`, `-1d`, `P1M`, `P1Y2M10DT2H`, `-P1D` -> Duration."""
    body = text.strip()
    sign = -1 if body.startswith("-") else 1
    body = body[1:].lstrip() if body[:1] in "+-" else body
    months, seconds = 0, Decimal(0)
    iso = _ISO_DURATION.fullmatch(body)
    if iso and body != "P" and not body.endswith("T"):
        parts = iso.groupdict()
        months = int(parts["Y"] or 0) * 12 + int(parts["M"] or 0)
        for unit, factor in _ISO_SECONDS.items():
            seconds += Decimal(parts[unit] or 0) * factor
    elif _SIMPLE_DURATION.fullmatch(body):
        for number, unit in _SIMPLE_PART.findall(body):
            seconds += Decimal(number) * _SIMPLE_SECONDS[unit]
    else:
        raise FunctionArgumentError(
            function, f"cannot read duration {text!r} (expected e.g. 30d, 1h30m, P1M)"
        )
    return Duration(sign * months, sign * seconds)


_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def days_in_month(year: int, month: int) -> int:
    """`calendar.monthrange(year, month)[1]` without computing the weekday."""
    if month == 2 and calendar.isleap(year):
        return 29
    return _MONTH_DAYS[month - 1]


def add_months(value: Temporal, months: int) -> Temporal:
    """Calendar months; the day is clamped to the month's last day (Jan 31 + 1 month = Feb 28)."""
    year, month0 = divmod(value.year * 12 + value.month - 1 + months, 12)
    day = min(value.day, days_in_month(year, month0 + 1))
    return value.replace(year=year, month=month0 + 1, day=day)


def add_duration(function: str, value: Temporal, duration: Duration) -> Temporal:
    """Months first (clamped), then the exact seconds; a date only takes whole days."""
    if not duration.seconds:  # whole months (`P1M`): no Decimal arithmetic to do
        try:
            return add_months(value, duration.months) if duration.months else value
        except (OverflowError, ValueError):
            raise FunctionArgumentError(function, "the result is outside years 1-9999") from None
    days, rest = divmod(duration.seconds, 86400)
    if rest and not isinstance(value, datetime):
        raise FunctionArgumentError(
            function,
            f"cannot add hours, minutes or seconds to the date {format_temporal(value)!r} "
            "(use to_datetime() first)",
        )
    try:
        result = add_months(value, duration.months) if duration.months else value
        return result + timedelta(days=int(days), microseconds=int(rest * 1_000_000))
    except (OverflowError, ValueError):
        raise FunctionArgumentError(function, "the result is outside years 1-9999") from None


def _as_datetime(value: Temporal) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.combine(value, time())


def _comparable(start: Temporal, end: Temporal) -> tuple[datetime, datetime]:
    """Dates become midnight; when one side has an offset, a naive side is read as UTC."""
    a, b = _as_datetime(start), _as_datetime(end)
    if (a.tzinfo is None) != (b.tzinfo is None):
        a = a if a.tzinfo else a.replace(tzinfo=UTC)
        b = b if b.tzinfo else b.replace(tzinfo=UTC)
    return a, b


def whole_months(start: datetime, end: datetime) -> int:
    """Whole calendar months from start to end, truncated toward zero."""
    if end < start:
        return -whole_months(end, start)
    months = (end.year - start.year) * 12 + end.month - start.month
    if add_months(start, months) > end:
        months -= 1
    return months


def start_of(value: Temporal, unit: str) -> Temporal:
    if isinstance(value, datetime):
        value = value.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "week":
        return value - timedelta(days=value.weekday())
    if unit == "month":
        return value.replace(day=1)
    if unit == "quarter":
        return value.replace(month=(value.month - 1) // 3 * 3 + 1, day=1)
    if unit == "year":
        return value.replace(month=1, day=1)
    return value


class DateFunctions:
    """JMESPath `_func_` methods for dates; mixed into IntegrationFunctions."""

    @signature(arg("string"))
    def _func_to_date(self, value: str) -> str:
        moment = parse_temporal("to_date", value)
        return (moment.date() if isinstance(moment, datetime) else moment).isoformat()

    @signature(arg("string"), arg("string", optional=True))
    def _func_to_datetime(self, value: str, tz: str = "UTC") -> str:
        zone = _zone("to_datetime", tz)  # checked even when the value has its own offset
        moment = _as_datetime(parse_temporal("to_datetime", value))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    @signature(arg("string"), arg("string"))
    def _func_format_date(self, value: str, fmt: str) -> str:
        return parse_temporal("format_date", value).strftime(fmt)

    @signature(arg("string"), arg("string"))
    def _func_add_duration(self, value: str, duration: str) -> str:
        moment = parse_temporal("add_duration", value)
        step = parse_duration("add_duration", duration)
        return format_temporal(add_duration("add_duration", moment, step))

    @signature(arg("string"), arg("string"), arg("string"))
    def _func_date_diff(self, start: str, end: str, unit: str) -> int:
        a, b = _comparable(parse_temporal("date_diff", start), parse_temporal("date_diff", end))
        if unit == "months":
            return whole_months(a, b)
        if unit not in DIFF_UNITS:
            units = ", ".join([*DIFF_UNITS, "months"])
            raise FunctionArgumentError("date_diff", f"unknown unit {unit!r} (expected {units})")
        micros = (b - a) // timedelta(microseconds=1)
        per_unit = DIFF_UNITS[unit] * 1_000_000
        return micros // per_unit if micros >= 0 else -(-micros // per_unit)

    @signature(arg("string"))
    def _func_duration_seconds(self, duration: str) -> int | float:
        step = parse_duration("duration_seconds", duration)
        if step.months:
            raise FunctionArgumentError(
                "duration_seconds",
                f"{duration!r} has months or years, which have no fixed length in seconds",
            )
        return json_number(step.seconds)

    @signature(arg("string"), arg("string"))
    def _func_start_of(self, value: str, unit: str) -> str:
        if unit not in START_UNITS:
            expected = ", ".join(START_UNITS)
            raise FunctionArgumentError("start_of", f"unknown unit {unit!r} (expected {expected})")
        return format_temporal(start_of(parse_temporal("start_of", value), unit))

    @signature(arg("string"))
    def _func_end_of_month(self, value: str) -> str:
        moment = parse_temporal("end_of_month", value)
        last = days_in_month(moment.year, moment.month)
        return date(moment.year, moment.month, last).isoformat()


DATE_DOCS: tuple[FunctionDoc, ...] = (
    FunctionDoc(
        "to_date",
        "to_date(value: string) -> string",
        "dates",
        "The calendar date `YYYY-MM-DD` of a date or date-time string. A date-time keeps the "
        "date as written in its own offset; use `to_date(to_datetime(x))` for the UTC date.",
        (
            Ex("to_date(closed_at)", {"closed_at": "2026-03-01T23:30:00-05:00"}, "2026-03-01"),
            Ex("to_date(@)", "2026-03-01", "2026-03-01"),
            Ex("to_date(to_datetime(@))", "2026-03-01T23:30:00-05:00", "2026-03-02"),
        ),
    ),
    FunctionDoc(
        "to_datetime",
        "to_datetime(value: string, tz?: string) -> string",
        "dates",
        "An ISO 8601 UTC date-time `YYYY-MM-DDTHH:MM:SSZ` (fractions of a second are dropped). "
        "A value without an offset (or a plain date, read as midnight) is interpreted in the IANA "
        "time zone `tz`, default `UTC`; a value with an offset ignores `tz`. Ambiguous local times "
        "take the earlier occurrence.",
        (
            Ex("to_datetime(@)", "2026-03-01T10:15:00+01:00", "2026-03-01T09:15:00Z"),
            Ex("to_datetime(@, 'Europe/Berlin')", "2026-07-01T09:00:00", "2026-07-01T07:00:00Z"),
            Ex("to_datetime(@, 'America/New_York')", "2026-01-15", "2026-01-15T05:00:00Z"),
        ),
    ),
    FunctionDoc(
        "format_date",
        "format_date(value: string, format: string) -> string",
        "dates",
        "Formats a date or date-time with a Python `strftime` format (`%d.%m.%Y`, `%Y%m%d`, "
        "`%B %Y` with English month names). A date-time is formatted as written; convert it with "
        "`to_datetime` first to format in UTC.",
        (
            Ex("format_date(@, '%d.%m.%Y')", "2026-01-31", "31.01.2026"),
            Ex("format_date(@, '%Y%m%d-%H%M')", "2026-01-31T09:05:00Z", "20260131-0905"),
            Ex("format_date(@, '%B %Y')", "2026-02-14", "February 2026"),
        ),
    ),
    FunctionDoc(
        "add_duration",
        "add_duration(value: string, duration: string) -> string",
        "dates",
        "Adds a duration and keeps the input's form (a date stays a date, a date-time keeps its "
        "offset). Durations: `30d`, `2w`, `1h30m`, `45s`, `500ms`, or ISO 8601 `P1M`, "
        "`P1Y2M10DT2H`; "
        "a leading `-` subtracts. Months and years are calendar months, clamped to the month's "
        "last day; a date only takes whole days.",
        (
            Ex("add_duration(@, 'P1M')", "2026-01-31", "2026-02-28"),
            Ex("add_duration(@, '30d')", "2026-01-15", "2026-02-14"),
            Ex("add_duration(@, '1h30m')", "2026-01-31T23:00:00Z", "2026-02-01T00:30:00Z"),
            Ex("add_duration(@, '-1d')", "2026-03-01", "2026-02-28"),
            Ex(
                "add_duration(@, 'P1Y2M10DT2H')",
                "2026-01-01T08:00:00+01:00",
                "2027-03-11T10:00:00+01:00",
            ),
        ),
    ),
    FunctionDoc(
        "date_diff",
        "date_diff(start: string, end: string, unit: string) -> number",
        "dates",
        "Whole units from `start` to `end`, truncated toward zero and negative when `end` is "
        "earlier. Units: seconds, minutes, hours, days, weeks, months (whole calendar months, so "
        "Jan 31 to Feb 28 is one month). Dates count as midnight; if only one side has an offset, "
        "the other is read as UTC.",
        (
            Ex("date_diff(start, end, 'days')", {"start": "2026-01-01", "end": "2026-03-01"}, 59),
            Ex("date_diff(start, end, 'months')", {"start": "2026-01-31", "end": "2026-02-28"}, 1),
            Ex(
                "date_diff(start, end, 'hours')",
                {"start": "2026-01-01T10:00:00Z", "end": "2026-01-01T08:30:00Z"},
                -1,
            ),
        ),
    ),
    FunctionDoc(
        "duration_seconds",
        "duration_seconds(duration: string) -> number",
        "dates",
        "The length of a duration in seconds. Durations with months or years are rejected: they "
        "have no fixed length.",
        (
            Ex("duration_seconds(@)", "1h30m", 5400),
            Ex("duration_seconds(@)", "P1DT2H", 93600),
            Ex("duration_seconds(@)", "500ms", 0.5),
        ),
    ),
    FunctionDoc(
        "start_of",
        "start_of(value: string, unit: string) -> string",
        "dates",
        "The start of the day, ISO week (Monday), month, quarter or year containing the value; a "
        "date stays a date, a date-time becomes midnight in its own offset.",
        (
            Ex("start_of(@, 'week')", "2026-01-15", "2026-01-12"),
            Ex("start_of(@, 'quarter')", "2026-05-20T14:00:00Z", "2026-04-01T00:00:00Z"),
            Ex("start_of(@, 'month')", "2026-02-14", "2026-02-01"),
        ),
    ),
    FunctionDoc(
        "end_of_month",
        "end_of_month(value: string) -> string",
        "dates",
        "The last day of the value's month, as a date.",
        (
            Ex("end_of_month(@)", "2028-02-10", "2028-02-29"),
            Ex(
                "end_of_month(invoice_date)", {"invoice_date": "2026-04-30T18:00:00Z"}, "2026-04-30"
            ),
        ),
    ),
)

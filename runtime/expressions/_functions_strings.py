"""String functions: case, trimming, padding, slugs, regular expressions, stable ids."""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid
from functools import lru_cache
from typing import Any

from jmespath.functions import signature

from ._functions_base import FunctionArgumentError, FunctionDoc, arg, key_text
from ._functions_base import FunctionExample as Ex

MAX_WIDTH = 10_000
_TITLE_WORD = re.compile(r"(^|[\s\-])(\w)(\w*)")
_TRANSLITERATE = str.maketrans(
    {
        "ß": "ss",
        "æ": "ae",
        "Æ": "AE",
        "ø": "o",
        "Ø": "O",
        "œ": "oe",
        "Œ": "OE",
        "đ": "d",
        "Đ": "D",
        "ł": "l",
        "Ł": "L",
        "þ": "th",
        "Þ": "TH",
    }
)


@lru_cache(maxsize=256)
def compile_pattern(function: str, pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise FunctionArgumentError(
            function, f"invalid regular expression {pattern!r}: {exc}"
        ) from None


def _text(value: str | int | float) -> str:
    return value if isinstance(value, str) else str(key_text(value))


def _pad(function: str, value: str | int | float, width: int | float, char: str) -> str:
    if len(char) != 1:
        raise FunctionArgumentError(
            function, f"the pad character must be 1 character, not {char!r}"
        )
    if not float(width).is_integer() or not 0 <= width <= MAX_WIDTH:
        raise FunctionArgumentError(
            function, f"width must be a whole number from 0 to {MAX_WIDTH}, not {width!r}"
        )
    text = _text(value)
    return text.rjust(int(width), char) if function == "pad_left" else text.ljust(int(width), char)


class StringFunctions:
    """JMESPath `_func_` methods for strings; mixed into IntegrationFunctions."""

    @signature(arg("string"))
    def _func_upper(self, value: str) -> str:
        return value.upper()

    @signature(arg("string"))
    def _func_lower(self, value: str) -> str:
        return value.lower()

    @signature(arg("string"))
    def _func_trim(self, value: str) -> str:
        return value.strip()

    @signature(arg("string"))
    def _func_title(self, value: str) -> str:
        return _TITLE_WORD.sub(lambda m: m[1] + m[2].upper() + m[3].lower(), value)

    @signature(arg("string"), arg("string"), arg("string"))
    def _func_replace(self, value: str, old: str, new: str) -> str:
        if not old:
            raise FunctionArgumentError("replace", "the text to replace must not be empty")
        return value.replace(old, new)

    @signature(arg("string"), arg("string"))
    def _func_split(self, value: str, separator: str) -> list[str]:
        if not separator:
            raise FunctionArgumentError("split", "the separator must not be empty")
        return value.split(separator)

    @signature(arg("string", "number"), arg("number"), arg("string", optional=True))
    def _func_pad_left(self, value: str | int | float, width: int | float, char: str = " ") -> str:
        return _pad("pad_left", value, width, char)

    @signature(arg("string", "number"), arg("number"), arg("string", optional=True))
    def _func_pad_right(self, value: str | int | float, width: int | float, char: str = " ") -> str:
        return _pad("pad_right", value, width, char)

    @signature(arg("string"), arg("number"), arg("number", optional=True))
    def _func_substring(
        self, value: str, start: int | float, length: int | float | None = None
    ) -> str:
        if not float(start).is_integer() or (length is not None and not float(length).is_integer()):
            raise FunctionArgumentError("substring", "start and length must be whole numbers")
        if length is not None and length < 0:
            raise FunctionArgumentError("substring", f"length must not be negative, not {length}")
        begin = max(int(start) + len(value), 0) if start < 0 else int(start)
        return value[begin:] if length is None else value[begin : begin + int(length)]

    @signature(arg("string"))
    def _func_slugify(self, value: str) -> str:
        text = unicodedata.normalize("NFKD", value.translate(_TRANSLITERATE))
        text = text.encode("ascii", "ignore").decode("ascii").lower()
        return re.sub(r"[^a-z0-9]+", "-", text).strip("-")

    @signature(arg("string"), arg("string"))
    def _func_regex_match(self, value: str, pattern: str) -> bool:
        return compile_pattern("regex_match", pattern).search(value) is not None

    @signature(arg("string"), arg("string"), arg("string"))
    def _func_regex_replace(self, value: str, pattern: str, replacement: str) -> str:
        try:
            return compile_pattern("regex_replace", pattern).sub(replacement, value)
        except re.error as exc:
            raise FunctionArgumentError(
                "regex_replace", f"invalid replacement {replacement!r}: {exc}"
            ) from None

    @signature(arg(), arg(variadic=True))
    def _func_coalesce(self, *values: Any) -> Any:
        for value in values:  # a loop, not next(genexpr): templates call it on every render
            if value is not None and value != "":
                return value
        return None

    @signature(arg(), arg())
    def _func_default(self, value: Any, fallback: Any) -> Any:
        return fallback if value is None else value

    @signature(arg("string"), arg("string", "number"))
    def _func_uuid5(self, namespace: str, name: str | int | float) -> str:
        return uuid5_text(_namespace(namespace), _text(name))

    @signature(arg("string"))
    def _func_hash(self, value: str) -> str:
        return hashlib.sha256(value.encode("utf-8")).hexdigest()[:16]


_VARIANT_AND_VERSION_5 = (0x8000 << 48) | (5 << 76)
_CLEARED = ~((0xC000 << 48) | (0xF000 << 64))


def uuid5_text(namespace: uuid.UUID, name: str) -> str:
    """`str(uuid.uuid5(namespace, name))`, without building the UUID object on the way."""
    digest = hashlib.sha1(namespace.bytes + name.encode("utf-8"), usedforsecurity=False).digest()
    value = (int.from_bytes(digest[:16]) & _CLEARED) | _VARIANT_AND_VERSION_5
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


@lru_cache(maxsize=256)
def _namespace(name: str) -> uuid.UUID:
    """uuid5's namespace for a name; flows use a handful of names, each on every run."""
    return uuid.uuid5(uuid.NAMESPACE_URL, name)


STRING_DOCS: tuple[FunctionDoc, ...] = (
    FunctionDoc(
        "upper",
        "upper(value: string) -> string",
        "strings",
        "Upper case.",
        (Ex("upper(@)", "de01", "DE01"), Ex("upper(country)", {"country": "fr"}, "FR")),
    ),
    FunctionDoc(
        "lower",
        "lower(value: string) -> string",
        "strings",
        "Lower case.",
        (Ex("lower(@)", "Ada@Example.COM", "ada@example.com"), Ex("lower(@)", "EUR", "eur")),
    ),
    FunctionDoc(
        "trim",
        "trim(value: string) -> string",
        "strings",
        "Removes leading and trailing whitespace (spaces, tabs, line breaks).",
        (Ex("trim(@)", "  ACME Corp \n", "ACME Corp"), Ex("trim(@)", "   ", "")),
    ),
    FunctionDoc(
        "title",
        "title(value: string) -> string",
        "strings",
        "Capitalises each word (words are separated by whitespace or hyphens) and lower-cases "
        "the rest.",
        (
            Ex("title(@)", "ACME consulting GROUP", "Acme Consulting Group"),
            Ex("title(@)", "jean-luc o'neil", "Jean-Luc O'neil"),
        ),
    ),
    FunctionDoc(
        "replace",
        "replace(value: string, old: string, new: string) -> string",
        "strings",
        "Replaces every occurrence of the literal text `old` (see `regex_replace` for patterns).",
        (
            Ex("replace(@, ' ', '')", "DE 123 456 789", "DE123456789"),
            Ex("replace(@, '.', '/')", "crm.account", "crm/account"),
        ),
    ),
    FunctionDoc(
        "split",
        "split(value: string, separator: string) -> array",
        "strings",
        "Splits at every occurrence of a non-empty separator; `join` is the built-in inverse.",
        (
            Ex("split(@, ';')", "a@x.com;b@x.com", ["a@x.com", "b@x.com"]),
            Ex("split(@, ', ')", "Berlin, Paris, ", ["Berlin", "Paris", ""]),
        ),
    ),
    FunctionDoc(
        "pad_left",
        "pad_left(value: string|number, width: number, char?: string) -> string",
        "strings",
        "Pads on the left to `width` characters with `char` (default a space); longer values "
        "are kept whole. Numbers are padded as their digits.",
        (
            Ex("pad_left(cost_center, `6`, '0')", {"cost_center": 4711}, "004711"),
            Ex("pad_left(@, `5`)", "ab", "   ab"),
            Ex("pad_left(@, `2`, '0')", "12345", "12345"),
        ),
    ),
    FunctionDoc(
        "pad_right",
        "pad_right(value: string|number, width: number, char?: string) -> string",
        "strings",
        "Pads on the right to `width` characters with `char` (default a space), e.g. for "
        "fixed-width files.",
        (Ex("pad_right(@, `6`, '.')", "ab", "ab...."), Ex("pad_right(@, `4`)", "ab", "ab  ")),
    ),
    FunctionDoc(
        "substring",
        "substring(value: string, start: number, length?: number) -> string",
        "strings",
        "The characters from `start` (0-based; negative counts from the end), at most `length` "
        "of them, or up to the end.",
        (
            Ex("substring(@, `0`, `2`)", "DE123456789", "DE"),
            Ex("substring(@, `2`)", "DE123456789", "123456789"),
            Ex("substring(@, `-4`)", "4111111111111111", "1111"),
        ),
    ),
    FunctionDoc(
        "slugify",
        "slugify(value: string) -> string",
        "strings",
        "A URL- and id-safe slug: ASCII letters and digits in lower case joined by single "
        "hyphens (accents removed, ß as ss).",
        (
            Ex("slugify(@)", "Müller & Söhne GmbH", "muller-sohne-gmbh"),
            Ex("slugify(@)", "  Q3 Roll-out: Phase 2!", "q3-roll-out-phase-2"),
            Ex("slugify(@)", "Weißbier AG", "weissbier-ag"),
        ),
    ),
    FunctionDoc(
        "regex_match",
        "regex_match(value: string, pattern: string) -> boolean",
        "strings",
        "Whether the Python regular expression matches anywhere in the value; anchor with `^…$` "
        "to match the whole value. In a raw string literal `'…'` backslashes need no escaping.",
        (
            Ex("regex_match(@, '^[A-Z]{2}[0-9]{9}$')", "DE123456789", True),
            Ex("regex_match(@, '\\d')", "no digits", False),
            Ex(
                "accounts[?regex_match(email, '@example\\.com$')].id",
                {
                    "accounts": [
                        {"id": 1, "email": "a@example.com"},
                        {"id": 2, "email": "b@example.org"},
                    ]
                },
                [1],
            ),
        ),
    ),
    FunctionDoc(
        "regex_replace",
        "regex_replace(value: string, pattern: string, replacement: string) -> string",
        "strings",
        "Replaces every match of a Python regular expression; the replacement may refer to "
        "groups as `\\1` or `\\g<name>`.",
        (
            Ex("regex_replace(@, '[^0-9+]', '')", "+49 (30) 1234-567", "+49301234567"),
            Ex("regex_replace(@, '^(\\w+), (\\w+)$', '\\2 \\1')", "Lovelace, Ada", "Ada Lovelace"),
        ),
    ),
    FunctionDoc(
        "coalesce",
        "coalesce(value: any, ...fallbacks: any) -> any",
        "strings",
        "The first of two or more arguments that is neither null nor the empty string; null if "
        "there is none. "
        "Unlike the built-in `not_null`, empty strings are skipped too.",
        (
            Ex(
                "coalesce(mobile, phone, 'n/a')",
                {"mobile": "", "phone": "+49 30 1234"},
                "+49 30 1234",
            ),
            Ex("coalesce(nickname, name)", {"name": "Ada"}, "Ada"),
            Ex("coalesce(a, b)", {}, None),
        ),
    ),
    FunctionDoc(
        "default",
        "default(value: any, fallback: any) -> any",
        "strings",
        "`fallback` when `value` is null, else `value` (empty strings, 0 and false are kept).",
        (
            Ex("default(discount, `0`)", {}, 0),
            Ex("default(discount, `0`)", {"discount": 0.1}, 0.1),
            Ex("default(note, 'none')", {"note": ""}, ""),
        ),
    ),
    FunctionDoc(
        "uuid5",
        "uuid5(namespace: string, name: string|number) -> string",
        "strings",
        "A deterministic UUID (version 5) for `name` within a namespace, where the namespace is "
        "itself `uuid5(NAMESPACE_URL, namespace)`: the same inputs always give the same id, "
        "which makes it a stable external id or idempotency key.",
        (
            Ex(
                "uuid5('seamline.crm', id)",
                {"id": "0065g00000Xyz"},
                "62281630-5a56-53c0-b23d-147681dd22c9",
            ),
            Ex("uuid5('seamline.erp', `42`)", None, "cea62b8e-a9f3-58e1-a96b-e272135a4ed0"),
        ),
    ),
    FunctionDoc(
        "hash",
        "hash(value: string) -> string",
        "strings",
        "The first 16 hex characters of the SHA-256 of the UTF-8 text: a short, stable "
        "fingerprint (use `to_string` first for objects).",
        (
            Ex("hash(@)", "ACME Corp", "27de7f2960395e37"),
            Ex("hash(to_string(@))", {"a": 1}, "015abd7f5cc57a2d"),
        ),
    ),
)

"""Input lines of a generated module: the `.evt` text format and JSON Lines (SEMANTICS §1.1, §1.2).

`parse_event_line` classifies one line and returns what it is; a line that must be rejected
(§1.5) raises `EvtInputError` whose text is the message. The functions are pure: the driver
owns the batch time, the counts and the error reporting.

This is the hot path of every generated module, so the common shapes take the cheapest test
that decides them (first character, `str` methods) and fall back to the general, slower code
only when a line needs it.
"""

import importlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

_I64_MIN = -(1 << 63)
_I64_MAX = (1 << 63) - 1


class EvtInputError(ValueError):
    """A line that is rejected (SEMANTICS §1.5); `str(exc)` is the message for stderr."""


@dataclass(frozen=True, slots=True)
class BatchLine:
    """A valid `BATCH <n>` line: the new batch time, in ms."""

    time: int


# (event_type, timestamp in ms, fields): the arguments of the pipeline's push function.
ParsedEvent: TypeAlias = tuple[str, int, dict[str, Any]]
# None: an ignored line (empty or comment).
ParsedLine: TypeAlias = ParsedEvent | BatchLine | None


def parse_event_line(line: str, batch_time: int, scan: bool = True) -> ParsedLine:
    """Classify one input line (with or without its line terminator).

    Returns None for an ignored line, a `BatchLine` for `BATCH <n>`, or the event as
    `(event_type, timestamp, fields)`, where the timestamp follows DECISION D9: the `@` prefix,
    else a JSON line's own `timestamp` (§1.2), else `batch_time`.
    Raises `EvtInputError` for a line that must be rejected.
    `scan=False` promises that the line has no 19 digits in a row (the caller ran
    `_has_long_number` over a block of lines), which spares the per-line test.
    """
    s = line.strip()
    if not s:
        return None
    c = s[0]
    if c == "{":
        return _json_event(s, None, batch_time, scan)
    if c == "#" or (c == "/" and s[1:2] == "/"):
        return None
    if c == "@":
        return _timed_event(s, batch_time, scan)
    if c == "B" and s.startswith("BATCH") and (len(s) == 5 or s[5].isspace()):
        return BatchLine(_batch_time(s))
    return _text_event(s, batch_time)


def parse_evt_value(text: str) -> Any:
    """Parse one `.evt` value (SEMANTICS §1.1): bool, null, string, i64, float or array."""
    return _value(text.strip())


# ---------------------------------------------------------------------------------------------
# Line prefixes: BATCH and @<t>


def _excerpt(text: str) -> str:
    """Quote a piece of the input in a message without flooding stderr with a huge line."""
    if len(text) > 40:
        text = text[:37] + "..."
    return f"'{text}'"


def _digits(text: str) -> bool:
    # str.isdigit alone also accepts non-ASCII digits ('²', '٣') that int() would then parse.
    return text.isdigit() and text.isascii()


def _batch_time(s: str) -> int:
    parts = s.split()
    if len(parts) != 2 or not _digits(parts[1]):
        raise EvtInputError(f"invalid BATCH line {_excerpt(s)} (expected 'BATCH <ms>')")
    value = int(parts[1])
    if value > _I64_MAX:
        raise EvtInputError(f"BATCH time out of range: {_excerpt(parts[1])}")
    return value


def _timing_ms(prefix: str) -> int:
    """Milliseconds of an `@` prefix (without the `@`): `<digits>` + `ms`, `s`, `m` or nothing."""
    last = prefix[-1:]
    if last == "s":
        if prefix[-2:-1] == "m":
            digits, factor = prefix[:-2], 1
        else:
            digits, factor = prefix[:-1], 1000
    elif last == "m":
        digits, factor = prefix[:-1], 60_000
    else:
        digits, factor = prefix, 1
    if not (digits.isdigit() and digits.isascii()):
        raise EvtInputError(
            f"invalid timing prefix {_excerpt('@' + prefix)} "
            "(expected '@<digits>' followed by 'ms', 's', 'm' or nothing)"
        )
    value = int(digits) * factor
    if value > _I64_MAX:
        raise EvtInputError(f"timing prefix out of range: {_excerpt('@' + prefix)}")
    return value


def _timed_event(s: str, batch_time: int, scan: bool) -> ParsedEvent:
    if s[1:2].isspace() or len(s) == 1:
        raise EvtInputError("empty timing prefix '@'")
    parts = s[1:].split(None, 1)
    timestamp = _timing_ms(parts[0])
    if len(parts) < 2:
        raise EvtInputError(f"timing prefix {_excerpt('@' + parts[0])} has no event after it")
    rest = parts[1]
    if rest[0] == "{":
        return _json_event(rest, timestamp, batch_time, scan)
    return _text_event(rest, timestamp)


# ---------------------------------------------------------------------------------------------
# JSON lines


def _integer(text: str) -> int | float:
    """An integer literal of 19 characters or more: an int inside i64, else a float (§1.2;
    like Rust, not an i64 but a valid f64; too big even for that: inf)."""
    if len(text) <= 20:  # a sign and 19 digits at most: maybe inside i64
        value = int(text)
        if _I64_MIN <= value <= _I64_MAX:
            return value
    return float(text)  # also avoids int()'s 4,300-digit limit


# A JSON int outside i64 has 19 digits or more. The stdlib keeps it an int, orjson keeps it
# an int up to 2**64 and makes it a float beyond: a line (or block) with such a run of digits
# is decoded by the exact decoder, which makes it a float whatever the library (§1.2).
_DIGITS = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))  # digits -> '0'
_LONG_RUN = b"0" * 19


def _has_long_number(data: bytes) -> bool:
    """Whether `data` holds 19 ASCII digits in a row (one pass in C, so the read loop can ask
    once per block instead of once per line)."""
    return data.translate(_DIGITS).find(_LONG_RUN) >= 0


# Deeper JSON is rejected, by either library: the stdlib's limit depends on the caller's stack
# and orjson's is 1024, and the runtime's recursive functions (output, equality) need room too.
_JSON_MAX_DEPTH = 256
# A text shorter than this cannot be nested deeper than _JSON_MAX_DEPTH.
_DEEP_TEXT = 2 * _JSON_MAX_DEPTH + 2


def _maybe_too_deep(s: str) -> bool:
    """A cheap test that is true for every JSON text nested deeper than _JSON_MAX_DEPTH."""
    return len(s) >= _DEEP_TEXT and s.count("[") + s.count("{") > _JSON_MAX_DEPTH


def _too_deep(value: Any) -> bool:
    """Whether a decoded JSON value nests more than _JSON_MAX_DEPTH containers."""
    todo: list[tuple[Any, int]] = [(value, 1)]
    while todo:
        item, depth = todo.pop()
        if depth > _JSON_MAX_DEPTH:
            return True
        if type(item) is dict:
            item = item.values()
        elif type(item) is not list:
            continue
        todo.extend((child, depth + 1) for child in item if type(child) in (dict, list))
    return False


def _make_json_loads(fast: Callable[[str], Any] | None) -> Callable[[str, bool], Any]:
    """The JSON parser of one stripped line, `loads(s, scan)`: `fast` (orjson) when given,
    else the stdlib. A line with 19 digits in a row (looked for unless `scan` is false: the
    caller knows there is none) is decoded by the stdlib with the ints outside i64 made floats.

    orjson rejects a few inputs the stdlib accepts (ints beyond 64 bits, NaN, lone surrogates);
    those fall back to the exact decoder, so values never depend on whether orjson is installed.
    A text nested deeper than _JSON_MAX_DEPTH raises RecursionError with either library.
    """
    # raw_decode skips json.loads' wrapper and its trailing-whitespace regex; the line is
    # already stripped, so "ends where the text ends" is the only check left.
    plain_decode = json.JSONDecoder().raw_decode
    exact_decode = json.JSONDecoder(parse_int=_integer_token).raw_decode

    def stdlib(s: str, decode: Callable[[str], tuple[Any, int]]) -> Any:
        value, end = decode(s)
        if end != len(s):
            rest = s[end:]
            raise json.JSONDecodeError("Extra data", s, end + len(rest) - len(rest.lstrip()))
        return value

    deep_text = _DEEP_TEXT

    # The per-line path of every JSON line without orjson: calls are inlined where cheap.
    def loads(s: str, scan: bool) -> Any:
        if scan and _has_long_number(s.encode("utf-8", "surrogatepass")):
            value = stdlib(s, exact_decode)
        elif fast is None:
            value, end = plain_decode(s)
            if end != len(s):
                value = stdlib(s, plain_decode)  # raises the "Extra data" error
        else:
            try:
                value = fast(s)
            except Exception:
                value = stdlib(s, exact_decode)
        if len(s) >= deep_text and _maybe_too_deep(s) and _too_deep(value):
            raise RecursionError
        return value

    return loads


def _integer_token(text: str) -> int | float:
    # The stdlib decoder's parse_int: most ints are short, and then int() is all it takes.
    return int(text) if len(text) < 19 else _integer(text)


def _find_orjson() -> Callable[[str], Any] | None:
    try:
        module = importlib.import_module("orjson")
    except ImportError:
        return None
    loads: Callable[[str], Any] | None = getattr(module, "loads", None)
    return loads


_json_loads = _make_json_loads(_find_orjson())


def _json_error(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON: {exc.msg[:1].lower()}{exc.msg[1:]} at column {exc.colno}"
    if isinstance(exc, RecursionError):
        return f"invalid JSON: nested more than {_JSON_MAX_DEPTH} levels deep"
    return f"invalid JSON: {exc}"


def _json_event(s: str, at: int | None, batch_time: int, scan: bool) -> ParsedEvent:
    """A JSON object line; `at` is its `@` prefix time, if any (SEMANTICS §1.2)."""
    if s[-1] == ";":
        s = s.rstrip(";").rstrip()
    try:
        obj = _json_loads(s, scan)
    except (ValueError, RecursionError) as exc:
        raise EvtInputError(_json_error(exc)) from None
    if type(obj) is not dict:  # a valid JSON text that starts with '{' is an object; be sure
        raise EvtInputError("invalid JSON event: not an object")
    event_type = obj.get("event_type")
    if type(event_type) is not str or not event_type:
        raise EvtInputError("JSON event has no 'event_type' string")
    # obj itself is the "absent" marker: it cannot be one of its own values.
    fields = obj.get("fields", obj)
    if fields is obj:
        fields = obj.get("data", obj)
        if fields is obj:
            fields = {}
        elif type(fields) is not dict:
            raise EvtInputError("JSON event 'data' is not an object")
    elif type(fields) is not dict:
        raise EvtInputError("JSON event 'fields' is not an object")
    if at is not None:  # the `@` prefix decides: the line's own timestamp is not used
        return (event_type, at, fields)
    timestamp = obj.get("timestamp")
    if type(timestamp) is int and _I64_MIN <= timestamp <= _I64_MAX:  # the usual case
        return (event_type, timestamp, fields)
    if timestamp is None:  # absent or null
        return (event_type, batch_time, fields)
    return (event_type, _json_timestamp(timestamp), fields)


def _json_timestamp(value: Any) -> int:
    """A JSON `timestamp`: a whole number inside i64, in ms (`5000`, `5000.0`, `5e3`)."""
    kind = type(value)
    if kind is int:
        if _I64_MIN <= value <= _I64_MAX:
            return int(value)
    elif kind is float:
        if not value.is_integer():
            raise EvtInputError(f"JSON event 'timestamp' is not a whole number of ms: {value!r}")
        # Strictly inside ±2**63: an int just outside i64 becomes one of those floats.
        if _I64_MIN < value < -_I64_MIN:
            return int(value)
    else:  # a bool, a string, an array or an object
        text = json.dumps(value, ensure_ascii=False)
        raise EvtInputError(f"JSON event 'timestamp' is not a number: {_excerpt(text)}")
    raise EvtInputError(f"JSON event 'timestamp' out of range: {value!r}")


# ---------------------------------------------------------------------------------------------
# `Type { name: value, ... }` and `Type(v0, v1, ...)`

# field_0, field_1, ...: precomputed so positional events do not format names per field.
_FIELD_NAMES = tuple(f"field_{i}" for i in range(64))


def _text_event(s: str, timestamp: int) -> ParsedEvent:
    if s[-1] == ";":
        s = s.rstrip(";").rstrip()
    brace = s.find("{")
    paren = s.find("(")
    if brace < 0 and paren < 0:
        raise EvtInputError(
            "not an event (expected 'Type { name: value, ... }', 'Type(value, ...)' "
            f"or a JSON object): {_excerpt(s)}"
        )
    positional = paren >= 0 and (brace < 0 or paren < brace)
    start = paren if positional else brace
    event_type = s[:start].rstrip()
    if not event_type.isidentifier():
        if not event_type:
            raise EvtInputError(f"missing event type before {s[start]!r}")
        raise EvtInputError(f"invalid event type {_excerpt(event_type)}")
    body = s[start + 1 :]
    # Only a final closer is dropped: text after it stays in the last value (Ref).
    if body and body[-1] == (")" if positional else "}"):
        body = body[:-1]
    try:
        fields = _positional(body) if positional else _named(body)
    except RecursionError:
        raise EvtInputError("value nested too deeply") from None
    return (event_type, timestamp, fields)


def _named(body: str) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    value_of = _value
    for item in _split(body):
        if not item:
            continue
        name, colon, value = item.partition(":")
        if not colon:
            raise EvtInputError(f"field without ':' {_excerpt(item)}")
        name = name.rstrip()
        if not name:
            raise EvtInputError(f"missing field name in {_excerpt(item)}")
        fields[name] = value_of(value.lstrip())
    return fields


def _positional(body: str) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    names = _FIELD_NAMES
    value_of = _value
    # An empty item is skipped but still takes its position: `P(1,,3)` has field_0 and field_2.
    for i, item in enumerate(_split(body)):
        if item:
            fields[names[i] if i < 64 else f"field_{i}"] = value_of(item)
    return fields


# Characters that make a field list need the full scan: escapes and nesting. Double quotes
# alone only need it when a quoted part contains a comma.
_NESTING_RE = re.compile(r"[\\\[\]{}()]")
_SCAN_RE = re.compile(r'[,"\\\[\]{}()]')


def _split(body: str) -> list[str]:
    """Split a field list on commas outside double quotes and `[]{}()` nesting (Ref).

    Items are stripped; empty items in the middle are kept (they take a position), a
    final empty item is dropped.
    """
    if _NESTING_RE.search(body) is None and (
        '"' not in body or "," not in "".join(body.split('"')[1::2])
    ):
        items = [item.strip() for item in body.split(",")]
    else:
        items = _split_nested(body)
    if items and not items[-1]:
        items.pop()
    return items


def _split_nested(body: str) -> list[str]:
    # Visit only the special characters; the reference walks every character with the same
    # state: a backslash escapes the next character anywhere, '"' toggles a string, brackets
    # count outside strings (the depth may go negative, then no comma splits).
    items: list[str] = []
    start = 0
    depth = 0
    in_string = False
    escaped = -1
    for match in _SCAN_RE.finditer(body):
        i = match.start()
        if i == escaped:
            continue
        ch = body[i]
        if ch == "\\":
            escaped = i + 1
        elif ch == '"':
            in_string = not in_string
        elif in_string:
            continue
        elif ch == ",":
            if depth == 0:
                items.append(body[start:i].strip())
                start = i + 1
        elif ch in "[{(":
            depth += 1
        else:
            depth -= 1
    items.append(body[start:].strip())
    return items


# ---------------------------------------------------------------------------------------------
# Values

_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "'": "'", "\\": "\\"}
_ESCAPE_RE = re.compile(r"""\\([nt"'\\])""")


def _unescape_one(match: re.Match[str]) -> str:
    return _ESCAPES[match.group(1)]


def _value(s: str) -> Any:
    """One stripped value; the order of the tests follows the reference's `parse_value`."""
    if not s:
        return ""
    c = s[0]
    if c in "0123456789+-.":
        if s.isascii():
            if s.isdigit() or (c in "+-" and s[1:].isdigit()):
                if len(s) < 19:  # cannot be outside i64
                    return int(s)
                return _integer(s)
            return _float_or_text(s)
        return s
    if c == '"' or c == "'":
        if len(s) > 1 and s[-1] == c:
            inner = s[1:-1]
            if "\\" in inner:
                # One left-to-right pass: `\\n` is a backslash then 'n', `\x` stays `\x`.
                return _ESCAPE_RE.sub(_unescape_one, inner)
            return inner
        return s
    if c == "[" and s[-1] == "]":
        return [_value(item) for item in _split(s[1:-1]) if item]
    if s == "true":
        return True
    if s == "false":
        return False
    if s == "null" or s == "nil":
        return None
    if c in "iInN":  # inf, infinity, nan in any case, like Rust's f64 parser
        return _float_or_text(s)
    return s


def _float_or_text(s: str) -> Any:
    # Python's float() accepts more than Rust's f64 parser only through '_' separators and
    # non-ASCII digits; excluding those makes the two grammars the same.
    if s.isascii() and "_" not in s:
        try:
            return float(s)
        except ValueError:
            pass
    return s

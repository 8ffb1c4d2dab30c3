"""vpl_runtime.evt (input lines, SEMANTICS §1.1/§1.2) and vpl_runtime.output (§1.3)."""

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vpl_runtime import evt, output
from vpl_runtime.evt import BatchLine, EvtInputError, parse_event_line, parse_evt_value


def event(line: str, batch_time: int = 0) -> tuple[str, int, dict[str, Any]]:
    parsed = parse_event_line(line, batch_time)
    assert isinstance(parsed, tuple), parsed
    return parsed


def fields(line: str) -> dict[str, Any]:
    return event(line)[2]


def rejected(line: str, batch_time: int = 0) -> str:
    with pytest.raises(EvtInputError) as info:
        parse_event_line(line, batch_time)
    return str(info.value)


def same(a: Any, b: Any) -> bool:
    """Equality that tells int from float and bool from int, and NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


# ---------------------------------------------------------------------------------------------
# Line classification


@pytest.mark.parametrize(
    "line", ["", "   ", "\n", "\r\n", "# comment", "   # indented", "// comment", "//", "#"]
)
def test_ignored_lines(line: str) -> None:
    assert parse_event_line(line, 5) is None


def test_single_slash_is_not_a_comment() -> None:
    assert "not an event" in rejected("/ not a comment")


def test_no_trailing_comment_after_closing_brace() -> None:
    # Ref: text after the closing brace becomes part of the last value.
    assert fields("E { a: 1 } # c") == {"a": "1 } # c"}


@pytest.mark.parametrize(
    ("line", "ms"),
    [("BATCH 50", 50), ("BATCH 0", 0), ("  BATCH   7  ", 7), ("BATCH\t9", 9), ("BATCH 007", 7)],
)
def test_batch_lines(line: str, ms: int) -> None:
    assert parse_event_line(line, 123) == BatchLine(ms)


@pytest.mark.parametrize(
    "line",
    ["BATCH", "BATCH x", "BATCH -1", "BATCH 1.5", "BATCH 1 2", "BATCH +5", "BATCH ²", "BATCH 1s"],
)
def test_bad_batch_lines_are_rejected(line: str) -> None:
    assert "BATCH" in rejected(line)


def test_batch_out_of_range() -> None:
    assert "out of range" in rejected(f"BATCH {2**63}")


def test_word_starting_with_batch_is_an_event_type() -> None:
    assert event("BATCHED { a: 1 }") == ("BATCHED", 0, {"a": 1})


def test_event_takes_the_batch_time() -> None:
    assert event("P(1)", 3000) == ("P", 3000, {"field_0": 1})


@pytest.mark.parametrize(
    ("prefix", "ms"),
    [("@100ms", 100), ("@2s", 2000), ("@1m", 60_000), ("@7", 7), ("@0", 0), ("@0ms", 0)],
)
def test_timing_prefixes(prefix: str, ms: int) -> None:
    assert event(f"{prefix} P(1)", 50) == ("P", ms, {"field_0": 1})
    assert event(f"{prefix}\tP(1)", 50)[1] == ms


@pytest.mark.parametrize(
    "line", ["@1h P(1)", "@1.5s P(1)", "@abc P(1)", "@-5 P(1)", "@+5 P(1)", "@s P(1)", "@ms P(1)"]
)
def test_bad_timing_prefixes(line: str) -> None:
    message = rejected(line)
    assert message.startswith("invalid timing prefix '@"), message


@pytest.mark.parametrize("line", ["@5s", "@5s   ", "@100"])
def test_timing_prefix_without_event(line: str) -> None:
    assert "has no event after it" in rejected(line)


@pytest.mark.parametrize("line", ["@", "@ P(1)"])
def test_empty_timing_prefix(line: str) -> None:
    assert "empty timing prefix" in rejected(line)


def test_timing_prefix_out_of_range() -> None:
    assert "out of range" in rejected(f"@{2**63 // 1000 + 1}s P(1)")
    assert event(f"@{2**63 - 1} P(1)")[1] == 2**63 - 1


def test_timing_prefix_followed_by_a_non_event() -> None:
    assert "not an event" in rejected("@5s # comment")
    assert "not an event" in rejected("@5s BATCH 5")


# ---------------------------------------------------------------------------------------------
# Named and positional events


def test_named_event() -> None:
    assert event('Order { id: 1, sym: "A" }', 9) == ("Order", 9, {"id": 1, "sym": "A"})


def test_named_event_without_spaces() -> None:
    assert event("Order{id:1,sym:x}") == ("Order", 0, {"id": 1, "sym": "x"})


@pytest.mark.parametrize("line", ["E {}", "E { }", "E{", "E {  ,  , }"])
def test_empty_named_event(line: str) -> None:
    assert event(line) == ("E", 0, {})


def test_positional_event() -> None:
    assert event('P(1, "x", 2.5)') == ("P", 0, {"field_0": 1, "field_1": "x", "field_2": 2.5})


@pytest.mark.parametrize("line", ["P()", "P( )", "P("])
def test_empty_positional_event(line: str) -> None:
    assert event(line) == ("P", 0, {})


def test_positional_empty_items_keep_their_position() -> None:
    assert fields("P(1,,3)") == {"field_0": 1, "field_2": 3}
    assert fields("P(1, 2,)") == {"field_0": 1, "field_1": 2}
    assert fields("P(, 1)") == {"field_1": 1}


def test_positional_many_fields() -> None:
    values = ", ".join(str(i) for i in range(100))
    assert fields(f"P({values})") == {f"field_{i}": i for i in range(100)}


def test_trailing_semicolons_are_ignored() -> None:
    assert fields("E { a: 1 };") == {"a": 1}
    assert fields("P(1, 2) ;;") == {"field_0": 1, "field_1": 2}
    assert event('{"event_type": "J", "fields": {"a": 1}};') == ("J", 0, {"a": 1})


def test_duplicate_fields_last_wins() -> None:
    assert fields("E { a: 1, b: 2, a: 3 }") == {"a": 3, "b": 2}


def test_empty_items_are_skipped() -> None:
    assert fields("E { , a: 1,, b: 2, }") == {"a": 1, "b": 2}


def test_item_split_at_first_colon() -> None:
    assert fields("E { t: 12:30:00, u:v }") == {"t": "12:30:00", "u": "v"}


def test_field_without_colon_is_rejected() -> None:
    assert "field without ':'" in rejected("E { a: 1, oops }")


def test_field_without_name_is_rejected() -> None:
    assert "missing field name" in rejected("E { : 1 }")


def test_commas_inside_nesting_and_double_quotes_do_not_split() -> None:
    line = 'E { s: "a,b", l: [1, 2], m: {x: 1, y: 2}, c: f(1, 2), e: "q\\",r" }'
    assert fields(line) == {
        "s": "a,b",
        "l": [1, 2],
        "m": "{x: 1, y: 2}",
        "c": "f(1, 2)",
        "e": 'q",r',
    }


def test_commas_inside_single_quotes_split() -> None:
    # Only double quotes protect commas (Ref): the second item has no ':'.
    assert "field without ':'" in rejected("E { s: 'a,b' }")
    assert fields("P('a,b')") == {"field_0": "'a", "field_1": "b'"}


def test_brackets_inside_double_quotes_do_not_nest() -> None:
    assert fields('E { a: "[", b: 2 }') == {"a": "[", "b": 2}


def test_unbalanced_closer_stops_splitting() -> None:
    # The reference's depth goes negative and no later comma splits.
    assert fields("E { a: ], b: 1 }") == {"a": "], b: 1"}


def test_first_opening_bracket_decides_the_form() -> None:
    assert fields("P(1, {a: 2})") == {"field_0": 1, "field_1": "{a: 2}"}
    assert fields("E { f: g(1) }") == {"f": "g(1)"}


def test_only_one_closing_brace_is_dropped() -> None:
    assert fields("E {m: {a: 1}}") == {"m": "{a: 1}"}


def test_unclosed_event_is_accepted_like_the_reference() -> None:
    assert fields("E { a: 1") == {"a": 1}


@pytest.mark.parametrize("line", ["status: active", "hello", "E", "42"])
def test_line_without_brace_or_paren_is_rejected(line: str) -> None:
    assert "not an event" in rejected(line)


def test_missing_event_type_is_rejected() -> None:
    assert "missing event type" in rejected("(1, 2)")


@pytest.mark.parametrize("line", ["foo bar { a: 1 }", "x = f(1)", "1E { a: 1 }", "E-1(2)"])
def test_invalid_event_type_is_rejected(line: str) -> None:
    assert "invalid event type" in rejected(line)


def test_long_lines_are_shortened_in_messages() -> None:
    message = rejected("x" * 1000)
    assert len(message) < 200 and "..." in message


def test_unicode_text() -> None:
    assert event('Évt { nom: "café", v: naïve }') == ("Évt", 0, {"nom": "café", "v": "naïve"})


def test_deep_nesting_is_rejected_not_crashing() -> None:
    message = rejected("E { a: " + "[" * 5000 + "]" * 5000 + " }")
    assert "nested too deeply" in message


# ---------------------------------------------------------------------------------------------
# Values


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True),
        ("false", False),
        ("null", None),
        ("nil", None),
        ('"double"', "double"),
        ("'single'", "single"),
        ('""', ""),
        ("''", ""),
        ("42", 42),
        ("-7", -7),
        ("+5", 5),
        ("007", 7),
        ("-0", 0),
        (str(2**63 - 1), 2**63 - 1),
        (str(-(2**63)), -(2**63)),
        (str(2**63), float(2**63)),
        (str(-(2**63) - 1), -float(2**63)),
        ("99999999999999999999", 1e20),
        ("2.5", 2.5),
        ("-2.5", -2.5),
        ("1e3", 1000.0),
        ("1E3", 1000.0),
        ("1.5e-3", 0.0015),
        ("+1.5E+3", 1500.0),
        (".5", 0.5),
        ("5.", 5.0),
        ("1.", 1.0),
        ("1e400", math.inf),
        ("inf", math.inf),
        ("-inf", -math.inf),
        ("+Infinity", math.inf),
        ("INF", math.inf),
        ("nan", math.nan),
        ("NaN", math.nan),
        ("-nan", math.nan),
        ("[]", []),
        ("[ ]", []),
        ('[1, "two", [3.5]]', [1, "two", [3.5]]),
        ("[1,,2,]", [1, 2]),
        ('["a,b", c]', ["a,b", "c"]),
        ("[[], [[]]]", [[], [[]]]),
        ("hello world", "hello world"),
        ("{a: 1}", "{a: 1}"),
        ("", ""),
        ("1_000", "1_000"),
        ("1_0.5", "1_0.5"),
        ("٣", "٣"),
        ("1e", "1e"),
        ("--1", "--1"),
        ("+", "+"),
        ("-", "-"),
        (".", "."),
        ("1.2.3", "1.2.3"),
        ("0x10", "0x10"),
        ("infinite", "infinite"),
        ("nope", "nope"),
        ("True", "True"),
        ("NULL", "NULL"),
        ('"unterminated', '"unterminated'),
        ("\"mixed'", "\"mixed'"),
        ('"', '"'),
        ("'", "'"),
        ("[1, 2", "[1, 2"),
        ("  42  ", 42),
    ],
)
def test_values(text: str, value: Any) -> None:
    assert same(parse_evt_value(text), value), parse_evt_value(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (r'"a\nb"', "a\nb"),
        (r'"a\tb"', "a\tb"),
        (r'"say \"hi\""', 'say "hi"'),
        (r'"it\'s"', "it's"),
        (r"'it\'s'", "it's"),
        (r'"back\\slash"', "back\\slash"),
        (r'"\x"', "\\x"),
        (r'"\r\0"', "\\r\\0"),
        (r'"\\n"', "\\n"),  # left to right: an escaped backslash, then a plain 'n'
        (r'"\\\n"', "\\\n"),
        ('"end\\"', "end\\"),
        (r'"a\tb \"q\" \x"', 'a\tb "q" \\x'),
    ],
)
def test_string_escapes(text: str, value: str) -> None:
    assert parse_evt_value(text) == value


def test_ints_and_floats_are_distinct() -> None:
    values = fields("E { i: 5, f: 5.0, e: 5e0 }")
    assert [type(v) for v in values.values()] == [int, float, float]


def test_conformance_067_line() -> None:
    line = (
        '@1500 Ev { s1: "double", s2: \'single\', esc: "a\\tb \\"q\\" \\x", i: 42, neg: -7, '
        'f: 2.5, sci: 1e3, b: true, n: nil, arr: [1, "two", [3.5]], empty: [], '
        "bare: hello world, nested: {a: 1} }"
    )
    expected = {
        "s1": "double",
        "s2": "single",
        "esc": 'a\tb "q" \\x',
        "i": 42,
        "neg": -7,
        "f": 2.5,
        "sci": 1000.0,
        "b": True,
        "n": None,
        "arr": [1, "two", [3.5]],
        "empty": [],
        "bare": "hello world",
        "nested": "{a: 1}",
    }
    name, timestamp, values = event(line, 77)
    assert (name, timestamp) == ("Ev", 1500)
    assert same(values, expected)


# ---------------------------------------------------------------------------------------------
# JSON lines


def test_json_line_with_fields() -> None:
    line = '{"event_type": "T", "timestamp": 1500, "fields": {"a": 1, "b": 2.0}}'
    name, timestamp, values = event(line, 9)
    assert (name, timestamp) == ("T", 1500)
    assert same(values, {"a": 1, "b": 2.0})


def test_json_line_with_data_alias() -> None:
    assert event('{"event_type": "T", "data": {"a": 1}}') == ("T", 0, {"a": 1})


def test_json_fields_wins_over_data() -> None:
    line = '{"event_type": "T", "data": {"a": 1}, "fields": {"b": 2}}'
    assert fields(line) == {"b": 2}


def test_json_line_without_fields() -> None:
    assert event('{"event_type": "T"}') == ("T", 0, {})


@pytest.mark.parametrize("timestamp", ['"timestamp": null, ', ""])
def test_json_timestamp_missing_or_null_takes_the_batch_time(timestamp: str) -> None:
    line = '{"event_type": "T", ' + timestamp + '"fields": {}}'
    assert event(line, 3000)[1] == 3000
    assert event(line)[1] == 0


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("5000", 5000),
        ("5000.0", 5000),
        ("5e3", 5000),
        ("5.0E+3", 5000),
        ("-0.0", 0),
        ("-5", -5),
        ("9223372036854775807", (1 << 63) - 1),
        ("-9223372036854775808", -(1 << 63)),
        ("-9.223372036854774784e18", -(1 << 63) + 1024),
    ],
)
def test_json_timestamp_whole_numbers(text: str, ms: int) -> None:
    """§1.2 (revised): a whole number inside i64, int or float, is that many ms."""
    _, timestamp, _ = event('{"event_type": "T", "timestamp": ' + text + "}", 3)
    assert type(timestamp) is int
    assert timestamp == ms


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('"5000"', """JSON event 'timestamp' is not a number: '"5000"'"""),
        ("true", "JSON event 'timestamp' is not a number: 'true'"),
        ("false", "JSON event 'timestamp' is not a number: 'false'"),
        ("[1]", "JSON event 'timestamp' is not a number: '[1]'"),
        ('{"ms": 1}', """JSON event 'timestamp' is not a number: '{"ms": 1}'"""),
        ("1.5", "JSON event 'timestamp' is not a whole number of ms: 1.5"),
        ("NaN", "JSON event 'timestamp' is not a whole number of ms: nan"),
        ("-Infinity", "JSON event 'timestamp' is not a whole number of ms: -inf"),
        ("1e30", "JSON event 'timestamp' out of range: 1e+30"),
        ("9.3e18", "JSON event 'timestamp' out of range: 9.3e+18"),
        # Outside i64, an int is a float (§1.2): the message says which value was refused.
        ("9223372036854775808", "JSON event 'timestamp' out of range: 9.223372036854776e+18"),
        ("-9223372036854775809", "JSON event 'timestamp' out of range: -9.223372036854776e+18"),
        ("-9.223372036854775808e18", "JSON event 'timestamp' out of range: -9.223372036854776e+18"),
        ("1" + "0" * 400, "JSON event 'timestamp' is not a whole number of ms: inf"),
    ],
)
def test_json_timestamp_that_is_not_a_whole_number_in_range_rejects_the_line(
    text: str, message: str
) -> None:
    """Before §1.2's revision these became the batch time (0), merging time windows."""
    assert rejected('{"event_type": "T", "timestamp": ' + text + ', "fields": {}}') == message


def test_json_timestamp_is_checked_inside_evt_files_too() -> None:
    # The same line after an `@` prefix: the prefix decides, the JSON timestamp is not used.
    line = '{"event_type": "T", "timestamp": "soon", "fields": {}}'
    assert "'timestamp' is not a number" in rejected(line, 7)
    assert event("@7 " + line) == ("T", 7, {})


def test_at_prefix_overrides_json_timestamp() -> None:
    line = '@2s {"event_type": "P", "timestamp": 5, "data": {"field_0": 4}}'
    assert event(line, 50) == ("P", 2000, {"field_0": 4})


def test_json_value_types() -> None:
    line = (
        '{"event_type": "T", "fields": {"i": 3, "f": 3.0, "e": 1e2, "s": "x\\u00e9", '
        '"b": false, "n": null, "l": [1, [2]], "m": {"k": {"z": 1}}, '
        '"big": 123456789012345678901234567890, "u64": 18446744073709551615, '
        '"nested": [9223372036854775808, {"k": -9223372036854775809}], "nan": NaN}}'
    )
    values = fields(line)
    expected = {
        "i": 3,
        "f": 3.0,
        "e": 100.0,
        "s": "xé",
        "b": False,
        "n": None,
        "l": [1, [2]],
        "m": {"k": {"z": 1}},
        # outside i64, ints are floats (§1.2), also nested, whatever the JSON library
        "big": 1.2345678901234568e29,
        "u64": 1.8446744073709552e19,
        "nested": [9.223372036854776e18, {"k": -9.223372036854776e18}],
        "nan": math.nan,
    }
    assert same(values, expected)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{", "invalid JSON"),
        ('{"event_type": "T",}', "invalid JSON"),
        ('{"event_type": "T"} extra', "invalid JSON: extra data at column 21"),
        ("{ a: 1 }", "invalid JSON"),
        ('{"fields": {}}', "no 'event_type' string"),
        ('{"event_type": 5}', "no 'event_type' string"),
        ('{"event_type": ""}', "no 'event_type' string"),
        ('{"event_type": "T", "fields": [1]}', "'fields' is not an object"),
        ('{"event_type": "T", "fields": null}', "'fields' is not an object"),
        ('{"event_type": "T", "data": 3}', "'data' is not an object"),
        ("@5 {bad", "invalid JSON"),
    ],
)
def test_bad_json_lines(line: str, message: str) -> None:
    assert message in rejected(line)


def test_deep_json_is_rejected_not_crashing() -> None:
    line = '{"event_type": "T", "fields": {"a": ' + "[" * 100_000 + "]" * 100_000 + "}}"
    assert "invalid JSON" in rejected(line)


def test_json_loads_falls_back_to_stdlib_when_the_fast_parser_fails() -> None:
    calls: list[str] = []

    def failing_fast(text: str) -> Any:
        calls.append(text)
        raise ValueError("unsupported")

    loads = evt._make_json_loads(failing_fast)
    assert loads('{"a": NaN}', True)["a"] != loads('{"a": NaN}', False)["a"]  # NaN, stdlib
    assert calls == ['{"a": NaN}', '{"a": NaN}']
    with pytest.raises(json.JSONDecodeError):
        loads("{oops", False)


def test_json_loads_uses_the_fast_parser_when_it_succeeds() -> None:
    loads = evt._make_json_loads(lambda text: {"fast": text})
    assert loads("{}", True) == {"fast": "{}"}


def test_stdlib_json_loads_rejects_trailing_text() -> None:
    loads = evt._make_json_loads(None)
    assert loads('{"a": [1, 2.5]}', True) == {"a": [1, 2.5]}
    with pytest.raises(json.JSONDecodeError):
        loads("{} {}", False)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab1.-e@ \"'\\,:;[]{}()#/BATCHms\t")), max_size=40))
def test_any_line_parses_or_is_rejected(line: str) -> None:
    try:
        result = parse_event_line(line, 0)
    except EvtInputError:
        return
    assert result is None or isinstance(result, (BatchLine, tuple))


# ---------------------------------------------------------------------------------------------
# Output


def emit_lines(values: dict[str, Any], stream: str = "S", timestamp: int = 1) -> list[str]:
    written: list[str] = []
    output.json_line_emitter(written.append, stream)(stream, timestamp, values)
    return written


def test_output_line_format() -> None:
    assert emit_lines({"a": 1, "b": "x"}, "Pos", 1500) == [
        '{"stream": "Pos", "timestamp": 1500, "fields": {"a": 1, "b": "x"}}\n'
    ]


def test_output_ints_and_floats() -> None:
    line = emit_lines({"i": 60, "f": 60.0, "g": 0.1, "e": 1e20, "z": -0.0, "b": True})[0]
    assert '"fields": {"i": 60, "f": 60.0, "g": 0.1, "e": 1e+20, "z": -0.0, "b": true}' in line


def test_output_nan_and_inf_are_null_at_any_depth() -> None:
    values = {"n": math.nan, "p": math.inf, "l": [1.5, -math.inf], "m": {"k": [math.nan]}}
    line = emit_lines(values)[0]
    assert line.endswith(
        '"fields": {"n": null, "p": null, "l": [1.5, null], "m": {"k": [null]}}}\n'
    )
    assert json.loads(line)["fields"]["l"] == [1.5, None]


def test_output_unicode_is_not_escaped() -> None:
    line = emit_lines({"s": "café ☕", "q": 'a"b\\c\n'}, stream="Flüsse")[0]
    assert line == (
        '{"stream": "Flüsse", "timestamp": 1, "fields": {"s": "café ☕", "q": "a\\"b\\\\c\\n"}}\n'
    )


def test_output_preserves_field_order() -> None:
    line = emit_lines({"z": 1, "a": 2, "m": 3})[0]
    assert list(json.loads(line)["fields"]) == ["z", "a", "m"]


def test_output_nested_values_and_null() -> None:
    line = emit_lines({"l": [1, [2, {"k": None}]], "m": {"x": "y"}, "n": None})[0]
    assert '"fields": {"l": [1, [2, {"k": null}]], "m": {"x": "y"}, "n": null}' in line


def test_output_non_json_values_become_text() -> None:
    class Thing:
        def __str__(self) -> str:
            return "thing!"

    line = emit_lines({"t": Thing(), "tuple": (1, 2), "big": 2**70})[0]
    assert '"fields": {"t": "thing!", "tuple": [1, 2], "big": 1180591620717411303424}' in line


def test_output_odd_keys() -> None:
    line = emit_lines({"m": {1: "a", (1, 2): "b", math.nan: "c"}, "f": math.nan})[0]
    assert json.loads(line)["fields"] == {"m": {"1": "a", "(1, 2)": "b", "nan": "c"}, "f": None}


def test_output_fast_path_does_not_sanitise(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(value: Any) -> Any:
        raise AssertionError("sanitiser used for plain values")

    monkeypatch.setattr(output, "_sanitize", fail)
    assert len(emit_lines({"a": [1, 2.5, "x", None, {"b": True}]})) == 1


def test_output_one_write_per_line() -> None:
    written: list[str] = []
    emit = output.json_line_emitter(written.append, 'we"ird')
    emit('we"ird', 1, {})
    emit('we"ird', 2, {"a": 1})
    assert written == [
        '{"stream": "we\\"ird", "timestamp": 1, "fields": {}}\n',
        '{"stream": "we\\"ird", "timestamp": 2, "fields": {"a": 1}}\n',
    ]
    assert all(json.loads(line)["stream"] == 'we"ird' for line in written)

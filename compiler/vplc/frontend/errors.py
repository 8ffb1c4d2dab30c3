"""Friendly messages for lark's syntax errors: one PARSE diagnostic per failed parse.

The position is the first token that cannot continue the parse (at end of input: the last
token), SEMANTICS §9. The message is chosen by a list of rules looking at that token, the
text around it, the terminals the parser would have accepted and the parser's value stack
(the tokens and subtrees before the error); the first rule that recognises the mistake
wins, else a generic `unexpected 'x' (expected ...)`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lark import Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from vplc.diagnostics import Diagnostic, error
from vplc.frontend.syntax import Span

__all__ = ["syntax_error"]

_EXPRESSION_STARTS = frozenset(
    {"INT", "FLOAT", "STRING", "DURATION", "TIMESTAMP", "TRUE", "FALSE", "NULL", "NAME",
     "LPAR", "LSQB", "LBRACE", "MINUS", "TILDE", "NOT", "IF"}
)  # fmt: skip
_STATEMENT_STARTS = frozenset({"EVENT", "CONTEXT", "BINDING", "STREAM"})
# What may follow a complete operand (LPAR: a call, when the operand is a name).
_AFTER_OPERAND = frozenset(
    {"PLUS", "MINUS", "STAR", "SLASH", "PERCENT", "POW", "SHL", "SHR", "AMP", "CARET", "BAR",
     "EQ", "NE", "LT", "LE", "GT", "GE", "IN", "IS", "NOT", "AND", "OR", "RANGE_OP",
     "ATTR_DOT", "LSQB", "LPAR"}
)  # fmt: skip
_CLOSERS = {"RPAR": ")", "RSQB": "]", "RBRACE": "}"}
_OPENERS = {")": "(", "]": "[", "}": "{"}
_IGNORED = frozenset({"WHITESPACE", "LINE_COMMENT", "BLOCK_COMMENT"})
_PATTERN_NAMES = {
    "NAME": "a name",
    "LABEL": "'name:'",
    "INT": "an integer",
    "FLOAT": "a number",
    "STRING": "a string",
    "DURATION": "a duration",
    "TIMESTAMP": "a timestamp",
    "BINDING": "'let'",
    "ATTR_DOT": "'.'",
    "RANGE_OP": "'..'",
    "$END": "end of input",
}
_DURATION_UNITS = frozenset({"ns", "us", "ms", "s", "m", "h", "d"})
# Words people write inside `.window(...)` and the VPL spelling for each.
_WINDOW_WORDS = {
    "tumbling": ("'.window({arg})'", "a tumbling window"),
    "sliding": ("'.window(<size>, sliding: {arg})'", "a sliding window"),
    "session": ("'.window(session: {arg})'", "a session window"),
}


def syntax_error(exc: UnexpectedInput, source: str, literals: Mapping[str, str]) -> Diagnostic:
    """The PARSE diagnostic for a lark syntax error.

    `literals` maps the names of fixed-string terminals to their text (`RPAR` -> `)`), to
    name what the parser expected.
    """
    if isinstance(exc, UnexpectedToken):
        ctx = _Context.of(exc, source, literals)
        for rule in _TOKEN_RULES:
            found = rule(ctx)
            if isinstance(found, Diagnostic):
                return found
            if found is not None:
                return error("PARSE", *found)
        return error("PARSE", _generic_message(ctx), ctx.span)
    if isinstance(exc, UnexpectedCharacters):
        return _unexpected_character(exc, source)
    # UnexpectedEOF: only lark's other parsers raise it; LALR reports a `$END` token.
    lines = source.split("\n")
    end = Span(len(lines), len(lines[-1]) + 1, len(lines), len(lines[-1]) + 1)
    return error("PARSE", "unexpected end of input", end)


# ---------------------------------------------------------------------------------------
# Unexpected tokens


@dataclass(frozen=True, slots=True)
class _Context:
    """Everything a message rule may look at."""

    source: str
    token: Token
    span: Span
    expected: frozenset[str]
    stack: tuple[Any, ...]  # the parser's values: tokens and lark subtrees
    literals: Mapping[str, str]

    @staticmethod
    def of(exc: UnexpectedToken, source: str, literals: Mapping[str, str]) -> _Context:
        token: Token = exc.token
        return _Context(
            source, token, _token_span(token), _expected(exc), _value_stack(exc), literals
        )

    @property
    def at_end(self) -> bool:
        return self.token.type == "$END"

    def text(self, start: int, stop: int) -> str:
        """Source text relative to the token's start offset."""
        offset = self.token.start_pos or 0
        return self.source[max(offset + start, 0) : max(offset + stop, 0)]

    @property
    def written(self) -> str:
        """The token as written: a quoted name's value lacks its backticks (D46)."""
        start, end = self.token.start_pos, self.token.end_pos
        if start is None or end is None or self.at_end:
            return str(self.token)
        return self.source[start:end]

    def previous(self) -> Token | None:
        """The token just before the error, if the parser has not reduced it yet."""
        top = self.stack[-1] if self.stack else None
        return top if isinstance(top, Token) else None


def _expected(exc: UnexpectedToken) -> frozenset[str]:
    # `accepts` replays the parser on each candidate terminal, so unlike `expected` (the
    # LALR state's look-aheads, merged with other contexts) it only lists real options.
    try:
        accepted = exc.accepts
    except Exception:  # pragma: no cover - interactive parser unavailable
        accepted = set()
    return frozenset(accepted or exc.expected or ()) - _IGNORED


def _value_stack(exc: UnexpectedToken) -> tuple[Any, ...]:
    state = getattr(getattr(exc, "interactive_parser", None), "parser_state", None)
    return tuple(getattr(state, "value_stack", ()))


def _token_span(token: Token) -> Span:
    line, column = token.line or 1, token.column or 1
    return Span(line, column, token.end_line or line, token.end_column or column + 1)


def _shown(text: str) -> str:
    return text if len(text) <= 30 else text[:27] + "..."


def _double_slash(ctx: _Context) -> tuple[str, Span] | None:
    if ctx.token.type != "SLASH":
        return None
    if ctx.text(1, 2) == "/":
        span = Span(ctx.span.line, ctx.span.column, ctx.span.line, ctx.span.column + 2)
    elif ctx.text(-1, 0) == "/":
        span = Span(ctx.span.line, ctx.span.column - 1, ctx.span.line, ctx.span.column + 1)
    else:
        return None
    return "'//' is not a comment in VPL; use '#'", span


def _unterminated_comment(ctx: _Context) -> tuple[str, Span] | None:
    if ctx.token.type == "SLASH" and ctx.text(1, 2) == "*":
        return "unterminated comment: '/*' needs a closing '*/'", ctx.span
    if ctx.token.type == "STAR" and ctx.text(-1, 0) == "/":
        span = Span(ctx.span.line, ctx.span.column - 1, ctx.span.line, ctx.span.column + 1)
        return "unterminated comment: '/*' needs a closing '*/'", span
    return None


def _foreign_operator(ctx: _Context) -> tuple[str, Span] | None:
    """`??`, `&&`, `||` and `=` where another language's habit shows."""
    pair = ctx.text(-1, 1)
    if ctx.token.type == "QUESTION" and "??" in ctx.text(-1, 2):
        return "'??' is not supported in VPL", ctx.span
    if ctx.token.type == "AMP" and pair == "&&":
        return "unexpected '&&' (use 'and')", ctx.span
    if ctx.token.type == "BAR" and pair == "||":
        return "unexpected '||' (use 'or')", ctx.span
    if ctx.token.type == "EQUAL" and "EQ" in ctx.expected:
        return "unexpected '=' (use '==' to compare)", ctx.span
    return None


def _leading_dot_number(ctx: _Context) -> tuple[str, Span] | None:
    if ctx.token.type in ("DOT", "ATTR_DOT") and "INT" in ctx.expected:
        digits = re.match(r"\d+", ctx.text(1, 40))
        if digits:
            return f"invalid number '.{digits.group()}' (write '0.{digits.group()}')", ctx.span
    return None


def _spaced_duration(ctx: _Context) -> tuple[str, Span] | None:
    """`5 m`: a duration written with a space before its unit."""
    number = re.search(r"(\d+)[ \t]+$", ctx.text(-40, 0))
    if number is None or ctx.token.type != "NAME" or ctx.token not in _DURATION_UNITS:
        return None
    amount, unit = number.group(1), str(ctx.token)
    return f"unexpected '{unit}': write '{amount}{unit}' without a space", ctx.span


def _window_keyword(ctx: _Context) -> tuple[str, Span] | None:
    """`.window(tumbling 30s)`: a word before the size, as some docs write it."""
    previous = ctx.previous()
    if previous is None or previous.type != "NAME" or _open_op(ctx.stack) != "window":
        return None
    if ctx.token.type not in ("DURATION", "INT"):
        return None
    arg = str(ctx.token)
    if previous not in _WINDOW_WORDS:
        return None
    spelling, kind = _WINDOW_WORDS[str(previous)]
    message = f"unexpected '{arg}' in .window(...): write {spelling.format(arg=arg)} for {kind}"
    return message, ctx.span


def _open_op(stack: Iterable[Any]) -> str | None:
    """The name of the stream op whose argument list is open at the top of the stack."""
    values = list(stack)
    depth = 0
    for i in range(len(values) - 1, -1, -1):
        value = values[i]
        if not isinstance(value, Token):
            continue
        if value.type == "RPAR":
            depth += 1
        elif value.type == "LPAR" and depth:
            depth -= 1
        elif value.type == "LPAR":
            return _op_name(values[max(i - 4, 0) : i])
    return None


def _op_name(head: list[Any]) -> str | None:
    """`DOT NAME` or `DOT NAME AS NAME` just before an op's `(`: the op's name."""
    types = [v.type if isinstance(v, Token) else None for v in head]
    if types[-2:] == ["DOT", "NAME"]:
        return str(head[-1])
    if types[-4:] == ["DOT", "NAME", "AS", "NAME"]:
        return str(head[-3])
    return None


def _missing_punctuation(ctx: _Context) -> tuple[str, Span] | Diagnostic | None:
    """A closing bracket or a comma left out, seen when the next thing begins."""
    closers = [text for name, text in _CLOSERS.items() if name in ctx.expected]
    starts_op = ctx.token.type == "DOT" and re.match(r"\.\s*\w+\s*(\(|as\b)", ctx.text(0, 200))
    starts_next = ctx.at_end or ctx.token.type in _STATEMENT_STARTS or starts_op
    if len(closers) == 1 and starts_next:
        missing = error("PARSE", f"missing '{closers[0]}'", ctx.span)
        opener = _unclosed(ctx.stack, _OPENERS[closers[0]])
        if opener is None:
            return missing
        note = (f"'{opener}' opened here", _token_span(opener))
        return Diagnostic(missing.severity, missing.code, missing.message, missing.span, (note,))
    # A name followed by `:` after a complete argument: the comma before it is missing.
    # (It may lex as NAME: the lexer state is the one before the parser's reductions.)
    followed_by_colon = re.match(r"[ \t\r\n]*:(?!=)", ctx.text(len(ctx.written), 200))
    is_label = ctx.token.type == "LABEL" or (ctx.token.type == "NAME" and followed_by_colon)
    if is_label and "COMMA" in ctx.expected:
        return "missing ','", ctx.span
    return None


def _unclosed(stack: Iterable[Any], opener: str) -> Token | None:
    """The innermost `opener` token still open on the parser's value stack. Pairs are
    mostly reduced into subtrees already, but one just closed may still be there as two
    tokens (the parser reduces on the next token, the one in error)."""
    closer = next(c for c, o in _OPENERS.items() if o == opener)
    depth = 0
    for value in reversed(list(stack)):
        if not isinstance(value, Token):
            continue
        if value == closer:
            depth += 1
        elif value == opener:
            if not depth:
                return value
            depth -= 1
    return None


def _bare_name_statement(ctx: _Context) -> tuple[str, Span] | None:
    """A name where a statement begins, not followed by `:=`: a field without its `:`
    inside an event, or a stream op without its `.`."""
    previous = ctx.previous()
    if ctx.expected != {"WALRUS"} or previous is None or previous.type != "NAME":
        return None
    if ctx.token.type == "LPAR":
        message = f"unexpected '(' after '{previous}' (a stream op starts with '.')"
        return message, ctx.span
    # The parser has already closed the event before the name (it might start a statement).
    before = ctx.stack[-2] if len(ctx.stack) > 1 else None
    while isinstance(before, Tree) and before.data.startswith("__"):  # lark's `*` helper
        before = before.children[-1]
    if isinstance(before, Tree) and before.data == "event_decl":
        return f"missing ':' after field name '{previous}'", ctx.span
    return None


def _spaced_attribute(ctx: _Context) -> tuple[str, Span] | None:
    # A `.` after whitespace lexes as the start of a stream op, never as attribute access.
    if ctx.token.type == "DOT" and "ATTR_DOT" in ctx.expected:
        return "unexpected space before '.' (write 'a.b' without spaces)", ctx.span
    return None


def _end_of_input(ctx: _Context) -> tuple[str, Span] | None:
    return ("unexpected end of input", ctx.span) if ctx.at_end else None


_TOKEN_RULES: tuple[Callable[[_Context], tuple[str, Span] | Diagnostic | None], ...] = (
    _double_slash,
    _unterminated_comment,
    _foreign_operator,
    _leading_dot_number,
    _spaced_duration,
    _window_keyword,
    _missing_punctuation,
    _bare_name_statement,
    _spaced_attribute,
    _end_of_input,
)


def _generic_message(ctx: _Context) -> str:
    message = f"unexpected '{_shown(ctx.written)}'"
    expected = _describe_expected(ctx.expected, ctx.literals)
    return f"{message} (expected {expected})" if expected else message


def _describe_expected(expected: frozenset[str], literals: Mapping[str, str]) -> str | None:
    """`an expression`, `an operator, ',' or ')'`...; None when the list would be too long."""
    names = set(expected)
    parts: list[str] = []
    if {"INT", "NAME"} <= names:
        parts.append("an expression")
        names -= _EXPRESSION_STARTS | {"LABEL"}
    if {"NAME", "LSQB", "LBRACE", "LPAR"} <= names and "INT" not in names:
        parts.append("a type")
        names -= {"NAME", "LSQB", "LBRACE", "LPAR"}
    if "STREAM" in names:
        parts.append("a statement")
        names -= _STATEMENT_STARTS | {"NAME", "$END"}
    if "PLUS" in names:
        parts.append("an operator")
        names -= _AFTER_OPERAND
    # Closing brackets last: "an operator, ',' or ')'".
    rest = sorted(names, key=lambda name: (name in _CLOSERS, name))
    parts.extend(_describe_terminal(name, literals) for name in rest)
    if not parts or len(parts) > 5:
        return None
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " or " + parts[-1]


def _describe_terminal(name: str, literals: Mapping[str, str]) -> str:
    if name in _PATTERN_NAMES:
        return _PATTERN_NAMES[name]
    if name in literals:
        return f"'{literals[name]}'"
    return f"'{name.lower()}'"  # the keywords: EXTENDS -> 'extends'


# ---------------------------------------------------------------------------------------
# Characters that start no token at all


def _bad_quoted_name(rest: str, span: Callable[[int], Span]) -> Diagnostic:
    """A backtick that starts no quoted identifier (D46): empty, or not closed on its line."""
    if rest.startswith("``"):
        return error("PARSE", "empty quoted name '``'", span(2))
    message = "unterminated quoted name: '`' needs a closing '`' on the same line"
    return error("PARSE", message, span(len(rest)))


def _unexpected_character(exc: UnexpectedCharacters, source: str) -> Diagnostic:
    offset = exc.pos_in_stream or 0
    char = source[offset] if 0 <= offset < len(source) else ""
    line, column = exc.line, exc.column
    rest = source[offset:].split("\n", 1)[0]

    def span(width: int) -> Span:
        return Span(line, column, line, column + max(width, 1))

    if char == '"':
        return error("PARSE", "unterminated string literal", span(len(rest)))
    if char == "'":
        return error("PARSE", "strings are written in double quotes in VPL", span(1))
    if char == "`":
        return _bad_quoted_name(rest, span)
    word = re.match(r"[@\w][\w.:+-]*", rest)
    if char == "@" and word:
        message = (
            f"invalid timestamp '{word.group()}' (expected '@YYYY-MM-DD', optionally "
            "followed by 'THH:MM:SS' and 'Z' or '+HH:MM')"
        )
        return error("PARSE", message, span(len(word.group())))
    number = re.match(r"\d[\w.]*", rest)
    if number:
        text = number.group()
        return error("PARSE", f"invalid number '{text}'", span(len(text)))
    if char == "!":
        return error("PARSE", "unexpected '!' (use 'not')", span(1))
    shown = repr(char)[1:-1] if char else "end of input"
    return error("PARSE", f"unexpected character '{shown}'", span(1))

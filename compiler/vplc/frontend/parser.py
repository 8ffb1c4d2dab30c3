"""The VPL front end: source text to the `vplc.frontend.syntax` tree (SEMANTICS §2-§3).

`parse` runs lark's LALR(1) parser with the contextual lexer (grammar in `grammar.lark`,
built once per process), then `_Builder` turns lark's parse tree, bottom-up, into frozen
syntax nodes: it applies operator precedence to the grammar's flat operator chains and
decodes literals (string escapes, D17; durations and timestamps as integer milliseconds,
D13). Only this module and `errors` import lark, and no lark exception escapes
`parse`: every failure is a `CompileError`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from importlib import resources
from typing import Any, TypeVar

from lark import Lark, Token, Tree
from lark.exceptions import LarkError, UnexpectedInput
from lark.lexer import PatternStr
from lark.tree import Meta

from vplc.diagnostics import CompileError, Diagnostic, error
from vplc.frontend import syntax as s
from vplc.frontend.errors import syntax_error
from vplc.frontend.recursion import deep_recursion

__all__ = ["duration_ms", "parse", "timestamp_ms"]

# What a rule handler receives: tokens, `None` placeholders for absent `[...]`
# parts, and the nodes already built for the sub-rules.
Children = list[Any]


def parse(source: str, filename: str = "<input>") -> s.Program:
    """Parse a VPL program.

    Raises `CompileError` with a single PARSE diagnostic for a syntax error, or with every
    E017 diagnostic (bad escape in a string literal) of an otherwise well-formed program.
    `filename` is not part of any diagnostic (they carry spans only); it names the source in
    the internal-error message of a failure that is not the program's fault.
    """
    try:
        tree = _lark().parse(source)
    except UnexpectedInput as exc:
        raise CompileError([syntax_error(exc, source, _literal_terminals())]) from None
    except LarkError as exc:  # pragma: no cover - lark reports bad input as UnexpectedInput
        span = _end_of(source)
        message = f"internal compiler error while parsing '{filename}': {exc}; please report it"
        raise CompileError([error("PARSE", message, span)]) from None
    builder = _Builder(source)
    with deep_recursion():  # the precedence climber recurses; the rest is iterative
        statements: tuple[s.Statement, ...] = _build(tree, builder)
    if builder.syntax_errors:
        first = min(builder.syntax_errors, key=lambda d: (d.span.line, d.span.column))
        raise CompileError([first])
    if builder.escape_errors:
        raise CompileError(builder.escape_errors)
    end = _end_of(source)
    return s.Program(statements, s.Span(1, 1, end.end_line, end.end_column))


@functools.cache
def _lark() -> Lark:
    """The parser, built on first use; building it takes about 0.2 s."""
    grammar = resources.files("vplc.frontend").joinpath("grammar.lark").read_text(encoding="utf-8")
    return Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=True,
        lexer_callbacks={"NAME": _unquote, "LABEL": _unquote},
    )


def _unquote(token: Token) -> Token:
    """A quoted identifier's token carries the name without its backticks (D46); its
    position still covers them, so diagnostics point at the text as written."""
    if token.startswith("`"):
        return Token.new_borrow_pos(token.type, token[1:-1], token)
    return token


@functools.cache
def _literal_terminals() -> Mapping[str, str]:
    """Terminal name -> its text, for terminals that are a fixed string (`RPAR` -> `)`)."""
    return {t.name: t.pattern.value for t in _lark().terminals if isinstance(t.pattern, PatternStr)}


def _end_of(source: str) -> s.Span:
    """An empty span just after the last character of `source`."""
    lines = source.split("\n")
    return s.Span(len(lines), len(lines[-1]) + 1, len(lines), len(lines[-1]) + 1)


# ---------------------------------------------------------------------------------------
# Literals

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "'": "'"}
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)

# Multiplier and divisor to milliseconds; `n * mul // div` truncates (n is never negative).
_DURATION_UNITS = {
    "ns": (1, 1_000_000),
    "us": (1, 1_000),
    "ms": (1, 1),
    "s": (1_000, 1),
    "m": (60_000, 1),
    "h": (3_600_000, 1),
    "d": (86_400_000, 1),
}
_DURATION = re.compile(r"(\d+)([a-z]+)")

_TIMESTAMP = re.compile(
    r"@(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2})(?:Z|([+-])(\d{2}):(\d{2}))?)?"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_INT_LITERAL_MAX = 2**63


def duration_ms(text: str) -> int:
    """`5m` -> 300000: a duration literal as integer milliseconds, truncated (D13)."""
    match = _DURATION.fullmatch(text)
    if match is None or match.group(2) not in _DURATION_UNITS:
        raise ValueError(f"not a duration literal: {text!r}")
    mul, div = _DURATION_UNITS[match.group(2)]
    return int(match.group(1)) * mul // div


def timestamp_ms(text: str) -> int | None:
    """`@2024-01-02T03:04:05+01:00` -> ms since the Unix epoch (D13); None if not a real
    date and time. Without a time it is midnight; without a zone, UTC."""
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g or 0) for g in match.groups()[:6])
    sign, off_hours, off_minutes = match.group(7), match.group(8), match.group(9)
    offset = timedelta()
    if sign is not None:
        if int(off_hours) > 23 or int(off_minutes) > 59:
            return None
        offset = timedelta(hours=int(off_hours), minutes=int(off_minutes))
        offset = offset if sign == "+" else -offset
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
    except ValueError:
        return None
    return (moment - offset - _EPOCH) // timedelta(milliseconds=1)


# ---------------------------------------------------------------------------------------
# Operator precedence (SEMANTICS §2), applied to the grammar's flat operator chains

# Binding power of the binary operators, from the loosest: higher binds tighter. Power 4
# is `not` (prefix only); comparisons and ranges do not associate (`a < b < c` is an error).
_LEVELS: tuple[tuple[s.BinaryOp, ...], ...] = (
    (s.BinaryOp.RANGE, s.BinaryOp.RANGE_INCLUSIVE),
    (s.BinaryOp.OR,),
    (s.BinaryOp.AND,),
    (),
    (s.BinaryOp.EQ, s.BinaryOp.NE, s.BinaryOp.LT, s.BinaryOp.LE, s.BinaryOp.GT,
     s.BinaryOp.GE, s.BinaryOp.IN, s.BinaryOp.NOT_IN, s.BinaryOp.IS),
    (s.BinaryOp.BIT_OR,),
    (s.BinaryOp.BIT_XOR,),
    (s.BinaryOp.BIT_AND,),
    (s.BinaryOp.SHL, s.BinaryOp.SHR),
    (s.BinaryOp.ADD, s.BinaryOp.SUB),
    (s.BinaryOp.MUL, s.BinaryOp.DIV, s.BinaryOp.MOD),
    (),  # unary `-` and `~`
    (s.BinaryOp.POW,),
)  # fmt: skip
_POWER = {op: power for power, ops in enumerate(_LEVELS, start=1) for op in ops}
_RANGE_POWER = _POWER[s.BinaryOp.RANGE]
_COMPARISON_POWER = _POWER[s.BinaryOp.EQ]
_NON_ASSOCIATIVE = frozenset({_RANGE_POWER, _COMPARISON_POWER})
# A prefix operator's operand extends over operators binding at least as tightly:
# `not a == b` is `not (a == b)`, `-2 ** 2` is `-(2 ** 2)`.
_UNARY_POWER = _POWER[s.BinaryOp.POW] - 1
_PREFIX_POWER = {
    s.UnaryOp.NOT: _POWER[s.BinaryOp.AND] + 1,
    s.UnaryOp.NEG: _UNARY_POWER,
    s.UnaryOp.BIT_NOT: _UNARY_POWER,
}


@dataclass(frozen=True, slots=True)
class _Prefix:
    op: s.UnaryOp
    span: s.Span


@dataclass(frozen=True, slots=True)
class _Infix:
    op: s.BinaryOp
    span: s.Span


class _Climber:
    """Precedence climbing over one operator chain: operands (atoms, each preceded by its
    prefix operators) separated by binary operators."""

    def __init__(self, items: list[_Prefix | _Infix | s.Expr], builder: _Builder) -> None:
        self._items = items
        self._pos = 0
        self._builder = builder

    def expression(self, min_power: int) -> s.Expr:
        left = self._operand(min_power)
        while self._pos < len(self._items):
            infix = self._items[self._pos]
            assert isinstance(infix, _Infix)
            power = _POWER[infix.op]
            if power < min_power:
                break
            self._pos += 1
            # `**` is right-associative and its right operand may be unary: `2 ** -1`.
            right = self.expression(_UNARY_POWER if infix.op is s.BinaryOp.POW else power + 1)
            span = self._builder.outer_span(left).to(self._builder.outer_span(right))
            node = s.Binary(infix.op, left, right, span, infix.span)
            if power in _NON_ASSOCIATIVE and self._builder.is_bare(left, power):
                self._builder.chain_error(node)
            left = node
        return left

    def _operand(self, min_power: int) -> s.Expr:
        item = self._items[self._pos]
        self._pos += 1
        if isinstance(item, _Prefix):
            power = _PREFIX_POWER[item.op]
            if power < min_power:
                self._builder.misplaced_prefix(item)
            operand = self.expression(power)
            return s.Unary(item.op, operand, item.span.to(self._builder.outer_span(operand)))
        assert not isinstance(item, _Infix)
        return item


# ---------------------------------------------------------------------------------------
# Parse tree -> syntax tree


def _span(meta: Meta) -> s.Span:
    return s.Span(meta.line, meta.column, meta.end_line, meta.end_column)


def _tspan(token: Token) -> s.Span:
    line, column = token.line or 1, token.column or 1
    return s.Span(line, column, token.end_line or line, token.end_column or column + 1)


def _opt_str(token: Token | None) -> str | None:
    return None if token is None else str(token)


def _opt_span(token: Token | None) -> s.Span | None:
    return None if token is None else _tspan(token)


def _prefix_of(node: s.Unary) -> _Prefix:
    """The operator of a unary node built by the `prefixed` rule (it starts the span)."""
    line, column = node.span.line, node.span.column
    return _Prefix(node.op, s.Span(line, column, line, column + len(node.op.value)))


_Handler = Callable[["_Builder", Meta, Children], Any]
_HANDLERS: dict[str, _Handler] = {}
_F = TypeVar("_F", bound=_Handler)


def _rule(handler: _F) -> _F:
    """Registers a `_Builder` method as the handler of the grammar rule (or alias) it names."""
    _HANDLERS[handler.__name__] = handler
    return handler


def _build(tree: Tree[Token], builder: _Builder) -> Any:
    """Calls the handlers bottom-up over lark's tree, without recursion (expressions can
    nest deeply). This is lark's Transformer_NonRecursive minus its per-call wrappers,
    which cost more than the handlers themselves."""
    # Each node before its children, children right to left: reversed, a post-order.
    order: list[Any] = []
    pending: list[Any] = [tree]
    while pending:
        node = pending.pop()
        order.append(node)
        if isinstance(node, Tree):
            pending.extend(node.children)
    values: list[Any] = []
    for node in reversed(order):
        if isinstance(node, Tree):
            count = len(node.children)
            children = values[len(values) - count :]
            del values[len(values) - count :]
            values.append(_HANDLERS[node.data](builder, node.meta, children))
        else:
            values.append(node)  # a token, or None for an absent `[...]` part
    return values[0]


class _Builder:
    """Builds syntax nodes bottom-up; one instance per parse.

    Errors that the grammar lets through on purpose (a chained comparison, `as` on another
    op than `.emit`, a source `foo(...)`, a bad timestamp) are collected in
    `syntax_errors`, bad string escapes in `escape_errors`; none of them stops the walk.
    """

    def __init__(self, source: str) -> None:
        self._source = source
        # id -> (node, span with parentheses); holding the node keeps its id unique.
        self._parens: dict[int, tuple[s.Expr, s.Span]] = {}
        self.syntax_errors: list[Diagnostic] = []
        self.escape_errors: list[Diagnostic] = []

    # ---- program and statements

    @_rule
    def start(self, meta: Meta, children: Children) -> tuple[s.Statement, ...]:
        return tuple(children)

    @_rule
    def event_decl(self, meta: Meta, children: Children) -> s.EventDecl:
        _, name, _, base, *fields = children
        return s.EventDecl(
            str(name), _tspan(name), tuple(fields), _opt_str(base), _opt_span(base), _span(meta)
        )

    @_rule
    def field_decl(self, meta: Meta, children: Children) -> s.FieldDecl:
        name, type_, question = children
        return s.FieldDecl(str(name), type_, question is not None, _span(meta))

    @_rule
    def context_decl(self, meta: Meta, children: Children) -> s.ContextDecl:
        _, name, cores = children
        return s.ContextDecl(str(name), _tspan(name), cores, _span(meta))

    @_rule
    def context_params(self, meta: Meta, children: Children) -> tuple[s.CoreRef, ...]:
        label, cores = children
        if label != "cores":
            self._syntax_error(f"unknown context parameter '{label}' (expected 'cores')", label)
        return tuple(cores)

    @_rule
    def core_list(self, meta: Meta, children: Children) -> tuple[s.CoreRef, ...]:
        return tuple(s.CoreRef(int(tok), _tspan(tok)) for tok in children)

    @_rule
    def const_decl(self, meta: Meta, children: Children) -> s.ConstDecl:
        keyword, name, type_, value = children
        kind = s.BindingKind(str(keyword))
        return s.ConstDecl(kind, str(name), _tspan(name), type_, value, _span(meta))

    @_rule
    def assign(self, meta: Meta, children: Children) -> s.Assign:
        name, value = children
        return s.Assign(str(name), _tspan(name), value, _span(meta))

    @_rule
    def stream_decl(self, meta: Meta, children: Children) -> s.StreamDecl:
        _, name, source, *ops = children
        return s.StreamDecl(str(name), _tspan(name), source, tuple(ops), _span(meta))

    # ---- stream sources and ops

    @_rule
    def source_name(self, meta: Meta, children: Children) -> s.SourceName:
        (name,) = children
        return s.SourceName(str(name), _tspan(name))

    @_rule
    def merge(self, meta: Meta, children: Children) -> s.Merge:
        keyword, *entries = children
        if keyword != "merge":
            message = f"unknown stream source '{keyword}(...)': only 'merge(...)' takes sources"
            self._syntax_error(message, keyword)
        return s.Merge(tuple(entries), _span(meta))

    @_rule
    def merge_entry(self, meta: Meta, children: Children) -> s.MergeSource:
        _, label, name, *ops = children
        return s.MergeSource(_opt_str(label), str(name), _tspan(name), tuple(ops), _span(meta))

    @_rule
    def op(self, meta: Meta, children: Children) -> s.Op:
        _, name, as_keyword, as_type, args = children
        if as_keyword is not None and name != "emit":
            self._syntax_error("'as' is only allowed in '.emit as Type(...)'", as_keyword)
        return s.Op(
            str(name), args, _span(meta), _tspan(name), _opt_str(as_type), _opt_span(as_type)
        )

    @_rule
    def arg_list(self, meta: Meta, children: Children) -> tuple[s.Arg, ...]:
        return tuple(children)

    @_rule
    def named_arg(self, meta: Meta, children: Children) -> s.Arg:
        name, value = children
        return s.Arg(str(name), value, _span(meta), _tspan(name))

    @_rule
    def positional_arg(self, meta: Meta, children: Children) -> s.Arg:
        (value,) = children
        return s.Arg(None, value, _span(meta), None)

    # ---- types

    @_rule
    def named_type(self, meta: Meta, children: Children) -> s.NamedType:
        return s.NamedType(str(children[0]), _span(meta))

    @_rule
    def list_type(self, meta: Meta, children: Children) -> s.ListType:
        return s.ListType(children[0], _span(meta))

    @_rule
    def map_type(self, meta: Meta, children: Children) -> s.MapType:
        key, value = children
        return s.MapType(key, value, _span(meta))

    @_rule
    def tuple_type(self, meta: Meta, children: Children) -> s.TupleType:
        return s.TupleType(tuple(children), _span(meta))

    # ---- expressions

    @_rule
    def operator_chain(self, meta: Meta, children: Children) -> s.Expr:
        items: list[_Prefix | _Infix | s.Expr] = []
        tokens = iter(children)
        for child in tokens:
            if not isinstance(child, Token):
                items.extend(self._peel_prefixes(child))
            elif child.type == "NOT":  # `not in`: two tokens, one operator
                last = next(tokens)
                items.append(_Infix(s.BinaryOp.NOT_IN, _tspan(child).to(_tspan(last))))
            else:
                items.append(_Infix(s.BinaryOp(str(child)), _tspan(child)))
        try:
            return _Climber(items, self).expression(0)
        except RecursionError:  # `2 ** 2 ** ...` or `x + - - ... y`, thousands deep
            message = "expression nested too deeply"
            self.syntax_errors.append(error("E099", message, _span(meta)))
            return s.Literal(s.LiteralKind.NULL, None, _span(meta))

    @_rule
    def prefixed(self, meta: Meta, children: Children) -> s.Unary:
        op, operand = children
        node = s.Unary(s.UnaryOp(str(op)), operand, _span(meta))
        # `-not a`: the climber only sees prefixes inside a chain, so check pairs here too.
        if isinstance(operand, s.Unary) and id(operand) not in self._parens:
            inner = _prefix_of(operand)
            if _PREFIX_POWER[inner.op] < _PREFIX_POWER[node.op]:
                self.misplaced_prefix(inner)
        return node

    @_rule
    def attribute(self, meta: Meta, children: Children) -> s.Attribute:
        target, _, name = children
        return s.Attribute(target, str(name), _span(meta))

    @_rule
    def index(self, meta: Meta, children: Children) -> s.Index:
        target, index = children
        return s.Index(target, index, _span(meta))

    @_rule
    def slice(self, meta: Meta, children: Children) -> s.Slice:
        target, start, end = children
        return s.Slice(target, start, end, _span(meta))

    @_rule
    def name(self, meta: Meta, children: Children) -> s.Name:
        return s.Name(str(children[0]), _span(meta))

    @_rule
    def call(self, meta: Meta, children: Children) -> s.Call:
        func, args = children
        return s.Call(str(func), _tspan(func), args, _span(meta))

    @_rule
    def paren(self, meta: Meta, children: Children) -> s.Expr:
        # The node keeps its own span; the parentheses are remembered for the spans of
        # enclosing operators and so that `(a < b) == c` is not a chained comparison.
        (inner,) = children
        self._parens[id(inner)] = (inner, _span(meta))
        return inner  # type: ignore[no-any-return]

    @_rule
    def array(self, meta: Meta, children: Children) -> s.ArrayLit:
        return s.ArrayLit(children[0], _span(meta))

    @_rule
    def map(self, meta: Meta, children: Children) -> s.MapLit:
        return s.MapLit(children[0], _span(meta))

    @_rule
    def if_expr(self, meta: Meta, children: Children) -> s.IfExpr:
        _, cond, _, then, _, otherwise = children
        return s.IfExpr(cond, then, otherwise, _span(meta))

    @_rule
    def expr_list(self, meta: Meta, children: Children) -> tuple[s.Expr, ...]:
        return tuple(children)

    @_rule
    def map_items(self, meta: Meta, children: Children) -> tuple[tuple[str, s.Expr], ...]:
        return tuple(children)

    @_rule
    def map_item(self, meta: Meta, children: Children) -> tuple[str, s.Expr]:
        key, value = children
        text = self._string(key) if key.type == "STRING" else str(key)
        return text, value

    @_rule
    def literal(self, meta: Meta, children: Children) -> s.Literal:
        (tok,) = children
        kind, value = self._literal_value(tok)
        return s.Literal(kind, value, _tspan(tok))

    # ---- used by _Climber

    def outer_span(self, node: s.Expr) -> s.Span:
        """The span of `node` including its parentheses, if it has any."""
        paren = self._parens.get(id(node))
        return node.span if paren is None else paren[1]

    def is_bare(self, node: s.Expr, power: int) -> bool:
        """Whether `node` is an unparenthesized binary operation of binding `power`."""
        return (
            isinstance(node, s.Binary) and _POWER[node.op] == power and id(node) not in self._parens
        )

    def chain_error(self, node: s.Binary) -> None:
        kind = "comparison" if _POWER[node.op] == _COMPARISON_POWER else "range"
        text = " ".join(self._text(self.outer_span(node)).split())
        if len(text) > 40:
            text = text[:37] + "..."
        self.syntax_errors.append(
            error("PARSE", f"chained {kind} '{text}' needs parentheses", node.op_span)
        )

    def misplaced_prefix(self, prefix: _Prefix) -> None:
        message = f"unexpected '{prefix.op.value}' (put the operand in parentheses)"
        self.syntax_errors.append(error("PARSE", message, prefix.span))

    # ---- helpers

    def _peel_prefixes(self, node: s.Expr) -> list[_Prefix | s.Expr]:
        """`-x` as the `prefixed` rule built it, split back into operator and operand, so
        that the climber can give the operator its precedence (`-x ** 2`)."""
        items: list[_Prefix | s.Expr] = []
        while isinstance(node, s.Unary) and id(node) not in self._parens:
            items.append(_prefix_of(node))
            node = node.operand
        items.append(node)
        return items

    def _text(self, span: s.Span) -> str:
        lines = self._source.split("\n")[span.line - 1 : span.end_line]
        if not lines:
            return ""
        if len(lines) == 1:
            return lines[0][span.column - 1 : span.end_column - 1]
        return "\n".join(
            [lines[0][span.column - 1 :], *lines[1:-1], lines[-1][: span.end_column - 1]]
        )

    def _literal_value(self, tok: Token) -> tuple[s.LiteralKind, int | float | str | bool | None]:
        match tok.type:
            case "INT":
                # Up to 2**63, so that -9223372036854775808 can be written; more is an error
                # (and `int` refuses over 4300 digits).
                value = int(tok) if len(tok) <= 20 else _INT_LITERAL_MAX + 1
                if value > _INT_LITERAL_MAX:
                    self._syntax_error("integer literal too large (more than 2**63)", tok)
                    return s.LiteralKind.INT, 0
                return s.LiteralKind.INT, value
            case "FLOAT":
                return s.LiteralKind.FLOAT, float(tok)
            case "STRING":
                return s.LiteralKind.STR, self._string(tok)
            case "DURATION":
                return s.LiteralKind.DURATION, duration_ms(str(tok))
            case "TIMESTAMP":
                ms = timestamp_ms(str(tok))
                if ms is None:
                    self._syntax_error(f"invalid timestamp '{tok}'", tok)
                return s.LiteralKind.TIMESTAMP, ms or 0
            case "TRUE" | "FALSE":
                return s.LiteralKind.BOOL, tok.type == "TRUE"
            case _:
                return s.LiteralKind.NULL, None

    def _string(self, tok: Token) -> str:
        """The decoded text of a STRING token; each bad escape is an E017 at the literal."""

        def decode(match: re.Match[str]) -> str:
            char = match.group(1)
            if char in _ESCAPES:
                return _ESCAPES[char]
            message = f"invalid escape sequence '\\{char}' in string literal"
            self.escape_errors.append(error("E017", message, _tspan(tok)))
            return match.group(0)

        return _ESCAPE.sub(decode, str(tok)[1:-1])

    def _syntax_error(self, message: str, tok: Token) -> None:
        self.syntax_errors.append(error("PARSE", message, _tspan(tok)))

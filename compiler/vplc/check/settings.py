"""Ops that take literal settings or named parameters: `.log` (E080), `.watermark` (E080,
E061), `.allowed_lateness` (E061) and `.limit` (LOAD) — SEMANTICS §5.2, §6.6, §9."""

from __future__ import annotations

from vplc.check.exprs import Env, ExprTyper, quoted
from vplc.check.model import AllowedLateness, Limit, Log, Origin, Watermark
from vplc.diagnostics import error
from vplc.frontend import syntax
from vplc.frontend.syntax import LiteralKind

_LOG_PARAMS = ("level", "message", "data")
_WATERMARK_PARAMS = ("out_of_order",)


def check_log(op: syntax.Op, origin: Origin, typer: ExprTyper) -> Log:
    """`.log(level: e, message: e, data: e)`, every parameter optional."""
    values: dict[str, syntax.Expr] = {}
    for arg in op.args:
        if arg.name not in _LOG_PARAMS or arg.name in values:
            typer.env.report(error("E080", _bad_param(arg, "log", _LOG_PARAMS), _at(arg)))
            continue
        typer.infer(arg.value)
        values[arg.name] = arg.value
    return Log(values.get("level"), values.get("message"), values.get("data"), origin)


def check_watermark(op: syntax.Op, origin: Origin, env: Env) -> Watermark | None:
    """`.watermark(out_of_order: d)`, d a duration or integer literal."""
    delay: int | None = None
    seen = bad = False
    for arg in op.args:
        if arg.name not in _WATERMARK_PARAMS or seen:
            bad = True
            env.report(error("E080", _bad_param(arg, "watermark", _WATERMARK_PARAMS), _at(arg)))
            continue
        seen = True
        delay = _milliseconds(arg.value, "'out_of_order'", env)
    if not seen and not bad:
        env.report(error("E080", "'.watermark' needs 'out_of_order: d'", op.name_span))
    return Watermark(delay, origin) if delay is not None else None


def check_allowed_lateness(op: syntax.Op, origin: Origin, env: Env) -> AllowedLateness | None:
    """`.allowed_lateness(d)`, d a duration or integer literal (E061 otherwise)."""
    if len(op.args) != 1 or op.args[0].name is not None:
        span = op.args[0].span if op.args else op.name_span
        env.report(error("E092", "'.allowed_lateness' takes exactly one duration", span))
        return None
    lateness = _milliseconds(op.args[0].value, "'.allowed_lateness'", env)
    return AllowedLateness(lateness, origin) if lateness is not None else None


def check_limit(op: syntax.Op, origin: Origin, env: Env) -> Limit | None:
    """`.limit(n)`: n must be an integer literal (a load error in the reference)."""
    if len(op.args) == 1 and op.args[0].name is None:
        value = op.args[0].value
        if isinstance(value, syntax.Literal) and value.kind is LiteralKind.INT:
            assert isinstance(value.value, int)
            return Limit(value.value, origin)
    span = op.args[0].value.span if op.args else op.name_span
    env.report(error("LOAD", "'.limit' needs one integer literal", span))
    return None


def _milliseconds(value: syntax.Expr, what: str, env: Env) -> int | None:
    kinds = (LiteralKind.DURATION, LiteralKind.INT)
    if isinstance(value, syntax.Literal) and value.kind in kinds:
        assert isinstance(value.value, int)
        return value.value
    env.report(error("E061", f"{what} must be a duration or integer literal", value.span))
    return None


def _bad_param(arg: syntax.Arg, op: str, params: tuple[str, ...]) -> str:
    if arg.name is None:
        return f"'.{op}' takes named parameters ({', '.join(params)})"
    if arg.name in params:
        return f"parameter '{arg.name}' is given twice"
    return f"unknown parameter '{arg.name}' of '.{op}' (expected {quoted(list(params))})"


def _at(arg: syntax.Arg) -> syntax.Span:
    return arg.name_span or arg.span

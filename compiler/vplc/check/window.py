"""`.window(...)` arguments (SEMANTICS §2, §6): the window kind and its sizes, or E013.

Grammar forms: `session: G` | `S` | `S, sliding: M` | `S, sliding: M, policy: P`. A count
size is a positive int literal, a time size a duration literal; `sliding:` has the size's
kind. `policy:` is accepted by the grammar but has no specified meaning: it is ignored with
a warning (W013).
"""

from __future__ import annotations

from vplc.check.exprs import Env
from vplc.check.model import Origin, Window, WindowKind
from vplc.diagnostics import error, warning
from vplc.frontend import syntax
from vplc.frontend.syntax import LiteralKind

_NAMED = ("session", "sliding", "policy")


def check_window(op: syntax.Op, origin: Origin, env: Env) -> Window | None:
    """The window of `.window(...)`, or None after reporting E013."""
    positional = [arg for arg in op.args if arg.name is None]
    named: dict[str, syntax.Arg] = {}
    ok = True
    for arg in op.args:
        if arg.name is None:
            continue
        if arg.name not in _NAMED or arg.name in named:
            what = "given twice" if arg.name in named else "unknown"
            env.report(
                error("E013", f"{what} window argument '{arg.name}'", arg.name_span or arg.span)
            )
            ok = False
        else:
            named[arg.name] = arg
    if len(positional) > 1:
        env.report(error("E013", "a window takes one size", positional[1].span))
        ok = False
    if "session" in named:
        return _session(named, positional, origin, env) if ok else None
    if not positional:
        env.report(error("E013", "'.window' needs a size", op.name_span))
        return None
    window = _sized(positional[0].value, named, origin, env)
    return window if ok else None


def _session(
    named: dict[str, syntax.Arg], positional: list[syntax.Arg], origin: Origin, env: Env
) -> Window | None:
    extra = positional + [arg for name, arg in named.items() if name != "session"]
    if extra:
        env.report(error("E013", "a session window takes only 'session: G'", extra[0].span))
        return None
    gap = _literal(named["session"].value, LiteralKind.DURATION)
    if gap is None:
        env.report(
            error(
                "E013",
                "'session:' must be a duration literal (e.g. 5m)",
                named["session"].value.span,
            )
        )
        return None
    return Window(WindowKind.SESSION, gap, None, origin)


def _sized(
    size_expr: syntax.Expr, named: dict[str, syntax.Arg], origin: Origin, env: Env
) -> Window | None:
    count = _literal(size_expr, LiteralKind.INT)
    duration = _literal(size_expr, LiteralKind.DURATION)
    if (count is None or count <= 0) and duration is None:
        env.report(
            error(
                "E013",
                "window size must be a positive integer literal (events) "
                "or a duration literal (e.g. 5m)",
                size_expr.span,
            )
        )
        return None
    policy = named.get("policy")
    if policy is not None:
        policy_span = policy.name_span or policy.span
        if "sliding" not in named:
            env.report(error("E013", "'policy:' needs 'sliding:'", policy_span))
            return None
        env.report(warning("W013", "window 'policy' has no effect", policy_span))
    slide: int | None = None
    if "sliding" in named:
        slide = _slide(named["sliding"].value, duration is None, env)
        if slide is None:
            return None
    if duration is None:
        assert count is not None
        kind = WindowKind.COUNT if slide is None else WindowKind.SLIDING_COUNT
        return Window(kind, count, slide, origin)
    kind = WindowKind.TUMBLING_TIME if slide is None else WindowKind.SLIDING_TIME
    return Window(kind, duration, slide, origin)


def _slide(expr: syntax.Expr, counted: bool, env: Env) -> int | None:
    if counted:
        value = _literal(expr, LiteralKind.INT)
        if value is not None and value > 0:
            return value
        message = "'sliding:' of a count window must be a positive integer literal"
    else:
        value = _literal(expr, LiteralKind.DURATION)
        if value is not None:
            return value
        message = "'sliding:' of a time window must be a duration literal (e.g. 10s)"
    env.report(error("E013", message, expr.span))
    return None


def _literal(expr: syntax.Expr, kind: LiteralKind) -> int | None:
    if isinstance(expr, syntax.Literal) and expr.kind is kind and isinstance(expr.value, int):
        return expr.value
    return None

"""Constant declarations are evaluated at plan time (`vplc.plan.constants`) without generating
code: each value must be exactly what the generated code computes for the same expression on
an event without fields (the expression compiled by `ExprCompiler` and run)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from vpl_runtime.values import MISSING
from vplc.codegen.expressions import RUNTIME_MODULES, ExprCompiler
from vplc.frontend import syntax
from vplc.frontend.parser import parse
from vplc.plan.constants import evaluate_constant

PRIOR = {"n": 4, "s": "abc", "xs": [1, 2, 3], "m": {"a": 1}, "gone": MISSING}

EXPRESSIONS = [
    "1 + 2 * 3",
    "7 / 2",
    "7 % 0",
    "2 ** 10",
    "-n + 0.5",
    '"a" + s',
    '"a" < 3',
    'n == 4 and s != "x"',
    "not (n > 3) or false",
    "1 << 2",
    "5 & 3",
    "n is null",
    "~n",
    "1..n",
    "1..=n",
    "xs[1]",
    "xs[-1]",
    "s[1:]",
    "xs[:2]",
    'm["a"]',
    "m.a",
    "field_of_an_event",
    "field_of_an_event + 1",
    "gone",
    "[1, n, s]",
    "[1, field_of_an_event]",
    '{"k": n, "l": [xs]}',
    '{"k": field_of_an_event}',
    'if n > 3 then "big" else "small"',
    "if field_of_an_event then 1 else 2",
    "if 0 then 1 else 2",
    "abs(-3)",
    "abs(-3, 4)",
    "no_such_function(1)",
    "len(xs) + len(s)",
    "1.5 ** 2000",
    "-(1.5 ** 2000)",
    "1.5 ** 2000 - 1.5 ** 2000",
    "3 in xs",
    "3 not in xs",
]


def _expression(text: str) -> syntax.Expr:
    program = parse(f"let value = {text}\n", "const.vpl")
    decl = program.statements[0]
    assert isinstance(decl, syntax.ConstDecl)
    return decl.value


def _generated(e: syntax.Expr) -> Any:
    """What the generated code computes: the expression compiled, then run."""
    code = ExprCompiler(PRIOR, set(), fields="_no_event").value(e)
    namespace: dict[str, Any] = {"_no_event": {}}
    for module in RUNTIME_MODULES:
        namespace.update(vars(__import__(f"vpl_runtime.{module}", fromlist=["_"])))
    return eval(code, namespace)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return (type(a) is type(b) and a == b) or (a is MISSING and b is MISSING)


@pytest.mark.parametrize("text", EXPRESSIONS)
def test_constant_is_what_the_generated_code_computes(text: str) -> None:
    e = _expression(text)
    assert _same(evaluate_constant(e, PRIOR), _generated(e)), text

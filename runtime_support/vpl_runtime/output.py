"""Output of a generated module: one JSON line per emitted event (SEMANTICS §1.3).

    {"stream": NAME, "timestamp": MS, "fields": {...}}

Formatting is the stdlib `json` module's default (`", "` and `": "` separators, floats as
Python `repr`, so `60.0` stays a float), with `ensure_ascii=False`: the bytes never depend
on whether an optional JSON accelerator is installed. NaN and ±inf, at any depth, are written
as `null` (DECISION D19).
"""

import json
import math
from collections.abc import Callable
from typing import Any

# allow_nan=False makes the fast path raise on NaN/inf instead of writing `NaN` (not JSON);
# default=str turns any stray non-JSON value into its text instead of crashing the run.
_ENCODE = json.JSONEncoder(ensure_ascii=False, allow_nan=False, default=str).encode


def json_line_emitter(
    write: Callable[[str], Any], stream: str
) -> Callable[[str, int, dict[str, Any]], None]:
    """The emit function of `stream`: `emit(stream, timestamp, fields)` writes one output
    line (the `stream` argument is ignored: the line's prefix is computed once here).

    `write` receives the whole line, newline included, in a single call.
    """
    prefix = '{"stream": ' + json.dumps(stream, ensure_ascii=False) + ', "timestamp": '
    encode = _ENCODE

    def emit(_stream: str, timestamp: int, fields: dict[str, Any]) -> None:
        try:
            body = encode(fields)
        except (ValueError, TypeError):
            body = encode(_sanitize(fields))
        write(f'{prefix}{timestamp}, "fields": {body}}}\n')

    return emit


def _sanitize(value: Any) -> Any:
    """A copy of `value` that the strict encoder accepts: NaN/±inf become None, keys become str.

    Only used after the fast path failed, so its cost does not matter.
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {_key(key): _sanitize(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_sanitize(item) for item in value]
    return value


def _key(key: Any) -> Any:
    # json accepts str, int, float, bool and None keys; float keys go through repr, so a NaN key
    # must become text here too (the strict encoder would reject it again).
    if isinstance(key, float) and not math.isfinite(key):
        return str(key)
    if key is None or isinstance(key, (str, int, float)):
        return key
    return str(key)

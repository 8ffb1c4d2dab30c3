"""`snapshot_state` and `restore_state`: the two closures over the state a plan declares.

They sit beside the state they read, in `_build` (or in a broadcast copy's factory), and cost
the per-event code nothing: containers are refilled in place, so the per-event functions
and the bound methods they hold (`find_S = windows_S.get`) keep working, and the scalars
held in `nonlocal`s are rebound here (D35).
"""

from __future__ import annotations

from collections.abc import Sequence

from vplc.plan.names import py_literal
from vplc.plan.state import StateDecl, StateKind

Lines = list[str]


def state_functions(decls: Sequence[StateDecl], uses: set[str]) -> Lines:
    """The definitions of `snapshot_state()` and `restore_state(saved)` over `decls`."""
    saved = [d for d in decls if d.kind.saved]
    rebound = [d.name for d in decls if d.kind in _SCALARS]
    entries = [f"{py_literal(d.name)}: {_snapshot_value(d, uses)}," for d in saved]
    restores = [line for d in decls for line in _restore(d, uses)]
    return [
        "",
        "def snapshot_state() -> dict[str, object]:",
        '    """The declared state as plain values (what `vplc plan` lists), valid until the',
        '    next event: encode it at once."""',
        *(
            ["    return {", *("        " + e for e in entries), "    }"]
            if entries
            else ["    return {}  # no stream keeps state between events"]
        ),
        "",
        "def restore_state(saved: dict[str, object]) -> None:",
        '    """Put `snapshot_state()` values back, in place."""',
        *([f"    nonlocal {', '.join(rebound)}"] if rebound else []),
        *("    " + line for line in restores),
    ]


_SCALARS = (StateKind.LIMIT, StateKind.ROUND_ROBIN)


def _snapshot_value(decl: StateDecl, uses: set[str]) -> str:
    match decl.kind:
        case StateKind.WINDOW:
            uses.add("pack_object")
            return f"pack_object({decl.name})"
        case StateKind.WINDOW_MAP:
            uses.add("pack_objects")
            return f"pack_objects({decl.name})"
        case StateKind.COPIES:
            return f"[snapshot() for _, _, snapshot, _ in {decl.name}]"
        case StateKind.LATE_DATA:
            return f"{decl.name}.state()"
    return decl.name  # sets, dicts and scalars pickle as they are


def _restore(decl: StateDecl, uses: set[str]) -> Lines:
    name, value = decl.name, f"saved[{py_literal(decl.name)}]"
    match decl.kind:
        case StateKind.WINDOW:
            uses.add("restore_object")
            return [f"restore_object({name}, {value})"]
        case StateKind.WINDOW_MAP:
            uses.add("restore_objects")
            return [f"restore_objects({name}, {decl.cls}, {value})"]
        case StateKind.DISTINCT:
            uses.add("restore_set")
            return [f"restore_set({name}, {value})"]
        case StateKind.LATE_DATA:
            return [f"{name}.restore({value})"]
        case StateKind.LIMIT | StateKind.ROUND_ROBIN:
            uses.add("saved_int")
            return [f"{name} = saved_int({value})"]
        case StateKind.WORKER_CACHE | StateKind.QUEUE:
            return [f"{name}.clear()"]
        case StateKind.COPIES:
            uses.add("saved_list")
            return [
                f"for (_, _, _, restore), part in zip({name}, saved_list({value})):",
                "    restore(part)",
            ]
    raise AssertionError(decl.kind)

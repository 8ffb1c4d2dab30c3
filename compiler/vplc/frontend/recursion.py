"""Room for deep recursion while compiling.

The stages recurse over expression trees, and a long chain like `a + b + ... + z` is a deep
tree. Compiling raises Python's recursion limit for its own duration only, so a process
that embeds the compiler keeps its own limit afterwards.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

_COMPILER_RECURSION_LIMIT = 20_000


@contextmanager
def deep_recursion() -> Iterator[None]:
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, _COMPILER_RECURSION_LIMIT))
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)

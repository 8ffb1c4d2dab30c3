"""The backends that run contexts: `threads` (default) and `processes` (forked, Linux)."""

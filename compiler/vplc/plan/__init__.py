"""Planner: takes a `CheckedProgram`, gives a `planner.Plan` (constants folded, routes,
contexts, threads and pools, flush order) and its text forms.

`planner` builds the plan, `threads` places streams on threads and pools, `state` declares
and names every stream's run-time state, `constants` evaluates constant declarations,
`shape` splits a stream's ops around its window, `names` spells VPL names and values as
Python, `dump` is `vplc plan`, `topology` is `vplc graph`; `validate` checks the plan's
invariants (placement, channels, no cycle of bounded channels, state declared once) before
codegen.
Imports only the front end and the checker.
"""

"""Checker: takes the syntax tree, gives a `model.CheckedProgram` (types, schemas, resolved
operations) and warnings, or every error at once.

`checker` runs the checks; one module per concern (`decls`, `exprs`, `ops`, `window`,
`aggregates`, `settings`, `concurrent`, `graph`, `types`, `builtins`). Imports only the front end.
"""

"""Standalone: takes a generated module, gives the same module with the parts of
`vpl_runtime` it uses pasted in (`vplc compile --standalone`), so it needs only Python.

`index` cuts the runtime modules into top-level statements, `inline` pastes those a module
needs. Imports only earlier stages.
"""

"""Code generator: takes a `Plan`, gives the source of one black-formatted Python module
that imports `vpl_runtime`.

`generate` renders the module (Jinja2 template, black), `streams` writes each stream's code,
`expressions` and `aggregates` compile VPL expressions and aggregates, `pools` writes worker
pools. Imports only earlier stages.
"""

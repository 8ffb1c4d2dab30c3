"""Front end: takes VPL source text, gives a frozen syntax tree (`syntax.Program`) or the
parse errors as diagnostics.

`parser` (lark, `grammar.lark`), `errors` (friendly parse errors), `syntax` (the tree),
`unparse` (its printer), `recursion` (the recursion limit deep programs need).
Imports no later stage.
"""

"""The compiler's stages import only earlier ones: frontend < check < plan < codegen <
standalone. `vplc` (the version), `vplc.diagnostics` (shared by every stage) and the drivers
`vplc.cli` and `vplc.pipeline` sit outside the order; the runtime imports no compiler code.

Every module's imports are read with `ast`, including those inside functions, so a lazy
import cannot hide a dependency on a later stage. There are no known exceptions.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMPILER = ROOT / "compiler"
RUNTIME = ROOT / "runtime_support"

STAGES = ("frontend", "check", "plan", "codegen", "standalone")
SHARED = {"vplc", "vplc.diagnostics"}  # any stage may import these
DRIVERS = {"vplc.cli", "vplc.pipeline"}  # may import every stage
# The shared diagnostics carry the syntax tree's spans: they rank with the front end.
RANK_OF_SHARED = {"vplc.diagnostics": 0}
# Third-party packages each confined to the stage that needs them (STYLE.md).
CONFINED = {"lark": "frontend", "jinja2": "codegen", "black": "codegen"}


def module_name(path: Path, base: Path) -> str:
    parts = list(path.relative_to(base).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sources(base: Path, package: str) -> dict[str, Path]:
    return {module_name(p, base): p for p in sorted((base / package).rglob("*.py"))}


def imported(tree: ast.AST, known: set[str]) -> set[str]:
    """Every module `tree` imports (`from a import b` is `a.b` when that is a module)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in known else node.module)
    return found


def stage_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "vplc" and parts[1] in STAGES else None


def rank(module: str) -> int | None:
    stage = stage_of(module)
    return STAGES.index(stage) if stage else RANK_OF_SHARED.get(module)


def violations(imports: dict[str, set[str]]) -> list[str]:
    """`importer imports imported` lines for every import against the stage order."""
    found = []
    for importer, targets in sorted(imports.items()):
        if importer in DRIVERS:
            continue
        mine = rank(importer)
        for target in sorted(targets):
            top = target.split(".")[0]
            if importer.startswith("vpl_runtime") and top == "vplc":
                found.append(f"{importer} imports {target} (the runtime needs no compiler)")
            elif top in CONFINED and stage_of(importer) != CONFINED[top]:
                found.append(f"{importer} imports {target} (only {CONFINED[top]} may)")
            elif top != "vplc" or (target in SHARED and importer not in SHARED):
                continue
            elif target in DRIVERS:
                found.append(f"{importer} imports {target} (a driver)")
            elif mine is not None and (rank(target) or 0) > mine:
                found.append(f"{importer} imports {target} (a later stage)")
    return found


def all_imports() -> dict[str, set[str]]:
    files = sources(COMPILER, "vplc") | sources(RUNTIME, "vpl_runtime")
    known = set(files)
    return {
        name: imported(ast.parse(path.read_text(encoding="utf-8"), str(path)), known)
        for name, path in files.items()
    }


def test_every_stage_has_its_folder_and_docstring() -> None:
    for stage in STAGES:
        init = COMPILER / "vplc" / stage / "__init__.py"
        assert ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))), init


def test_stages_import_only_earlier_stages() -> None:
    imports = all_imports()
    assert {stage_of(m) for m in imports} >= set(STAGES)
    assert violations(imports) == []


def test_a_later_stage_import_is_reported() -> None:
    imports = {
        "vplc.plan.dump": {"vplc.codegen.streams", "vplc.frontend.syntax", "vplc.diagnostics"},
        "vplc.frontend.syntax": {"lark", "vplc.plan.names"},
        "vplc.check.types": {"black", "vplc.pipeline"},
        "vplc.diagnostics": {"vplc.frontend.syntax", "vplc.check.model"},
        "vpl_runtime.values": {"vplc.plan.names"},
        "vplc.cli": {"vplc.standalone.inline"},
    }
    assert violations(imports) == [
        "vpl_runtime.values imports vplc.plan.names (the runtime needs no compiler)",
        "vplc.check.types imports black (only codegen may)",
        "vplc.check.types imports vplc.pipeline (a driver)",
        "vplc.diagnostics imports vplc.check.model (a later stage)",
        "vplc.frontend.syntax imports vplc.plan.names (a later stage)",
        "vplc.plan.dump imports vplc.codegen.streams (a later stage)",
    ]

"""The `vplc` command: check, compile, plan, run.

Exit codes: 0 ok, 1 compile errors, 2 usage errors, 3 input lines rejected (`run`),
4 the pipeline failed at run time (`run`), 70 internal compiler error.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from vplc import __version__
from vplc.diagnostics import CompileError, Diagnostic, format_all
from vplc.pipeline import Compiled, analyse
from vplc.plan.dump import dump_plan
from vplc.plan.topology import to_dot, to_mermaid, topology

EXIT_OK = 0
EXIT_COMPILE_ERRORS = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args, rest = parser.parse_known_args(argv)
    if args.command != "run" and rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    command: Callable[[argparse.Namespace, list[str]], int] = args.handler
    return command(args, rest)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vplc", description="Compile VPL stream programs to standalone Python modules."
    )
    parser.add_argument("--version", action="version", version=f"vplc {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    check = commands.add_parser("check", help="report errors and warnings")
    check.add_argument("program")
    check.set_defaults(handler=_check)

    compile_ = commands.add_parser("compile", help="write the generated module")
    compile_.add_argument("program")
    compile_.add_argument("-o", "--output", help="output file (default: standard output)")
    compile_.add_argument(
        "--standalone",
        action="store_true",
        help="inline the support library: the module needs nothing but Python",
    )
    compile_.set_defaults(handler=_compile)

    plan = commands.add_parser("plan", help="print the execution plan")
    plan.add_argument("program")
    plan.set_defaults(handler=_plan)

    graph = commands.add_parser("graph", help="print the topology: contexts, streams, queues")
    graph.add_argument("program")
    graph.add_argument(
        "--format", choices=("dot", "mermaid"), default="dot", help="Graphviz DOT or Mermaid"
    )
    graph.set_defaults(handler=_graph)

    # The module's own parser reads the options after PROGRAM (`--help` included), so `run`
    # has no help option of its own; `vplc run --help` without a program is handled in `_run`.
    run = commands.add_parser(
        "run",
        help="compile in memory and run on INPUT files (module options are passed through)",
        usage=_RUN_USAGE,
        add_help=False,
    )
    run.add_argument("program", metavar="PROGRAM", nargs="?")
    run.set_defaults(handler=_run)
    return parser


_RUN_USAGE = "vplc run PROGRAM [OPTION ...] [INPUT ...]"
_RUN_HELP = f"""usage: {_RUN_USAGE}

Compile PROGRAM in memory and run it over the INPUT files (none, or '-': standard input).
The options are the generated module's; 'vplc run PROGRAM --help' lists them.
"""


def _analysed(path: str) -> tuple[Compiled | None, int]:
    """Compile `path`, printing diagnostics; (None, exit code) on failure."""
    filename = os.path.basename(path)
    try:
        with open(path, encoding="utf-8-sig") as file:  # a BOM is not part of the program
            source = file.read()
    except OSError as exc:
        return None, _file_error("read", path, exc)
    except UnicodeDecodeError as exc:
        reason = f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"
        print(f"vplc: error: cannot read '{path}': {reason}", file=sys.stderr)
        return None, EXIT_USAGE
    try:
        compiled = analyse(source, filename)
    except CompileError as exc:
        _print_diagnostics(exc.diagnostics, path, source)
        return None, EXIT_COMPILE_ERRORS
    except Exception:
        print(
            f"{path}: internal compiler error (please report it with this program):\n"
            + traceback.format_exc(),
            file=sys.stderr,
        )
        return None, EXIT_INTERNAL
    _print_diagnostics(compiled.warnings, path, source)
    return compiled, EXIT_OK


def _file_error(verb: str, path: str, exc: OSError) -> int:
    """Reports an environment error on `path` in one line (not as a compiler bug)."""
    reason = exc.strerror or str(exc)
    print(f"vplc: error: cannot {verb} '{path}': {reason}", file=sys.stderr)
    return EXIT_USAGE


def _print_diagnostics(diagnostics: Sequence[Diagnostic], path: str, source: str) -> None:
    if diagnostics:
        print(format_all(diagnostics, path, source), file=sys.stderr)


def _check(args: argparse.Namespace, rest: list[str]) -> int:
    return _analysed(args.program)[1]


def _plan(args: argparse.Namespace, rest: list[str]) -> int:
    compiled, status = _analysed(args.program)
    if compiled is not None:
        sys.stdout.write(dump_plan(compiled.plan))
    return status


def _graph(args: argparse.Namespace, rest: list[str]) -> int:
    compiled, status = _analysed(args.program)
    if compiled is not None:
        top = topology(compiled.plan)
        sys.stdout.write(to_dot(top) if args.format == "dot" else to_mermaid(top))
    return status


def _module_source(compiled: Compiled, standalone: bool) -> str:
    from vplc.codegen.generate import generate_module

    source = generate_module(compiled.plan)
    if standalone:
        from vplc.standalone.inline import inline_runtime

        source = inline_runtime(source)
    return source


def _compile(args: argparse.Namespace, rest: list[str]) -> int:
    compiled, status = _analysed(args.program)
    if compiled is None:
        return status
    try:
        source = _module_source(compiled, args.standalone)
    except Exception:
        print(
            f"{args.program}: internal compiler error:\n{traceback.format_exc()}", file=sys.stderr
        )
        return EXIT_INTERNAL
    if args.output in (None, "-"):
        sys.stdout.write(source)
        return EXIT_OK
    try:
        with open(args.output, "w", encoding="utf-8") as file:
            file.write(source)
    except OSError as exc:  # a missing directory, a directory, no permission, disk full
        return _file_error("write", args.output, exc)
    return EXIT_OK


def _run(args: argparse.Namespace, rest: list[str]) -> int:
    if args.program is None:  # `vplc run`, `vplc run --help`, `vplc run --stats x.vpl`
        if rest[:1] in (["-h"], ["--help"]):
            sys.stdout.write(_RUN_HELP)
            return EXIT_OK
        sys.stderr.write(_RUN_HELP if not rest else f"usage: {_RUN_USAGE}\n")
        if rest:
            print("vplc run: error: PROGRAM must come before the options", file=sys.stderr)
        return EXIT_USAGE
    compiled, status = _analysed(args.program)
    if compiled is None:
        return status
    source = _module_source(compiled, standalone=False)
    name = os.path.splitext(os.path.basename(args.program))[0]
    namespace: dict[str, Any] = {"__name__": f"vplc_run_{name}"}
    exec(compile(source, f"<{name}.py generated by vplc>", "exec"), namespace)
    # The generated `main` is `run_module(_build, ...)`; called directly so that usage lines
    # name the command the user typed.
    run_module: Callable[..., int] = namespace["run_module"]
    program, prog = os.path.basename(args.program), f"vplc run {args.program}"
    return run_module(namespace["_build"], rest, program=program, prog=prog)


if __name__ == "__main__":
    sys.exit(main())

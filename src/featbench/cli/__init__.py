"""Command-line interface: thin wiring over the library. `main` turns errors into one line."""

from __future__ import annotations

import os
import sys

# Arrow's default allocator (mimalloc) keeps freed pages: ~15-20 MB more resident memory
# in a long run (benchmarks/tail_overhead.py). The system allocator returns them.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

import typer  # noqa: E402
from rich.markup import escape  # noqa: E402

from featbench.cli.app import app  # noqa: E402
from featbench.errors import FeatbenchError  # noqa: E402

# Each module attaches its commands to `app` on import.
_COMMAND_MODULES = [
    "spec_cmd",
    "generate_cmd",
    "load_cmd",  # load, verify
    "run_cmd",  # run, show, get, compare
    "report_cmd",  # report, cost
    "export_cmd",  # export
    "demo_cmd",  # demo
    "embedded_cmd",  # embedded start|status|stop
]


def _import_commands() -> None:
    import importlib

    for name in _COMMAND_MODULES:
        try:
            importlib.import_module(f"featbench.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"featbench.cli.{name}":
                raise


def _say(kind: str, text: str) -> None:
    """`error: …` / `interrupted…` on stderr, always shown (even with --quiet), and the
    text printed as it is: rich would take `featbench[redis]` for a style tag and drop it."""

    from featbench.progress import console

    console.quiet = False
    color = "red" if kind == "error" else "yellow"
    console.print(f"[{color}]{kind}[/]{escape(text)}", highlight=False, soft_wrap=True)


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    _import_commands()
    try:
        rv = app(args=args, prog_name="featbench", standalone_mode=False)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        _say("interrupted", "")
        sys.exit(130)
    except typer.TyperException as e:
        # Typer vendors click: usage errors (unknown option, bad value) are TyperExceptions
        # with click's show()/exit_code, not `click.ClickException`.
        # One line, as every other bad input: what is wrong, and where the help is.
        fmt = getattr(e, "format_message", None)
        text = fmt() if callable(fmt) else str(e)
        text = text.replace("Value error, ", "")  # typer's pydantic coercion prefix
        ctx = getattr(e, "ctx", None)
        where = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
        _say("error", f": {' '.join(text.split())}{where}")
        sys.exit(2)
    except KeyboardInterrupt:
        if debug:
            raise
        _say("interrupted", ": what was finished is kept")
        sys.exit(130)
    except FeatbenchError as e:
        if debug:
            raise
        _say("error", f": {e}")
        sys.exit(e.exit_code)
    except Exception as e:  # noqa: BLE001 - last resort: one line, never a traceback by default
        if debug:
            raise
        _say("error", f": unexpected {type(e).__name__}: {e} (run with --debug for the traceback)")
        sys.exit(1)
    sys.exit(rv if isinstance(rv, int) else 0)

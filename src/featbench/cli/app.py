"""The Typer application object; command modules attach their commands to it.

Only typer is imported here: `featbench --help` must not load the library's heavy stacks
(pyarrow, plotly, numpy, psycopg); each command imports what it needs when it runs.
"""

from __future__ import annotations

import typer

from featbench import __version__
from featbench.cli import help_style

help_style.install()

app = typer.Typer(
    name="featbench",
    help=(
        "Benchmark online feature serving: generate a feature-store data set, load it into "
        "PostgreSQL/Lakebase, DynamoDB or Redis, replay multi-entity requests at controlled "
        "skew and load, and report latency, cache behaviour and cost.\n\n"
        "Start with:  featbench demo"
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)

spec_app = typer.Typer(
    help="Show or export the workload spec (entities, tables, columns).", no_args_is_help=True
)
app.add_typer(spec_app, name="spec")

# -1 quiet, 0 normal, 1+ verbose: set by the root options, read by commands (`verbosity()`).
_state = {"verbosity": 0}


def verbosity() -> int:
    return _state["verbosity"]


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"featbench {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        help="Print featbench's version and exit.",
        is_eager=True,
        callback=_print_version,
    ),  # fmt: skip
    quiet: bool = typer.Option(
        False,
        "--quiet",
        "-q",
        help="Print only results and errors: no progress bars, no live display, no notes.",
    ),  # fmt: skip
    verbose: int = typer.Option(
        0,
        "--verbose",
        "-v",
        count=True,
        show_default=False,
        help="Say more: featbench's log messages on stderr (-vv: debug).",
    ),  # fmt: skip
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    """featbench: online feature serving benchmark."""
    # --debug is read by main() before Typer runs; declared here so --help lists it.
    _state["verbosity"] = -1 if quiet else verbose
    if quiet:
        from featbench.progress import console

        console.quiet = True  # progress bars and notes; main() unmutes it to print an error
    elif verbose:
        import logging

        logging.basicConfig(format="featbench: %(name)s: %(message)s")
        logging.getLogger("featbench").setLevel(logging.DEBUG if verbose > 1 else logging.INFO)

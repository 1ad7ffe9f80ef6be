"""The Typer application object; command modules attach their commands to it."""

from __future__ import annotations

import typer

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


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    """featbench: online feature serving benchmark."""
    # --debug is read by main() before Typer runs; declared here so --help lists it.

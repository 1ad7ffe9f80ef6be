"""`featbench embedded status|stop`: the embedded PostgreSQL's lifecycle."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from featbench.cli.app import app
from featbench.cli.options import Json

Purge = Annotated[bool, typer.Option("--purge", help="Also delete the data directory (everything loaded).")]  # fmt: skip

embedded_app = typer.Typer(
    help="The embedded PostgreSQL (--target embedded): started on first use, kept running between commands.",
    no_args_is_help=True,
)
app.add_typer(embedded_app, name="embedded")


@embedded_app.command("start")
def start(as_json: Json = False) -> None:
    """Start the embedded server (with featbench's settings) and print how to connect.

    Example: featbench embedded start && psql "$(featbench embedded start --json | jq -r .uri)"
    """
    from featbench.backends import embedded
    from featbench.progress import console

    srv = embedded.start()
    doc = {"data_dir": str(srv.pgdata), "uri": srv.uri, "pid": srv.pid, "settings": srv.settings}
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
    else:
        console.print(
            f"embedded PostgreSQL running (pid {srv.pid}), data in {srv.pgdata}", highlight=False
        )
        console.print(f"psql '{srv.uri}'", highlight=False, markup=False)


@embedded_app.command("status")
def status(as_json: Json = False) -> None:
    """Whether the embedded server is running, where its data is, and its URI.

    Example: featbench embedded status
    """
    from featbench.backends import embedded
    from featbench.progress import console

    st = embedded.status()
    if as_json:
        typer.echo(json.dumps(st, indent=2))
    elif st["running"]:
        console.print(
            f"running (pid {st['pid']}), data in {st['data_dir']}: psql '{st['uri']}'",
            highlight=False,
            markup=False,
        )
    else:
        what = "stopped" if st["initialised"] else "not created yet"
        console.print(f"{what}; data directory {st['data_dir']}", highlight=False, markup=False)


@embedded_app.command("stop")
def stop(
    purge: Purge = False,
    as_json: Json = False,
) -> None:
    """Stop the embedded server cleanly; with --purge also delete its data.

    Example: featbench embedded stop --purge
    """
    from featbench.backends import embedded
    from featbench.progress import console

    r = embedded.stop(purge=purge)
    if as_json:
        typer.echo(json.dumps(r, indent=2))
    else:
        msg = "stopped" if r["stopped"] else "was not running"
        if r["purged"]:
            msg += f"; deleted {r['data_dir']}"
        console.print(f"embedded PostgreSQL {msg}", highlight=False, markup=False)

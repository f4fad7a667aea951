"""``diffland data ...``: read, cache and inspect input data (mounted by ``diffland.cli``)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Read input data into the common dataset layout, cache it as zarr, inspect it.")


@app.command()
def prepare(
    source: str = typer.Option(..., "--source", help="KIND:PATH; KIND one of hydrodl, noahpoint, "
                               "hrldas, ldasin, nldas2, smapl3, ismn, synthetic"),
    out: Path = typer.Option(..., "--out", help="STORE.zarr to write"),
    dt: Optional[int] = typer.Option(None, "--dt", help="model step [s]: disaggregate daily "
                                     "forcing to it (a divisor of 86400)"),
):
    """Read SOURCE and write it as a chunked zarr store; print its summary."""
    from .data import DataError, inspect, prepare as _prepare

    try:
        p = _prepare(source, out, dt=dt)
    except DataError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(code=2)
    typer.echo(f"wrote {p}")
    typer.echo(inspect(p))


@app.command("inspect")
def inspect_cmd(path: Path = typer.Argument(..., help="zarr store written by `prepare`")):
    """Print cells, period, variables (units, missing fractions) and the reader's report."""
    from .data import DataError, inspect

    try:
        typer.echo(inspect(path))
    except DataError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(code=2)

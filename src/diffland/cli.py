"""``diffland`` command line: one command, several sub-commands."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="diffland: differentiable Noah-MP and parameter learning from SMAP.")

try:  # the data sub-commands live in their own module
    from .cli_data import app as _data_app

    app.add_typer(_data_app, name="data", help="Read, check and cache input data.")
except ImportError:  # pragma: no cover - only while the data layer is absent
    pass


try:  # parameter learning: diffland train / diffland evaluate
    from .cli_learning import evaluate_cmd as _evaluate_cmd
    from .cli_learning import train_cmd as _train_cmd

    app.command("train", help="Learn Noah-MP parameters through the physics (writes a run directory).")(_train_cmd)
    app.command("evaluate", help="Transfer check: default vs learned parameters in float64 physics.")(_evaluate_cmd)
except ImportError:  # pragma: no cover
    pass

try:  # export and classic calibration
    from . import cli_export as _cli_export

    if hasattr(_cli_export, "export_cmd"):
        app.command("export", help="Export learned parameters: netcdf | hrldas | table.")(_cli_export.export_cmd)
    if hasattr(_cli_export, "calibrate_cmd"):
        app.command("calibrate", help="Derivative-free calibration baseline (DDS / SCE-UA).")(_cli_export.calibrate_cmd)
except ImportError:  # pragma: no cover
    pass


experiment_app = typer.Typer(no_args_is_help=True, help="Reproducible experiments that write a report.")
app.add_typer(experiment_app, name="experiment")


@experiment_app.command("paper")
def experiment_paper(
    data: str = typer.Option(..., "--data", help="KIND:PATH, e.g. hydrodl:../shared/data/conus_smap[?cells=0:312:6]"),
    out: Path = typer.Option(..., "--out", help="output folder (report.md, report.html, results.csv, figures)"),
    quick: bool = typer.Option(False, "--quick", help="small preset (<= 8 cells, 90 days, 1 epoch): a smoke run"),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="training epochs per run"),
    members: Optional[int] = typer.Option(None, "--members", help="ensemble members per cell for the surrogate"),
    outer: Optional[int] = typer.Option(None, "--outer", help="surrogate outer iterations (re-train around the "
                                                               "learned parameters)"),
    only: List[str] = typer.Option([], "--only", help="run only these experiment ids (route|ab|loss)"),
    compile_cache: bool = typer.Option(True, "--compile-cache/--no-compile-cache",
                                       help="keep compiled programs in $DIFFLAND_CACHE/jax (JAX's persistent "
                                            "compilation cache) and reuse them across runs"),
):
    """The seed paper's experiment matrix: {surrogate, direct} x {a/b on, off} x {global, regime-balanced}."""
    from .experiment.paper import run_paper

    res = run_paper(data, out, quick=quick, experiments=only or None, epochs=epochs, members=members, outer=outer,
                    log=typer.echo, compile_cache=compile_cache)
    typer.echo(f"wrote {res['report'].get('report_md')}")


def _parse_sets(sets: List[str]) -> dict:
    out = {}
    for s in sets or []:
        if "=" not in s:
            raise typer.BadParameter(f"--set expects NAME=VALUE, got {s!r}")
        k, v = s.split("=", 1)
        try:
            out[k.strip()] = float(v)
        except ValueError:
            raise typer.BadParameter(f"--set {k}: value {v!r} is not a number") from None
    return out


@app.command()
def simulate(
    forcing: Path = typer.Option(..., "--forcing", help="HRLDAS single-point .dat, or CSV/NetCDF with a UTC time column"),
    out: Path = typer.Option(..., "--out", help="OUT.csv or OUT.nc"),
    namelist: Optional[Path] = typer.Option(None, "--namelist", help="HRLDAS namelist.hrldas for physics options"),
    table: Optional[Path] = typer.Option(None, "--table", help="NoahmpTable.TBL (default: the packaged v5 table path)"),
    set_: List[str] = typer.Option([], "--set", help="NAME=VALUE parameter override for all cells"),
    precision: str = typer.Option("float32", "--precision", help="float32 or float64"),
    lat: Optional[float] = typer.Option(None, help="latitude for table forcing [deg]"),
    lon: Optional[float] = typer.Option(None, help="longitude for table forcing [deg]"),
    veg_class: Optional[int] = typer.Option(None, help="MODIS vegetation class for table forcing"),
    soil_class: Optional[int] = typer.Option(None, help="STAS soil class for table forcing"),
):
    """Run the Noah-MP column model and write HRLDAS-named outputs."""
    from .runner import run_simulate_command

    recs = run_simulate_command(forcing=forcing, out=out, namelist=namelist, table=table,
                                overrides=_parse_sets(set_), precision=precision,
                                lat=lat, lon=lon, veg_class=veg_class, soil_class=soil_class)
    typer.echo(f"wrote {out} ({recs} steps)")


@app.command()
def bench(
    out: Path = typer.Option(Path("bench_out"), "--out"),
    quick: bool = typer.Option(False, "--quick", help="small sizes, for a smoke test"),
):
    """Throughput (cell-steps/s) and peak memory, forward and forward+gradient."""
    from .bench import run_bench

    run_bench(out, quick=quick)


@app.command()
def demo(out: Path = typer.Option(Path("demo_out"), "--out")):
    """The main job on embedded (synthetic) data: simulate, learn parameters, report."""
    from .demo import run_demo

    run_demo(out)


def main():  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()

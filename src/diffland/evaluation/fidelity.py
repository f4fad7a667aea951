"""Fidelity of diffland's Noah-MP against runs of the real (Fortran) Noah-MP.

The reference runs live in ``../shared/data/noahmp_reference`` (see its README): one
row per 30-min step, row ``step=0`` is the initial state, row ``k`` holds the state
at the end of step ``k`` and the mean fluxes over it.

``fidelity_table`` compares a diffland output (same steps 1..N) with a reference and
returns one record per checked quantity with the measured value and the tolerance
from issue 2 (SOIL_M1 RMSE <= 0.005 m3/m3, SOIL_M2..4 <= 0.01, LH/HFX <= 10 W/m2,
annual ET / surface / underground runoff within 3 %, SNEQV RMSE <= 2 mm).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SECONDS = 1800.0

TOLERANCES = {
    "SOIL_M1_rmse": 0.005,
    "SOIL_M2_rmse": 0.01,
    "SOIL_M3_rmse": 0.01,
    "SOIL_M4_rmse": 0.01,
    "LH_rmse": 10.0,
    "HFX_rmse": 10.0,
    "ET_annual_relerr": 0.03,
    "RUNSF_annual_relerr": 0.03,
    "RUNSB_annual_relerr": 0.03,
    "SNEQV_rmse": 2.0,
}

UNITS = {
    "SOIL_M1_rmse": "m3/m3", "SOIL_M2_rmse": "m3/m3", "SOIL_M3_rmse": "m3/m3",
    "SOIL_M4_rmse": "m3/m3", "LH_rmse": "W/m2", "HFX_rmse": "W/m2",
    "ET_annual_relerr": "-", "RUNSF_annual_relerr": "-", "RUNSB_annual_relerr": "-",
    "SNEQV_rmse": "mm",
}


def load_reference(path: str | Path) -> pd.DataFrame:
    """Read a reference CSV (gzip allowed); returns steps >= 1 only, indexed by step."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"reference run {path} not found; it ships in ../shared/data/noahmp_reference")
    df = pd.read_csv(path)
    df = df[df["step"] >= 1].set_index("step")
    return df


def _rmse(a, b) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.sqrt(np.mean((a - b) ** 2)))


def annual_totals(out: dict, dt: float = SECONDS) -> dict:
    """Totals over the run in mm from per-step mean rates in mm/s (ET = ECAN+ETRAN+EDIR)."""
    et = (np.asarray(out["ECAN"]) + np.asarray(out["ETRAN"]) + np.asarray(out["EDIR"])).sum() * dt
    return {
        "ET": float(et),
        "RUNSF": float(np.asarray(out["RUNSF"]).sum() * dt),
        "RUNSB": float(np.asarray(out["RUNSB"]).sum() * dt),
    }


def fidelity_table(out: dict, ref: pd.DataFrame, dt: float = SECONDS) -> list[dict]:
    """Compare 1-cell outputs ``out`` (name -> array over steps 1..N) with ``ref``.

    Returns records ``{name, value, tolerance, units, ok}``.
    """
    n = len(ref)
    get = lambda k: np.asarray(out[k]).reshape(-1)[:n]  # noqa: E731
    vals = {}
    for k in range(1, 5):
        vals[f"SOIL_M{k}_rmse"] = _rmse(get(f"SOIL_M{k}"), ref[f"SOIL_M{k}"])
    vals["LH_rmse"] = _rmse(get("LH"), ref["LH"])
    vals["HFX_rmse"] = _rmse(get("HFX"), ref["HFX"])
    sim = annual_totals({k: get(k) for k in ("ECAN", "ETRAN", "EDIR", "RUNSF", "RUNSB")}, dt)
    reft = annual_totals({k: ref[k].to_numpy() for k in ("ECAN", "ETRAN", "EDIR", "RUNSF", "RUNSB")}, dt)
    for k in ("ET", "RUNSF", "RUNSB"):
        vals[f"{k}_annual_relerr"] = abs(sim[k] - reft[k]) / max(abs(reft[k]), 1e-9)
    vals["SNEQV_rmse"] = _rmse(get("SNEQV"), ref["SNEQV"])
    recs = []
    for name, v in vals.items():
        recs.append({"name": name, "value": v, "tolerance": TOLERANCES[name], "units": UNITS[name],
                     "ok": bool(v <= TOLERANCES[name])})
    recs.append({"name": "totals_sim_mm", "value": sim, "tolerance": None, "units": "mm", "ok": True})
    recs.append({"name": "totals_ref_mm", "value": reft, "tolerance": None, "units": "mm", "ok": True})
    return recs


def format_table(recs: list[dict]) -> str:
    lines = ["| quantity | measured | tolerance | units | ok |", "|---|---|---|---|---|"]
    for r in recs:
        if r["tolerance"] is None:
            continue
        lines.append(f"| {r['name']} | {r['value']:.4g} | {r['tolerance']:g} | {r['units']} | {'yes' if r['ok'] else 'NO'} |")
    return "\n".join(lines)

"""Physical bounds of Noah-MP parameters and a checker for per-cell parameter dicts.

The ranges combine the calibration literature collected in ``shared/docs/noahmp-physics.md``
section 12 (NWM/WRF-Hydro calibration multipliers applied to the table extremes, the Ahmad et al.
dPL bounds) and are widened where needed so that every value of ``NoahmpTable.TBL`` for the
classes a land cell can use is inside (soil class 14 "water" is excluded: the HRLDAS driver
resets it to class 7 at land points; non-vegetated classes have HVT = VCMX25 = 0, RGL = 999).

``PARAM_BOUNDS[name] = (lo, hi, units)``; the interval is closed.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

__all__ = ["PARAM_BOUNDS", "check_params", "ParameterRangeError"]

PARAM_BOUNDS: dict[str, tuple[float, float, str]] = {
    # soil hydraulics (table: BEXP 2.79-11.55, SMCMAX 0.20-0.484, DKSAT 9.74e-7-1.41e-4,
    # PSISAT 0.036-0.955; NWM multipliers bexp 0.4-1.9, smcmax 0.8-1.2, dksat 0.2-10;
    # Ahmad: bexp 3-9, smcmax 0.3-0.55, dksat 5e-7-3e-5, psisat 0.01-0.7); b > 1 is required.
    "BEXP": (1.0, 22.0, "-"),
    "SMCMAX": (0.15, 0.70, "m3/m3"),
    "DKSAT": (1.0e-7, 1.5e-3, "m/s"),
    "PSISAT": (0.001, 2.0, "m"),
    "DWSAT": (1.0e-8, 1.0e-2, "m2/s"),
    "SMCREF": (0.01, 0.70, "m3/m3"),
    "SMCWLT": (0.0, 0.50, "m3/m3"),
    "SMCDRY": (0.0, 0.50, "m3/m3"),
    "QUARTZ": (0.0, 1.0, "-"),
    # soil evaporation / runoff / drainage (NWM: rsurfexp 1-6, refkdt 0.1-4, slope 0-1; Ahmad
    # refkdt 0.1-10)
    "RSURF_EXP": (1.0, 6.0, "-"),
    "REFKDT": (0.1, 10.0, "-"),
    "REFDK": (1.0e-8, 1.0e-4, "m/s"),
    "SLOPE": (0.0, 1.0, "-"),
    "FRZK": (0.01, 1.0, "-"),
    "TIMEAN": (1.0, 20.0, "-"),
    "FSATMX": (0.0, 1.0, "-"),
    "ROUS": (0.01, 0.5, "-"),
    "CMIC": (0.0, 1.0, "-"),
    "CSOIL": (1.0e6, 4.0e6, "J m-3 K-1"),
    # vegetation (table VCMX25 0-80, MP 6-9, CWPVT 0.18-5, HVT 0-20; NWM multipliers vcmx25
    # 0.6-1.4, mp 0.6-1.4, cwpvt 0.5-2, hvt 0.25-1.5; Ahmad rgl 30-150, topt 293-303)
    "VCMX25": (0.0, 150.0, "umol CO2 m-2 s-1"),
    "MP": (2.0, 15.0, "-"),
    "CWPVT": (0.05, 10.0, "-"),
    "HVT": (0.0, 40.0, "m"),
    "HVB": (0.0, 40.0, "m"),
    "Z0MVT": (0.0, 5.0, "m"),
    "RGL": (10.0, 1000.0, "W m-2"),
    "RS": (1.0, 1000.0, "s m-1"),
    "HS": (1.0, 1000.0, "-"),
    "TOPT": (290.0, 310.0, "K"),
    "NROOT": (0.0, 20.0, "layers"),
    "CZIL": (0.0, 1.0, "-"),
    "MFSNO": (0.5, 8.0, "-"),
    "SHDMAX": (0.0, 1.0, "fraction"),
    "TBOT": (200.0, 350.0, "K"),
}

#: ordered pairs (smaller, larger) that must hold element-wise
_ORDER_CONSTRAINTS = (("SMCWLT", "SMCREF"), ("SMCREF", "SMCMAX"), ("HVB", "HVT"))


class ParameterRangeError(ValueError):
    """A parameter value outside its physical bounds (message names parameter, cell, value)."""


def _where(idx: tuple, ndim: int) -> str:
    if ndim == 0:
        return "scalar"
    if ndim == 1:
        return f"cell {idx[0]}"
    return f"layer/row {idx[0]}, cell {idx[1]}"


def check_params(params: Mapping, bounds: Mapping[str, tuple] | None = None,
                 *, max_report: int = 10) -> None:
    """Check every parameter that has bounds (and the orderings SMCWLT < SMCREF < SMCMAX, HVB <= HVT).

    Args:
        params: dict of arrays, (cells,) or (nsoil, cells) (NumPy or JAX, concrete values).
        bounds: ``{name: (lo, hi, units)}``; default :data:`PARAM_BOUNDS`.
        max_report: at most this many violations are listed in the message.

    Raises:
        ParameterRangeError: lists parameter, cell (and layer) index, value and allowed range
            (units) for each violation, plus the total number of violations.
    """
    bounds = PARAM_BOUNDS if bounds is None else bounds
    problems: list[str] = []
    total = 0
    for name, (lo, hi, units) in bounds.items():
        if name not in params:
            continue
        arr = np.asarray(params[name], dtype=np.float64)
        bad = ~((arr >= lo) & (arr <= hi))  # also catches NaN
        n = int(np.sum(bad))
        if n:
            total += n
            for idx in np.argwhere(bad)[: max(0, max_report - len(problems))]:
                idx = tuple(int(i) for i in idx)
                problems.append(f"{name} at {_where(idx, arr.ndim)} = {arr[idx]:.6g} outside "
                                f"[{lo:g}, {hi:g}] {units}")
    for small, large in _ORDER_CONSTRAINTS:
        if small in params and large in params:
            a = np.asarray(params[small], dtype=np.float64)
            b = np.asarray(params[large], dtype=np.float64)
            try:
                a, b = np.broadcast_arrays(a, b)
            except ValueError:
                continue
            strict = small != "HVB"
            bad = ~(a < b) if strict else ~(a <= b)
            n = int(np.sum(bad))
            if n:
                total += n
                op = "<" if strict else "<="
                for idx in np.argwhere(bad)[: max(0, max_report - len(problems))]:
                    idx = tuple(int(i) for i in idx)
                    problems.append(f"{small} {op} {large} violated at {_where(idx, a.ndim)}: "
                                    f"{small} = {a[idx]:.6g}, {large} = {b[idx]:.6g}")
    if total:
        more = f"\n  ... {total - len(problems)} more" if total > len(problems) else ""
        raise ParameterRangeError(f"{total} parameter value(s) outside physical bounds:\n  "
                                  + "\n  ".join(problems) + more)

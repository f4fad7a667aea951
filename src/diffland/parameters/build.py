"""Noah-MP table values -> per-cell parameter dict (the ``params`` argument of the physics).

This re-implements what the HRLDAS driver does in ``ConfigVarInTransferMod``,
``WaterVarInTransferMod``, ``EnergyVarInTransferMod`` and ``BiochemVarInTransferMod`` when it
copies ``NoahmpTable.TBL`` values into one Noah-MP column, vectorised over cells.

Output layout (all ``np.ndarray`` of ``dtype``; ``cells`` = number of cells):

Soil parameters, shape ``(nsoil, cells)`` (layer 1 = top first; with SOIL_DATA_OPTION=1 all
layers hold the class values of ``soil_class``):
    BEXP [-] (table BB), SMCMAX [m3/m3] (MAXSMC), SMCREF [m3/m3] (REFSMC), SMCWLT [m3/m3] (WLTSMC),
    SMCDRY [m3/m3] (DRYSMC), DKSAT [m/s] (SATDK), DWSAT [m2/s] (SATDW), PSISAT [m, positive]
    (SATPSI), QUARTZ [-] (QTZ), BVIC, AXAJ, BXAJ, XXAJ, BDVIC, BBVIC [-], GDVIC [m].
    (Noah-MP uses layer-1 values of BVIC..GDVIC only; they are still given per layer.)

Vegetation parameters of the class ``veg_class`` (MODIS table by default), shape ``(cells,)``:
    every class list of ``&noahmp_modis_parameters`` under its table name -- CH2OP [mm], DLEAF [m],
    Z0MVT [m], HVT [m], HVB [m], DEN [1/m2], RC [m], MFSNO [-], SCFFAC [m], CBIOM [m], RHOL_VIS,
    RHOL_NIR, RHOS_VIS, RHOS_NIR, TAUL_VIS, TAUL_NIR, TAUS_VIS, TAUS_NIR [-], XL [-], CWPVT [-],
    C3PSN [-], KC25 [Pa], AKC, KO25 [Pa], AKO, AVCMX, AQE, LTOVRC, DILEFC, DILEFW, RMF25, SLA,
    FRAGR, TMIN [K], VCMX25 [umol/m2/s], TDLEF [K], BP [umol/m2/s], MP [-], QE25, RMS25, RMR25, ARM,
    FOLNMX [%], WDPOOL, WRRAT, MRP, NROOT (float, number of root layers), RGL [W/m2], RS [s/m],
    HS [-], TOPT [K], RSMAX [s/m], RTOVRC, RSWOODC, BF, WSTRC, LAIMIN, XSAMIN --
    plus LAIM and SAIM, shape ``(12, cells)``: monthly LAI/SAI [m2/m2], January first.

General parameters (``&noahmp_general_parameters``, ``_DATA`` suffix dropped), ``(cells,)``:
    SLOPE [-] (SLOPE_DATA of ``slope_type``), CSOIL [J/m3/K], REFDK [m/s], REFKDT [-], FRZK [-],
    ZBOT [m, negative], CZIL [-].

Radiation parameters (``&noahmp_rad_parameters``), ``(cells,)``:
    ALBSAT_VIS, ALBSAT_NIR, ALBDRY_VIS, ALBDRY_NIR (selected for ``soil_color``), ALBICE_VIS,
    ALBICE_NIR, ALBLAK_VIS, ALBLAK_NIR, OMEGAS_VIS, OMEGAS_NIR, BETADS, BETAIS, EG_SOIL, EG_LAKE,
    EICE.

Global parameters: every entry of ``&noahmp_global_parameters`` under its table name, ``(cells,)``:
    CO2 [mol/mol], O2 [mol/mol], TIMEAN [-], FSATMX [-], ROUS [-], CMIC [-], SSI [m3/m3],
    SNOW_RET_FAC [1/s], SNOW_EMIS [-], SNLIQMAXFRAC [-], SWEMAXGLA [mm], SNOWDEN_MAX [kg/m3],
    RSURF_SNOW [s/m], Z0SNO [m], SWEMX [mm], TAU0 [s], GRAIN_GROWTH, EXTRA_GROWTH, DIRT_SOOT,
    BATS_COSZ, BATS_VIS_NEW, BATS_NIR_NEW, BATS_VIS_AGE, BATS_NIR_AGE, BATS_VIS_DIR, BATS_NIR_DIR,
    CLASS_ALB_REF, CLASS_SNO_AGE [s], CLASS_ALB_NEW, C2_SNOWCOMPACT [m3/kg], C3_SNOWCOMPACT [1/s],
    C4_SNOWCOMPACT [1/K], C5_SNOWCOMPACT, DM_SNOWCOMPACT [kg/m3], ETA0_SNOWCOMPACT [kg s/m2],
    SNOWCOMPACTm_AR24, SNOWCOMPACTb_AR24, SNOWCOMPACT_P1_AR24, SNOWCOMPACT_P2_AR24,
    SNOWCOMPACT_P3_AR24, SNOWCOMPACT_Up_AR24, SCFm1_AR25, SCFm2_AR25, SCfac1_AR25, SCfac2_AR25,
    RSURF_EXP [-], WSLMAX [mm], PSIWLT [m, negative], Z0SOIL [m], Z0LAKE [m], WCAP [m].

Site values, ``(cells,)`` (present only when given, or set through ``overrides``):
    SHDMAX -- maximum green vegetation fraction as a FRACTION 0-1 (the input ``shdmax`` is in
    percent, as HRLDAS GVFMAX / the point file; Noah-MP divides by 100), TBOT [K] -- deep soil
    temperature at ZBOT.

Class flags, float 0/1 ``(cells,)``: IS_URBAN, IS_WATER, IS_BARREN, IS_ICE, IS_CROP, IS_EBLFOREST
(from ISURBAN, ISWATER, ... in the vegetation table header; urban also for LCZ classes > URBTYPE_beg).

Noah-MP driver behaviour reproduced:
- urban cells (SF_URBAN_PHYSICS=0): SMCMAX=0.45, SMCREF=0.42, SMCWLT=SMCDRY=0.40 in all layers and
  CSOIL=3.0e6 (WaterVarInTransfer / EnergyVarInTransfer); LCZ classes 51-61 use the ISURBAN class;
- soil class 14 (water) at a land point is reset to 7 (sandy clay loam), with a warning.
Not reproduced (options off in the supported configuration): crop-model parameters
(CROP_OPTION=0), tile drainage, irrigation, SNICAR, pedotransfer (SOIL_DATA_OPTION 3/4), the USGS
playa/lava/white-sand vegetation-fraction reset.  Derived coefficients that Noah-MP computes from
these (e.g. the infiltration coefficient REFKDT*DKSAT(1)/REFDK) are left to the physics so that
gradients flow through them.
"""
from __future__ import annotations

import difflib
import warnings
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .derived import derive_soil_params
from .table import NoahmpTable, read_noahmp_table

__all__ = ["build_params", "SOIL_KEYS", "MONTHLY_KEYS", "DERIVED_SOIL_KEYS", "FLAG_KEYS",
           "SITE_KEYS", "param_shape_kind"]

#: params key -> STAS table column name
_SOIL_TABLE_NAME = {
    "BEXP": "BB", "SMCMAX": "MAXSMC", "SMCREF": "REFSMC", "SMCWLT": "WLTSMC", "SMCDRY": "DRYSMC",
    "DKSAT": "SATDK", "DWSAT": "SATDW", "PSISAT": "SATPSI", "QUARTZ": "QTZ",
    "BVIC": "BVIC", "AXAJ": "AXAJ", "BXAJ": "BXAJ", "XXAJ": "XXAJ", "BDVIC": "BDVIC",
    "BBVIC": "BBVIC", "GDVIC": "GDVIC",
}
SOIL_KEYS = tuple(_SOIL_TABLE_NAME)
MONTHLY_KEYS = ("LAIM", "SAIM")
DERIVED_SOIL_KEYS = ("DWSAT", "SMCWLT", "SMCDRY", "SMCREF")
FLAG_KEYS = ("IS_URBAN", "IS_WATER", "IS_BARREN", "IS_ICE", "IS_CROP", "IS_EBLFOREST")
SITE_KEYS = ("SHDMAX", "TBOT")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_URBAN_SOIL = {"SMCMAX": 0.45, "SMCREF": 0.42, "SMCWLT": 0.40, "SMCDRY": 0.40}
_URBAN_CSOIL = 3.0e6


def param_shape_kind(key: str) -> str:
    """``"soil"`` for (nsoil, cells), ``"monthly"`` for (12, cells), ``"cell"`` for (cells,)."""
    if key in SOIL_KEYS:
        return "soil"
    if key in MONTHLY_KEYS:
        return "monthly"
    return "cell"


def _as_class_array(x: Any, name: str) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(x))
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            bad = np.flatnonzero(~np.isfinite(arr.ravel()) | (arr.ravel() != np.round(arr.ravel())))[0]
            raise ValueError(f"{name}: class numbers must be integers; got {arr.ravel()[bad]!r} "
                             f"at flat index {bad}")
        arr = arr.astype(np.int64)
    elif arr.dtype.kind not in "iu":
        raise ValueError(f"{name}: class numbers must be integers, got dtype {arr.dtype}")
    return arr.astype(np.int64)


def _check_range(arr: np.ndarray, lo: int, hi: int, name: str, what: str,
                 extra_ok: np.ndarray | None = None) -> None:
    ok = (arr >= lo) & (arr <= hi)
    if extra_ok is not None:
        ok |= extra_ok
    if not np.all(ok):
        idx = np.argwhere(~ok)[0]
        where = f"cell {idx[-1]}" if arr.ndim == 1 else f"layer {idx[0]}, cell {idx[1]}"
        nbad = int(np.sum(~ok))
        raise ValueError(f"{name}: {what} {int(arr[tuple(idx)])} at {where} is not a valid class "
                         f"(valid range {lo}..{hi}); {nbad} invalid value(s) in total")


def resolve_classes(table: NoahmpTable, soil_class: Any, veg_class: Any, nsoil: int = 4,
                    veg_table: str = "modis", warn: bool = True):
    """Check class numbers and return (soil (nsoil, cells), veg_effective (cells,), is_urban (cells,)).

    Raises ValueError naming the cell and the valid range for unknown classes.
    """
    veg = _as_class_array(veg_class, "veg_class")
    if veg.ndim != 1:
        raise ValueError(f"veg_class must have shape (cells,), got {veg.shape}")
    cells = veg.size
    soil = _as_class_array(soil_class, "soil_class")
    _check_range(soil, 1, table.nsoil_classes, "soil_class", f"{table.soil_dataset} soil class")
    if soil.ndim == 1:
        if soil.size == 1 and cells > 1:
            soil = np.full(cells, soil[0])
        if soil.size != cells:
            raise ValueError(f"soil_class has {soil.size} cells but veg_class has {cells}")
        soil = np.broadcast_to(soil, (nsoil, cells)).copy()
    elif soil.ndim == 2:
        if soil.shape != (nsoil, cells):
            raise ValueError(f"soil_class with per-layer classes must have shape (nsoil, cells) = "
                             f"({nsoil}, {cells}), got {soil.shape}")
    else:
        raise ValueError(f"soil_class must have shape (cells,) or (nsoil, cells), got {soil.shape}")

    vg = table.veg_group(veg_table)
    nveg = table.nveg(veg_table)
    ind = {k: int(np.asarray(v).ravel()[0]) for k, v in vg.items()
           if isinstance(v, np.ndarray) and v.size == 1}
    urb_beg = ind.get("URBTYPE_beg", 50)
    lcz_max = max([v for k, v in ind.items() if k.upper().startswith("LCZ_")], default=urb_beg)
    is_lcz = (veg > urb_beg) & (veg <= lcz_max)
    _check_range(veg, 1, nveg, "veg_class", f"{veg_table.upper()} vegetation class", extra_ok=is_lcz)

    water_soil = soil == 14
    if np.any(water_soil):
        if warn:
            cells_bad = np.unique(np.argwhere(water_soil)[:, 1])
            warnings.warn(f"soil class 14 (water) at land cell(s) {cells_bad[:10].tolist()}: reset to "
                          f"7 (sandy clay loam), as the HRLDAS driver does", stacklevel=3)
        soil = np.where(water_soil, 7, soil)
    isurban = ind.get("ISURBAN", -1)
    is_urban = (veg == isurban) | (veg > urb_beg)
    veg_eff = np.where(is_urban, isurban, veg)
    return soil, veg_eff, is_urban


def build_params(*, soil_class, veg_class, table, nsoil: int = 4, shdmax=None, tbot=None,
                 soil_color=4, slope_type=1, overrides: Mapping[str, Any] | None = None,
                 consistent: bool = False, dtype=np.float32,
                 veg_table: str = "modis") -> dict[str, np.ndarray]:
    """Per-cell Noah-MP parameter dict from class numbers and the parameter table.

    Args:
        soil_class: STAS soil class per cell, int array (cells,) -- or (nsoil, cells) for
            per-layer classes (SOIL_DATA_OPTION=2).  Valid 1..SLCATS (19).
        veg_class: vegetation class per cell, int array (cells,); MODIS classes 1..20 (or USGS
            1..27 with ``veg_table="usgs"``); urban LCZ classes 51..61 map to ISURBAN.
        table: :class:`NoahmpTable` or path of ``NoahmpTable.TBL``.
        nsoil: number of soil layers.
        shdmax: maximum vegetation fraction per cell in PERCENT 0-100 (HRLDAS SHDMAX/GVFMAX);
            stored as the fraction ``SHDMAX`` = shdmax/100.  Scalar or (cells,).  ``None``: key absent.
        tbot: deep soil temperature at ZBOT per cell [K], scalar or (cells,). ``None``: key absent.
        soil_color: soil colour index 1..8 (HRLDAS hard-codes 4), scalar or (cells,).
        slope_type: index into SLOPE_DATA 1..9 (HRLDAS hard-codes 1 -> SLOPE=0.1), scalar or (cells,).
        overrides: ``{key: scalar or array}`` replacing any key after the table lookup; a scalar
            is used for all cells, an array must have the key's shape -- (cells,) for per-cell
            keys; (nsoil, cells) or (cells,) (same in all layers) for soil keys; (12, cells) or (12,)
            for LAIM/SAIM.  Unknown key -> ValueError listing close matches.
        consistent: if True, DWSAT, SMCWLT (= SMCDRY) and SMCREF are recomputed from BEXP,
            SMCMAX, DKSAT, PSISAT (after overrides) with :func:`derive_soil_params` (urban cells
            keep Noah-MP's hard-coded urban values).  Overriding a derived key together with
            ``consistent=True`` is an error.
        dtype: numpy dtype of every output array.
        veg_table: ``"modis"`` (default, MODIFIED_IGBP_MODIS_NOAH) or ``"usgs"``.

    Returns:
        dict ``{name: np.ndarray}``; see the module docstring for keys, shapes and units.

    Raises:
        ValueError: invalid class numbers (names the cell and the valid range), bad soil colour
            / slope type, shapes that do not match, unknown override keys, out-of-range SHDMAX.
    """
    if not isinstance(table, NoahmpTable):
        table = read_noahmp_table(Path(table))
    soil, veg, is_urban = resolve_classes(table, soil_class, veg_class, nsoil, veg_table)
    cells = veg.size
    out: dict[str, np.ndarray] = {}

    # --- soil, per layer -------------------------------------------------------------------
    sg = table.soil_group()
    for key, tname in _SOIL_TABLE_NAME.items():
        col = _lookup(sg, tname, table, "soil")
        out[key] = np.asarray(col, dtype=np.float64)[soil - 1]

    # --- vegetation ------------------------------------------------------------------------
    vg = table.veg_group(veg_table)
    nveg = table.nveg(veg_table)
    for key, val in vg.items():
        if not isinstance(val, np.ndarray) or val.dtype.kind not in "fi" or val.size != nveg:
            continue
        up = key.upper()
        if (up.startswith("LAI_") or up.startswith("SAI_")) and up[4:] in _MONTHS:
            continue
        out[key] = val.astype(np.float64)[veg - 1]
    for mkey, prefix in (("LAIM", "LAI_"), ("SAIM", "SAI_")):
        rows = [np.asarray(_lookup(vg, prefix + m, table, veg_table), dtype=np.float64)
                for m in _MONTHS]
        out[mkey] = np.stack(rows)[:, veg - 1]

    # --- class flags -----------------------------------------------------------------------
    def _ind(name):
        return int(np.asarray(_lookup(vg, name, table, veg_table)).ravel()[0])

    out["IS_URBAN"] = is_urban.astype(np.float64)
    out["IS_WATER"] = (veg == _ind("ISWATER")).astype(np.float64)
    out["IS_BARREN"] = (veg == _ind("ISBARREN")).astype(np.float64)
    out["IS_ICE"] = (veg == _ind("ISICE")).astype(np.float64)
    out["IS_CROP"] = (veg == _ind("ISCROP")).astype(np.float64)
    out["IS_EBLFOREST"] = (veg == _ind("EBLFOREST")).astype(np.float64)

    # --- general ---------------------------------------------------------------------------
    gg = table.group("noahmp_general_parameters")
    slope_data = np.asarray(_lookup(gg, "SLOPE_DATA", table, "general"), dtype=np.float64)
    st = _per_cell_int(slope_type, cells, "slope_type")
    _check_range(st, 1, slope_data.size, "slope_type", "slope type")
    out["SLOPE"] = slope_data[st - 1]
    for key, val in gg.items():
        if key.upper() == "SLOPE_DATA" or not isinstance(val, np.ndarray):
            continue
        name = key[:-5] if key.upper().endswith("_DATA") else key
        out[name] = np.full(cells, float(val.ravel()[0]))

    # --- radiation -------------------------------------------------------------------------
    rg = table.group("noahmp_rad_parameters")
    sc = _per_cell_int(soil_color, cells, "soil_color")
    ncol = np.asarray(_lookup(rg, "ALBSAT_VIS", table, "rad")).size
    _check_range(sc, 1, ncol, "soil_color", "soil colour")
    for key in ("ALBSAT_VIS", "ALBSAT_NIR", "ALBDRY_VIS", "ALBDRY_NIR"):
        out[key] = np.asarray(_lookup(rg, key, table, "rad"), dtype=np.float64)[sc - 1]
    pairs = {"ALBICE": ("_VIS", "_NIR"), "ALBLAK": ("_VIS", "_NIR"), "OMEGAS": ("_VIS", "_NIR"),
             "EG": ("_SOIL", "_LAKE")}
    for key, val in rg.items():
        up = key.upper()
        if up in ("ALBSAT_VIS", "ALBSAT_NIR", "ALBDRY_VIS", "ALBDRY_NIR"):
            continue
        v = np.asarray(val, dtype=np.float64).ravel()
        if up in pairs:
            if v.size != 2:
                raise ValueError(f"{table.path}: {key} in &noahmp_rad_parameters needs 2 values, "
                                 f"got {v.size}")
            for i, suffix in enumerate(pairs[up]):
                out[up + suffix] = np.full(cells, v[i])
        elif v.size == 1:
            out[key] = np.full(cells, v[0])

    # --- global ----------------------------------------------------------------------------
    for key, val in table.group("noahmp_global_parameters").items():
        if isinstance(val, np.ndarray) and val.dtype.kind in "fi" and val.size == 1:
            out[key] = np.full(cells, float(val[0]))

    # --- urban hard-coded values (driver) ----------------------------------------------------
    if np.any(is_urban):
        for key, v in _URBAN_SOIL.items():
            out[key] = np.where(is_urban[None, :], v, out[key])
        out["CSOIL"] = np.where(is_urban, _URBAN_CSOIL, out["CSOIL"])

    # --- site values -------------------------------------------------------------------------
    if shdmax is not None:
        s = _per_cell_float(shdmax, cells, "shdmax")
        if np.any((s < 0) | (s > 100)) or not np.all(np.isfinite(s)):
            i = int(np.flatnonzero(~((s >= 0) & (s <= 100)))[0])
            raise ValueError(f"shdmax at cell {i} = {s[i]!r} is outside 0..100 (percent)")
        if s.size and np.all(s <= 1.0) and np.any(s > 0):
            warnings.warn("shdmax values are all <= 1: shdmax is in PERCENT (0-100); did you pass "
                          "a fraction?", stacklevel=2)
        out["SHDMAX"] = s / 100.0
    if tbot is not None:
        t = _per_cell_float(tbot, cells, "tbot")
        bad = ~((t > 200.0) & (t < 350.0))
        if np.any(bad):
            i = int(np.flatnonzero(bad)[0])
            hint = " (looks like Celsius: add 273.15)" if -80 < t[i] < 60 else ""
            raise ValueError(f"tbot at cell {i} = {t[i]!r} K is outside 200..350 K{hint}")
        out["TBOT"] = t

    # --- overrides -------------------------------------------------------------------------
    overrides = dict(overrides or {})
    if consistent:
        clash = [k for k in overrides if k in DERIVED_SOIL_KEYS]
        if clash:
            raise ValueError(f"overrides set derived key(s) {clash} while consistent=True derives "
                             f"them from BEXP, SMCMAX, DKSAT, PSISAT; drop one of the two")
    known = set(out) | set(SITE_KEYS)
    for key, value in overrides.items():
        name = _resolve_key(key, known)
        out[name] = _shape_override(name, value, out.get(name), cells, nsoil)

    # --- derived soil parameters ---------------------------------------------------------------
    if consistent:
        d = derive_soil_params(out["BEXP"], out["SMCMAX"], out["DKSAT"], out["PSISAT"])
        for key in DERIVED_SOIL_KEYS:
            val = np.asarray(d[key], dtype=np.float64)
            if key in _URBAN_SOIL:
                val = np.where(is_urban[None, :], _URBAN_SOIL[key], val)
            out[key] = val

    return {k: np.ascontiguousarray(np.asarray(v, dtype=dtype)) for k, v in out.items()}


def _lookup(group: dict, name: str, table: NoahmpTable, label: str):
    for k, v in group.items():
        if k.lower() == name.lower():
            return v
    raise ValueError(f"{table.path}: entry {name} missing from the {label} parameter group")


def _per_cell_int(x, cells: int, name: str) -> np.ndarray:
    arr = _as_class_array(x, name)
    if arr.size == 1:
        return np.full(cells, int(arr[0]))
    if arr.shape != (cells,):
        raise ValueError(f"{name} must be a scalar or shape ({cells},), got {arr.shape}")
    return arr


def _per_cell_float(x, cells: int, name: str) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(x, dtype=np.float64))
    if arr.size == 1:
        return np.full(cells, arr.ravel()[0])
    if arr.shape != (cells,):
        raise ValueError(f"{name} must be a scalar or shape ({cells},), got {arr.shape}")
    return arr


def _resolve_key(key: str, known: set[str]) -> str:
    if key in known:
        return key
    ci = [k for k in known if k.lower() == key.lower()]
    if len(ci) == 1:
        return ci[0]
    close = difflib.get_close_matches(key, sorted(known), n=5, cutoff=0.5)
    if not close:
        close = difflib.get_close_matches(key.upper(), sorted(k.upper() for k in known), n=5,
                                          cutoff=0.5)
    hint = f"; close matches: {', '.join(close)}" if close else ""
    raise ValueError(f"unknown parameter {key!r} in overrides{hint}")


def _shape_override(name: str, value: Any, current: np.ndarray | None, cells: int,
                    nsoil: int) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    kind = param_shape_kind(name)
    target = {"soil": (nsoil, cells), "monthly": (12, cells), "cell": (cells,)}[kind]
    if arr.ndim == 0 or arr.size == 1 and arr.ndim <= 1:
        res = np.full(target, arr.ravel()[0])
    elif arr.shape == target:
        res = arr.copy()
    elif kind == "soil" and arr.shape == (cells,):
        res = np.broadcast_to(arr, target).copy()
    elif kind == "monthly" and arr.shape == (12,):
        res = np.broadcast_to(arr[:, None], target).copy()
    else:
        allowed = {"soil": f"scalar, ({cells},) or ({nsoil}, {cells})",
                   "monthly": f"scalar, (12,) or (12, {cells})",
                   "cell": f"scalar or ({cells},)"}[kind]
        raise ValueError(f"override for {name} has shape {arr.shape}; allowed: {allowed}")
    if not np.all(np.isfinite(res)):
        idx = np.argwhere(~np.isfinite(res))[0]
        raise ValueError(f"override for {name} contains a non-finite value at index {tuple(idx)}")
    return res

"""HRLDAS run-time namelist (``namelist.hrldas``, group ``&NOAHLSM_OFFLINE``) <-> ``Options``.

:func:`read_hrldas_namelist` maps the Noah-MP switches of the namelist onto
:class:`diffland.physics.options.Options` and returns the run-control entries (start time, run
length, time steps, forcing variable names, directories) in an ``info`` dict.  It mirrors the
HRLDAS routine ``NoahmpReadNamelist`` (``drivers/hrldas/NoahmpReadNamelistMod.F90``): a key that
is absent takes the HRLDAS default (note: HRLDAS defaults TEMP_TIME_SCHEME_OPTION=1 and
SURFACE_RESISTANCE_OPTION=1, which diffland does not implement, so those keys must be present).

Namelist key -> ``Options`` field:

=================================== ========= ==========================
DYNAMIC_VEG_OPTION                  dveg      supported: 4
CANOPY_STOMATAL_RESISTANCE_OPTION   crs       1 (Ball-Berry), 2 (Jarvis)
BTR_OPTION                          btr       1
SURFACE_RUNOFF_OPTION               runsrf    3, 1 (must equal runsub)
SUBSURFACE_RUNOFF_OPTION            runsub    3, 1
SURFACE_DRAG_OPTION                 sfc       1
SUPERCOOLED_WATER_OPTION            frz       1
FROZEN_SOIL_OPTION                  inf       1
RADIATIVE_TRANSFER_OPTION           rad       3
SNOW_ALBEDO_OPTION                  alb       1
PCP_PARTITION_OPTION                snf       1
TBOT_OPTION                         tbot      2
TEMP_TIME_SCHEME_OPTION             stc       3
SURFACE_RESISTANCE_OPTION           rsf       4
SNOW_COVER_OPTION                   sncov     1
NOAH_TIMESTEP [s]                   dt        > 0
soil_thick_input(1:NSOIL) [m]       soil_dz
ZLVL [m]                            zref
=================================== ========= ==========================

Other physics switches without an ``Options`` field must have the value diffland implements:
SNOW_COMPACTION_OPTION=2, SNOW_THERMAL_CONDUCTIVITY=1, GLACIER_OPTION=1, SOIL_DATA_OPTION=1,
CROP_OPTION=0, IRRIGATION_OPTION=0, TILE_DRAINAGE_OPTION=0, WETLAND_OPTION=0,
SOIL_TIMESTEP=0 or NOAH_TIMESTEP.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from diffland.parameters.table import NamelistError, parse_namelist_text
from diffland.physics.options import Options

__all__ = ["read_hrldas_namelist", "write_hrldas_namelist", "OPTION_KEYS", "SUPPORTED"]

#: namelist key -> (Options field, HRLDAS default when the key is absent)
OPTION_KEYS: dict[str, tuple[str, int]] = {
    "DYNAMIC_VEG_OPTION": ("dveg", 4),
    "CANOPY_STOMATAL_RESISTANCE_OPTION": ("crs", 1),
    "BTR_OPTION": ("btr", 1),
    "SURFACE_RUNOFF_OPTION": ("runsrf", 3),
    "SUBSURFACE_RUNOFF_OPTION": ("runsub", 3),
    "SURFACE_DRAG_OPTION": ("sfc", 1),
    "SUPERCOOLED_WATER_OPTION": ("frz", 1),
    "FROZEN_SOIL_OPTION": ("inf", 1),
    "RADIATIVE_TRANSFER_OPTION": ("rad", 3),
    "SNOW_ALBEDO_OPTION": ("alb", 1),
    "PCP_PARTITION_OPTION": ("snf", 1),
    "TBOT_OPTION": ("tbot", 2),
    "TEMP_TIME_SCHEME_OPTION": ("stc", 1),
    "SURFACE_RESISTANCE_OPTION": ("rsf", 1),
    "SNOW_COVER_OPTION": ("sncov", 1),
}

#: Options field -> supported values
SUPPORTED: dict[str, tuple[int, ...]] = {
    "dveg": (4,), "crs": (1, 2), "btr": (1,), "runsrf": (3, 1), "runsub": (3, 1), "sfc": (1,),
    "frz": (1,), "inf": (1,), "rad": (3,), "alb": (1,), "snf": (1,), "tbot": (2,), "stc": (3,),
    "rsf": (4,), "sncov": (1,),
}

#: other namelist switches: key -> (HRLDAS default, supported values)
OTHER_SWITCHES: dict[str, tuple[int, tuple[int, ...]]] = {
    "SNOW_COMPACTION_OPTION": (2, (2,)),
    "SNOW_THERMAL_CONDUCTIVITY": (1, (1,)),
    "GLACIER_OPTION": (1, (1,)),
    "SOIL_DATA_OPTION": (1, (1,)),
    "PEDOTRANSFER_OPTION": (1, (1,)),
    "CROP_OPTION": (0, (0,)),
    "IRRIGATION_OPTION": (0, (0,)),
    "TILE_DRAINAGE_OPTION": (0, (0,)),
    "WETLAND_OPTION": (0, (0,)),
    "DVIC_INFILTRATION_OPTION": (1, (1, 2)),
}

_FORCING_NAME_KEYS = {
    "FORCING_NAME_T": "T2D", "FORCING_NAME_Q": "Q2D", "FORCING_NAME_U": "U2D",
    "FORCING_NAME_V": "V2D", "FORCING_NAME_P": "PSFC", "FORCING_NAME_LW": "LWDOWN",
    "FORCING_NAME_SW": "SWDOWN", "FORCING_NAME_PR": "RAINRATE",
}


def _err(path, lines, key, msg) -> NamelistError:
    line = lines.get(key)
    where = f"{path}, line {line}" if line else str(path)
    return NamelistError(f"{where}: {msg}")


def read_hrldas_namelist(path: str | Path) -> tuple[Options, dict[str, Any]]:
    """Read an HRLDAS namelist and map it onto ``Options``.

    Args:
        path: ``namelist.hrldas`` file with an ``&NOAHLSM_OFFLINE`` group.

    Returns:
        ``(options, info)``.  ``info`` keys:
            ``start`` (np.datetime64[s], UTC), ``khour`` (run length in hours, from KHOUR or
            24*KDAY), ``kday`` (or None), ``end`` (start + khour), ``nsteps`` (khour*3600/dt),
            ``forcing_timestep``, ``noah_timestep``, ``output_timestep``, ``soil_timestep`` [s],
            ``nsoil``, ``forcing_names`` ({LDASIN name: name in the files}), ``indir``,
            ``outdir``, ``hrldas_setup_file``, ``restart_filename_requested`` (or None),
            ``spinup_loops``, ``switches`` (the other physics switches, e.g.
            ``SNOW_COMPACTION_OPTION``), ``raw`` (every namelist entry, keys upper case),
            ``path``.

    Raises:
        NamelistError (ValueError): missing group, malformed syntax, unsupported option value
            (message lists the supported values), missing/inconsistent soil layers or times.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise FileNotFoundError(f"HRLDAS namelist not found: {path}") from None
    groups = parse_namelist_text(text, str(path))
    if "noahlsm_offline" not in groups:
        raise NamelistError(f"{path}: no &NOAHLSM_OFFLINE group (found: "
                            f"{', '.join('&' + g for g in groups) or 'none'})")
    grp = groups["noahlsm_offline"]
    lines = {k.upper(): v for k, v in grp.pop("__lines__").items()}
    grp.pop("__line__")
    grp.pop("__end__")
    raw = {k.upper(): v for k, v in grp.items()}

    def get(key, default=None):
        return raw.get(key, default)

    def as_int(key, default=None):
        v = get(key, default)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float)) or float(v) != int(v):
            raise _err(path, lines, key, f"{key} must be an integer, got {v!r}")
        return int(v)

    fields: dict[str, Any] = {}
    for key, (field, default) in OPTION_KEYS.items():
        val = as_int(key, default)
        ok = SUPPORTED[field]
        if val not in ok:
            origin = "" if key in raw else f" (not set in the namelist; the HRLDAS default is {default})"
            raise _err(path, lines, key, f"{key} = {val}{origin} is not supported by diffland; "
                       f"supported: {', '.join(map(str, ok))}")
        fields[field] = val
    if (fields["runsrf"], fields["runsub"]) not in ((3, 3), (1, 1)):
        raise _err(path, lines, "SUBSURFACE_RUNOFF_OPTION",
                   f"SURFACE_RUNOFF_OPTION = {fields['runsrf']} with SUBSURFACE_RUNOFF_OPTION = "
                   f"{fields['runsub']} is not supported; supported pairs: (3, 3) and (1, 1)")
    switches = {}
    for key, (default, ok) in OTHER_SWITCHES.items():
        val = as_int(key, default)
        if val not in ok:
            raise _err(path, lines, key, f"{key} = {val} is not supported by diffland; "
                       f"supported: {', '.join(map(str, ok))}")
        switches[key] = val

    # time steps
    dt = get("NOAH_TIMESTEP")
    if dt is None or not isinstance(dt, (int, float)) or isinstance(dt, bool) or dt <= 0:
        raise _err(path, lines, "NOAH_TIMESTEP",
                   f"NOAH_TIMESTEP must be set to a positive number of seconds, got {dt!r}")
    forcing_dt = get("FORCING_TIMESTEP")
    if (forcing_dt is None or not isinstance(forcing_dt, (int, float)) or isinstance(forcing_dt, bool)
            or forcing_dt <= 0):
        raise _err(path, lines, "FORCING_TIMESTEP",
                   f"FORCING_TIMESTEP must be set to a positive number of seconds, got {forcing_dt!r}")
    output_dt = as_int("OUTPUT_TIMESTEP", 0)
    if output_dt and output_dt % dt:
        raise _err(path, lines, "OUTPUT_TIMESTEP", f"OUTPUT_TIMESTEP = {output_dt} must be an integer "
                   f"multiple of NOAH_TIMESTEP = {dt}")
    soil_dt = get("SOIL_TIMESTEP", 0) or 0
    if soil_dt not in (0, dt):
        raise _err(path, lines, "SOIL_TIMESTEP", f"SOIL_TIMESTEP = {soil_dt} is not supported: use 0 "
                   f"(same as NOAH_TIMESTEP) or {dt}")

    # soil layers
    nsoil = as_int("NSOIL")
    thick = get("SOIL_THICK_INPUT")
    if thick is None:
        raise _err(path, lines, "NSOIL", "soil_thick_input(1:NSOIL) is missing")
    thick = thick if isinstance(thick, list) else [thick]
    if nsoil is None:
        nsoil = len(thick)
    if len(thick) < nsoil or any(t is None for t in thick[:nsoil]):
        raise _err(path, lines, "SOIL_THICK_INPUT", f"soil_thick_input needs NSOIL = {nsoil} values, "
                   f"got {thick}")
    soil_dz = tuple(float(t) for t in thick[:nsoil])
    if any(t <= 0 for t in soil_dz):
        raise _err(path, lines, "SOIL_THICK_INPUT", f"soil_thick_input must be positive, got {soil_dz}")

    zlvl = float(get("ZLVL", 10.0))
    if zlvl <= 0:
        raise _err(path, lines, "ZLVL", f"ZLVL must be positive (m), got {zlvl}")

    options = Options(**fields, dt=float(dt), soil_dz=soil_dz, zref=zlvl)

    # start time and run length
    try:
        y, mo, d = (as_int("START_YEAR"), as_int("START_MONTH"), as_int("START_DAY"))
        h, mi = as_int("START_HOUR", 0), as_int("START_MIN", 0)
        start = np.datetime64(f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:00", "s")
    except (TypeError, ValueError) as exc:
        missing = [k for k in ("START_YEAR", "START_MONTH", "START_DAY") if k not in raw]
        raise _err(path, lines, "START_YEAR", f"invalid or missing start date "
                   f"{'(missing ' + ', '.join(missing) + ')' if missing else ''}: {exc}") from None
    khour = as_int("KHOUR")
    kday = as_int("KDAY")
    if (khour is None or khour < 0) and (kday is None or kday < 0):
        raise _err(path, lines, "KDAY", "either KHOUR or KDAY must be set")
    if khour is None or khour < 0:
        khour = kday * 24
    end = start + np.timedelta64(int(khour) * 3600, "s")
    names = {ldas: str(get(key, ldas)) for key, ldas in _FORCING_NAME_KEYS.items()}
    info = {
        "start": start,
        "khour": int(khour),
        "kday": kday,
        "end": end,
        "nsteps": int(round(khour * 3600 / float(dt))),
        "forcing_timestep": forcing_dt,
        "noah_timestep": dt,
        "output_timestep": output_dt,
        "soil_timestep": soil_dt,
        "nsoil": nsoil,
        "forcing_names": names,
        "indir": get("INDIR"),
        "outdir": get("OUTDIR"),
        "hrldas_setup_file": get("HRLDAS_SETUP_FILE"),
        "restart_filename_requested": get("RESTART_FILENAME_REQUESTED"),
        "spinup_loops": get("SPINUP_LOOPS", 0),
        "switches": switches,
        "raw": raw,
        "path": str(path),
    }
    return options, info


_REV_OPTION = {field: key for key, (field, _) in OPTION_KEYS.items()}


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return ".true." if v else ".false."
    if isinstance(v, str):
        return '"' + v.replace('"', '""') + '"'
    if isinstance(v, float):
        return repr(v)
    return str(v)


def write_hrldas_namelist(options: Options, path: str | Path, info: dict[str, Any] | None = None) -> None:
    """Write an ``&NOAHLSM_OFFLINE`` namelist for ``options`` (inverse of :func:`read_hrldas_namelist`).

    Args:
        options: physics options (all fields are written).
        path: output file.
        info: optional run-control entries as returned by :func:`read_hrldas_namelist`
            (``start``, ``kday``/``khour``, time steps, directories, forcing names, switches);
            sensible defaults otherwise (start 2000-01-01 00 UTC, KDAY=1).
    """
    info = dict(info or {})
    start = np.datetime64(info.get("start", np.datetime64("2000-01-01T00:00:00")), "s")
    ts = str(start)
    lines = ["&NOAHLSM_OFFLINE", ""]

    def put(key, value):
        if value is not None:
            lines.append(f" {key} = {_fmt(value)}")

    for key in ("hrldas_setup_file", "indir", "outdir"):
        put(key.upper(), info.get(key))
    put("START_YEAR", int(ts[0:4]))
    put("START_MONTH", int(ts[5:7]))
    put("START_DAY", int(ts[8:10]))
    put("START_HOUR", int(ts[11:13]))
    put("START_MIN", int(ts[14:16]))
    if info.get("restart_filename_requested"):
        put("RESTART_FILENAME_REQUESTED", info["restart_filename_requested"])
    if info.get("kday") is not None:
        put("KDAY", int(info["kday"]))
    else:
        put("KHOUR", int(info.get("khour", 24)))
    put("SPINUP_LOOPS", int(info.get("spinup_loops", 0) or 0))
    for ldas, name in (info.get("forcing_names") or {}).items():
        key = next(k for k, v in _FORCING_NAME_KEYS.items() if v == ldas)
        put(key, name)
    lines.append("")
    for field, key in _REV_OPTION.items():
        put(key, int(getattr(options, field)))
    for key, (default, _) in OTHER_SWITCHES.items():
        put(key, int((info.get("switches") or {}).get(key, default)))
    lines.append("")
    dt = options.dt
    dt_out = int(dt) if float(dt).is_integer() else dt
    put("FORCING_TIMESTEP", info.get("forcing_timestep", dt_out))
    put("NOAH_TIMESTEP", dt_out)
    put("OUTPUT_TIMESTEP", info.get("output_timestep", dt_out))
    if info.get("soil_timestep"):
        put("SOIL_TIMESTEP", info["soil_timestep"])
    lines.append("")
    put("NSOIL", options.nsoil)
    for i, dz in enumerate(options.soil_dz, start=1):
        lines.append(f" soil_thick_input({i}) = {float(dz)!r}")
    lines.append("")
    put("ZLVL", float(options.zref))
    lines.append("/")
    Path(path).write_text("\n".join(lines) + "\n")

"""Write a ``NoahmpTable.TBL`` with new per-class values (parameters learned per class).

The table is a set of Fortran namelists (``&noahmp_soil_stas_parameters`` ... ``/``);
class-dependent parameters sit on one line each, ``NAME = v1, v2, ..., vN,  ! comment``
(value k belongs to class k, 1-based). :func:`replace_table_values` edits only the
tokens of the values it replaces and leaves every other byte of the file unchanged
(comments, spacing, other namelists, line endings).

Number format of a replaced value: the original token's style (same decimals, or the
same E-notation mantissa digits) when that style represents the new value exactly in
real*4 (Noah-MP reads the table into real(kind=4)); otherwise the shortest decimal that
reads back as the same float32 (so a simulation with the written table uses exactly the
float32 parameters). The token is right-aligned in the original width when it fits.

Typical sections: soil classes ``noahmp_soil_stas_parameters`` (BB, DRYSMC, MAXSMC,
REFSMC, SATPSI, SATDK, SATDW, WLTSMC, QTZ, BVIC, ...); MODIS vegetation classes
``noahmp_modis_parameters`` (VCMX25, MP, BP, QE25, RS, HS, TOPT, RSMAX, CH2OP, Z0MVT,
HVT, LAI_JAN..., ...); USGS vegetation classes ``noahmp_usgs_parameters``.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

__all__ = [
    "read_table_values",
    "replace_table_values",
    "write_noahmp_table",
    "class_values_from_cells",
]

_SECTION_START = re.compile(r"^\s*&(\w+)\s*$", re.IGNORECASE)
_SECTION_END = re.compile(r"^\s*/\s*$")


def _section_lines(lines: list[str], section: str) -> tuple[int, int]:
    """(first, last) line indices (exclusive end) of namelist ``section`` in ``lines``."""
    want = section.lstrip("&").lower()
    start = None
    for i, line in enumerate(lines):
        if start is None:
            m = _SECTION_START.match(line.rstrip("\r\n"))
            if m and m.group(1).lower() == want:
                start = i + 1
        elif _SECTION_END.match(line.rstrip("\r\n")):
            return start, i
    if start is None:
        raise KeyError(f"namelist &{want} not found in the table")
    raise ValueError(f"namelist &{want} has no closing '/'")


def _find_param(lines: list[str], section: str, name: str) -> int:
    first, last = _section_lines(lines, section)
    pat = re.compile(r"^\s*" + re.escape(name) + r"\s*=", re.IGNORECASE)
    for i in range(first, last):
        if pat.match(lines[i]):
            return i
    raise KeyError(f"parameter {name} not found in &{section.lstrip('&')}")


def _value_spans(line: str) -> list[tuple[int, int]]:
    """Character spans of the comma-separated value tokens after '=' (comment excluded)."""
    eq = line.index("=")
    end = len(line.rstrip("\r\n"))
    bang = line.find("!", eq)
    if bang >= 0:
        end = bang
    spans = []
    pos = eq + 1
    for piece in line[eq + 1:end].split(","):
        stripped = piece.strip()
        if stripped:
            lead = len(piece) - len(piece.lstrip())
            spans.append((pos + lead, pos + lead + len(stripped)))
        pos += len(piece) + 1
    return spans


def _to_float(token: str) -> float:
    return float(token.replace("d", "e").replace("D", "E"))


def read_table_values(text: str, section: str, name: str) -> list[float]:
    """Values of parameter ``name`` in namelist ``section`` of a NoahmpTable text (class k at index k-1)."""
    lines = text.splitlines(keepends=True)
    i = _find_param(lines, section, name)
    line = lines[i]
    return [_to_float(line[a:b]) for a, b in _value_spans(line)]


def _format_like(token: str, value: float) -> str:
    """Format ``value`` in the style of ``token`` if exact in float32, else shortest float32 repr."""
    v32 = np.float32(value)
    sci = "e" in token.lower()
    if sci:
        mant = token.lower().split("e")[0]
        dec = len(mant.split(".")[1]) if "." in mant else 0
        cand = f"{float(value):.{dec}E}"
    elif "." in token:
        dec = len(token.split(".")[1])
        cand = f"{float(value):.{dec}f}"
    else:
        cand = f"{float(value):.0f}" if float(value).is_integer() else ""
    if cand and np.float32(float(cand)) == v32:
        return cand
    if sci:
        return np.format_float_scientific(v32, unique=True, exp_digits=2).upper()
    out = np.format_float_positional(v32, unique=True, trim="-")
    if len(out) > 12:
        out = np.format_float_scientific(v32, unique=True, exp_digits=2).upper()
    return out


def replace_table_values(text: str, section: str, name: str, values: Mapping[int, float] | Sequence[float]) -> str:
    """Return ``text`` with new values of ``name`` in ``&section`` for some classes.

    Args:
        text: the whole NoahmpTable.TBL text.
        section: namelist name, e.g. ``"noahmp_soil_stas_parameters"`` (``&`` optional).
        name: parameter name as in the table (``"BB"``, ``"MAXSMC"``, ``"VCMX25"`` ...).
        values: ``{class (1-based): value}``, or a sequence of one value per class
            (NaN entries are left unchanged). Units as in the table.
    """
    lines = text.splitlines(keepends=True)
    i = _find_param(lines, section, name)
    line = lines[i]
    spans = _value_spans(line)
    if not isinstance(values, Mapping):
        values = {k + 1: v for k, v in enumerate(values) if np.isfinite(v)}
    for cls in values:
        if not 1 <= int(cls) <= len(spans):
            raise IndexError(f"{name} in &{section.lstrip('&')} has {len(spans)} classes; class {cls} is out of range")
    # replace right-to-left so earlier spans stay valid
    for cls in sorted(values, key=int, reverse=True):
        a, b = spans[int(cls) - 1]
        old = line[a:b]
        new = _format_like(old, float(values[cls]))
        # keep the columns aligned: a longer token eats into the blanks before it (>= 1 kept)
        ws = len(line[:a]) - len(line[:a].rstrip(" "))
        start = a - max(ws - 1, 0)
        new = new.rjust(b - start)
        line = line[:start] + new + line[b:]
    lines[i] = line
    return "".join(lines)


def write_noahmp_table(src_path, out_path, updates: Mapping[str, Mapping[str, Mapping[int, float] | Sequence[float]]]) -> Path:
    """Copy a NoahmpTable.TBL replacing per-class values; everything else stays byte-identical.

    Args:
        src_path: the original table (e.g. ``../shared/data/noahmp_tables/v5/NoahmpTable.TBL``).
        out_path: where to write the new table.
        updates: ``{section: {parameter: {class: value}}}``, e.g.
            ``{"noahmp_soil_stas_parameters": {"BB": {6: 5.8}, "SATDK": {6: 4.1e-6}},
            "noahmp_modis_parameters": {"VCMX25": {12: 70.0}}}``.
    Returns:
        the output path.
    """
    raw = Path(src_path).read_bytes()
    text = raw.decode("latin-1")  # byte-preserving round trip for any 8-bit content
    for section, params in updates.items():
        for name, values in params.items():
            text = replace_table_values(text, section, name, values)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_bytes(text.encode("latin-1"))
    return out_path


def class_values_from_cells(values, classes, *, stat: str = "median") -> dict[int, float]:
    """Collapse per-cell parameter values to one value per class.

    Args:
        values: (cells,) parameter values [parameter units].
        classes: (cells,) integer class per cell (1-based, as in the table).
        stat: ``"median"`` or ``"mean"`` over the cells of each class (NaN ignored).
    Returns:
        ``{class: value}`` for every class present, ready for :func:`write_noahmp_table`.
    """
    v = np.asarray(values, dtype=float).ravel()
    c = np.asarray(classes).astype(int).ravel()
    if v.size != c.size:
        raise ValueError(f"values ({v.size}) and classes ({c.size}) must have one entry per cell")
    fn = {"median": np.nanmedian, "mean": np.nanmean}.get(stat)
    if fn is None:
        raise ValueError(f"stat must be 'median' or 'mean', got {stat!r}")
    out = {}
    for k in np.unique(c):
        sel = v[c == k]
        if np.isfinite(sel).any():
            out[int(k)] = float(fn(sel))
    return out

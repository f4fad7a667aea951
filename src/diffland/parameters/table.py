"""Reader for Fortran namelist files and the Noah-MP parameter table (``NoahmpTable.TBL``).

The Noah-MP v5 table is a sequence of Fortran namelist groups (``&noahmp_modis_parameters``,
``&noahmp_soil_stas_parameters``, ...).  The same syntax is used by the HRLDAS run-time namelist
(``namelist.hrldas``) and by the header of the HRLDAS single-point text forcing, so the generic
parser :func:`parse_namelist_text` lives here and is reused by :mod:`diffland.io`.

Supported Fortran namelist syntax
---------------------------------
- groups ``&name ... /`` (also ``&end`` / ``$end`` as terminator); text outside groups is ignored,
  as a Fortran ``read(unit, nml)`` skips it;
- comments from ``!`` to the end of the line (outside quoted strings);
- ``NAME = v1, v2, ...`` with values continued over any number of lines;
- indexed assignment ``NAME(3) = v`` or ``NAME(2:4) = a, b, c`` (1-based, as in Fortran);
- repeat counts ``3*0.0`` (and ``3*`` for three null values);
- null values (``a,,b``) are kept as ``None``;
- logicals ``.true.`` / ``.false.`` / ``.t.`` / ``.f.`` / ``T`` / ``F``;
- quoted strings with ``'`` or ``"`` (a doubled quote inside is an escaped quote);
- integers and reals, including ``1.E4``, ``.5``, ``5.``, ``2.0d-3``.

Names are case-insensitive in Fortran: lookups here are case-insensitive, but the spelling of the
file is kept (e.g. ``SNOWCOMPACTm_AR24``), because that is the Noah-MP parameter name.

Malformed input raises :class:`NamelistError` (a ``ValueError``) naming the file, the line and the
problem.
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "NamelistError",
    "NoahmpTable",
    "parse_namelist_text",
    "read_namelist_file",
    "read_noahmp_table",
]


class NamelistError(ValueError):
    """Malformed Fortran namelist input (message names file, line and problem)."""


# ----------------------------------------------------------------------------------------------
# tokenizer
# ----------------------------------------------------------------------------------------------

_RE_GROUP = re.compile(r"[&$]\s*([A-Za-z_][A-Za-z0-9_]*)")
_RE_ASSIGN = re.compile(
    r"([A-Za-z_][A-Za-z0-9_%]*)\s*(\(\s*[-+0-9\s,:]*\))?\s*=(?!=)"
)
_RE_REPEAT = re.compile(r"(\d+)\*")
_RE_BARE = re.compile(r"[^\s,/=!'\"]+")
_RE_INT = re.compile(r"[+-]?\d+$")
_RE_REAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eEdDqQ][+-]?\d+)?$")
_LOGICAL = {
    ".true.": True, ".t.": True, "t": True, "true": True,
    ".false.": False, ".f.": False, "f": False, "false": False,
}


def _strip_comment(line: str) -> str:
    """Remove a ``!`` comment that is not inside a quoted string."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "!":
            return line[:i]
    return line


def _convert(token: str, where: str) -> Any:
    low = token.lower()
    if low in _LOGICAL:
        return _LOGICAL[low]
    if _RE_INT.match(token):
        return int(token)
    if _RE_REAL.match(token):
        return float(re.sub(r"[dDqQ]", "e", token))
    raise NamelistError(f"{where}: cannot parse value {token!r} (expected a number, a logical "
                        f"such as .true., or a quoted string)")


def _read_string(line: str, pos: int, where: str) -> tuple[str, int]:
    quote = line[pos]
    out = []
    i = pos + 1
    while i < len(line):
        ch = line[i]
        if ch == quote:
            if i + 1 < len(line) and line[i + 1] == quote:  # doubled quote = escaped quote
                out.append(quote)
                i += 2
                continue
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    raise NamelistError(f"{where}: unterminated string starting with {quote}")


def _parse_index(text: str | None, where: str) -> tuple[int, int | None] | None:
    """``(3)`` -> (3, None); ``(2:4)`` -> (2, 4); ``None`` -> None.  1-based."""
    if not text:
        return None
    inner = text.strip()[1:-1].strip()
    if "," in inner:
        raise NamelistError(f"{where}: multi-dimensional index {text!r} is not supported")
    try:
        if ":" in inner:
            lo, hi = inner.split(":")
            return int(lo), int(hi)
        return int(inner), None
    except ValueError:
        raise NamelistError(f"{where}: cannot parse array index {text!r}") from None


@dataclasses.dataclass
class _Entry:
    name: str
    line: int
    index: tuple[int, int | None] | None
    values: list


def parse_namelist_text(text: str, source: str = "<string>",
                        *, stop_after: set[str] | None = None) -> dict[str, dict[str, Any]]:
    """Parse Fortran namelist text.

    Args:
        text: file contents.
        source: name used in error messages (usually the file path).
        stop_after: optional set of lower-case group names; parsing stops once all of them have
            been read (used to read a namelist header in front of a data table).

    Returns:
        ``{group_name_lower: {NAME_as_written: value}}`` where a value is a Python scalar when one
        value was given and a list otherwise (``None`` marks a Fortran null value).  Indexed
        assignments (``X(2) = 1.0``) produce a list filled with ``None`` where not assigned.
        Each group dict also carries the keys ``"__lines__"``: ``{NAME: line number}``,
        ``"__line__"``: the line of the ``&group`` statement and ``"__end__"``: the line of its
        closing ``/``.

    Raises:
        NamelistError: malformed input; the message names ``source``, the line and the problem.
    """
    groups: dict[str, dict[str, Any]] = {}
    current: str | None = None
    group_line = 0
    entries: list[_Entry] = []
    entry: _Entry | None = None
    last_was_comma = True
    remaining = set(stop_after) if stop_after else None

    def close_group(lineno: int) -> None:
        nonlocal current, entries, entry
        assert current is not None
        out: dict[str, Any] = {}
        lines: dict[str, int] = {}
        canon: dict[str, str] = {}
        for e in entries:
            key = canon.setdefault(e.name.lower(), e.name)
            lines[key] = e.line
            if e.index is None:
                if not e.values:
                    raise NamelistError(f"{source}, line {e.line}: no value given for {e.name} "
                                        f"in group &{current}")
                out[key] = e.values[0] if len(e.values) == 1 else list(e.values)
            else:
                lo, hi = e.index
                if lo < 1:
                    raise NamelistError(f"{source}, line {e.line}: index {lo} of {e.name} must be "
                                        f">= 1 (Fortran arrays start at 1)")
                if hi is not None and len(e.values) != hi - lo + 1:
                    raise NamelistError(f"{source}, line {e.line}: {e.name}({lo}:{hi}) needs "
                                        f"{hi - lo + 1} values, got {len(e.values)}")
                prev = out.get(key)
                arr = list(prev) if isinstance(prev, list) else ([] if prev is None else [prev])
                need = lo - 1 + len(e.values)
                arr.extend([None] * (need - len(arr)))
                arr[lo - 1:need] = e.values
                out[key] = arr
        out["__lines__"] = lines
        out["__line__"] = group_line
        out["__end__"] = lineno
        if current in groups:
            raise NamelistError(f"{source}, line {group_line}: group &{current} appears twice "
                                f"(first at line {groups[current]['__line__']})")
        groups[current] = out
        current = None
        entries = []
        entry = None

    lineno = 0
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = _strip_comment(raw)
        pos = 0
        n = len(line)
        while pos < n:
            ch = line[pos]
            if ch.isspace():
                pos += 1
                continue
            where = f"{source}, line {lineno}"
            if current is None:
                m = _RE_GROUP.match(line, pos)
                if m and m.group(1).lower() not in ("end",):
                    current = m.group(1).lower()
                    group_line = lineno
                    entries, entry, last_was_comma = [], None, True
                    pos = m.end()
                    continue
                # text outside a group is skipped, as Fortran's namelist read does
                break
            # inside a group
            if ch == "/" or (ch in "&$" and line[pos + 1:pos + 4].lower() == "end"):
                close_group(lineno)
                if remaining is not None:
                    remaining.discard(list(groups)[-1])
                    if not remaining:
                        return groups
                pos = pos + 1 if ch == "/" else pos + 4
                continue
            if ch in "&$":
                m = _RE_GROUP.match(line, pos)
                name = m.group(1) if m else line[pos:].split()[0]
                raise NamelistError(f"{where}: group &{current} (opened at line {group_line}) is not "
                                    f"closed with '/' before &{name} starts")
            if ch == ",":
                if entry is None:
                    raise NamelistError(f"{where}: stray ',' before any 'NAME =' in group &{current}")
                if last_was_comma:
                    entry.values.append(None)  # Fortran null value
                last_was_comma = True
                pos += 1
                continue
            m = _RE_ASSIGN.match(line, pos)
            if m:
                entry = _Entry(m.group(1), lineno, _parse_index(m.group(2), where), [])
                entries.append(entry)
                last_was_comma = True
                pos = m.end()
                continue
            if ch == "=":
                raise NamelistError(f"{where}: '=' without a variable name in group &{current}")
            if entry is None:
                raise NamelistError(f"{where}: value {line[pos:].split()[0]!r} appears before any "
                                    f"'NAME =' in group &{current}")
            repeat = 1
            m = _RE_REPEAT.match(line, pos)
            if m:
                repeat = int(m.group(1))
                pos = m.end()
                if pos >= n or line[pos].isspace() or line[pos] in ",/":
                    entry.values.extend([None] * repeat)
                    last_was_comma = False
                    continue
                ch = line[pos]
            if ch in "'\"":
                value, pos = _read_string(line, pos, where)
            else:
                m = _RE_BARE.match(line, pos)
                if not m:
                    raise NamelistError(f"{where}: unexpected character {ch!r} in group &{current}")
                value = _convert(m.group(0), f"{where}, {entry.name}")
                pos = m.end()
            entry.values.extend([value] * repeat)
            last_was_comma = False
    if current is not None:
        raise NamelistError(f"{source}: group &{current} opened at line {group_line} is never "
                            f"closed with '/' (end of file at line {lineno})")
    if remaining:
        raise NamelistError(f"{source}: namelist group(s) "
                            f"{', '.join('&' + g for g in sorted(remaining))} not found")
    return groups


def read_namelist_file(path: str | Path) -> dict[str, dict[str, Any]]:
    """Read and parse a Fortran namelist file (see :func:`parse_namelist_text`)."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise FileNotFoundError(f"namelist file not found: {path}") from None
    return parse_namelist_text(text, str(path))


# ----------------------------------------------------------------------------------------------
# Noah-MP table
# ----------------------------------------------------------------------------------------------

#: groups that must be present for :func:`diffland.parameters.build.build_params`
REQUIRED_GROUPS = (
    "noahmp_modis_parameters",
    "noahmp_stas_soil_categories",
    "noahmp_general_parameters",
    "noahmp_rad_parameters",
    "noahmp_global_parameters",
)


def _to_array(value: Any, where: str) -> Any:
    """Numeric scalars/lists -> 1-D float64/int64 numpy arrays; strings and logicals kept."""
    vals = value if isinstance(value, list) else [value]
    if all(isinstance(v, str) for v in vals):
        return vals[0] if len(vals) == 1 else list(vals)
    if all(isinstance(v, bool) for v in vals):
        return np.array(vals, dtype=bool)
    if any(v is None for v in vals):
        raise NamelistError(f"{where}: null (missing) value in a parameter list")
    if any(isinstance(v, (str, bool)) for v in vals):
        raise NamelistError(f"{where}: mixes numbers with strings/logicals")
    if all(isinstance(v, int) for v in vals):
        return np.array(vals, dtype=np.int64)
    return np.array(vals, dtype=np.float64)


@dataclasses.dataclass
class NoahmpTable:
    """Contents of ``NoahmpTable.TBL``.

    Attributes:
        path: file the table was read from.
        groups: ``{group_name_lower: {NAME: value}}``; numeric values are 1-D numpy arrays
            (length 1 for scalars, length NVEG / SLCATS / 8 soil colours ... for class lists),
            strings stay ``str``, logicals become bool arrays.
        lines: ``{group_name_lower: {NAME: line number}}`` (for error messages).
    """

    path: str
    groups: dict[str, dict[str, Any]]
    lines: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)

    def group(self, name: str) -> dict[str, Any]:
        """The dict of one namelist group (name case-insensitive, ``&`` optional)."""
        key = name.lower().lstrip("&")
        if key not in self.groups:
            raise KeyError(f"{self.path}: no namelist group &{key}; groups present: "
                           f"{', '.join(sorted(self.groups))}")
        return self.groups[key]

    __getitem__ = group

    def get(self, group: str, name: str) -> Any:
        """One entry, name case-insensitive (``table.get('noahmp_global_parameters', 'co2')``)."""
        grp = self.group(group)
        for k, v in grp.items():
            if k.lower() == name.lower():
                return v
        raise KeyError(f"{self.path}: {name} not found in group &{group.lower()}")

    def scalar(self, group: str, name: str) -> float:
        """A single numeric value as a Python float (error if the entry has several values)."""
        v = self.get(group, name)
        arr = np.atleast_1d(np.asarray(v))
        if arr.size != 1:
            raise ValueError(f"{self.path}: {name} in &{group} has {arr.size} values, expected one")
        return arr.item()

    @property
    def soil_dataset(self) -> str:
        """``"STAS"`` or ``"STAS_RUC"`` (SLTYPE of ``&noahmp_stas_soil_categories``)."""
        return str(self.get("noahmp_stas_soil_categories", "SLTYPE")).strip().upper()

    def soil_group(self) -> dict[str, Any]:
        """Soil-class parameter group selected by SLTYPE, as the HRLDAS driver does."""
        name = {"STAS": "noahmp_soil_stas_parameters",
                "STAS_RUC": "noahmp_soil_stas_ruc_parameters"}.get(self.soil_dataset)
        if name is None:
            raise ValueError(f"{self.path}: unrecognised SLTYPE {self.soil_dataset!r} "
                             f"(expected 'STAS' or 'STAS_RUC')")
        return self.group(name)

    def veg_group(self, dataset: str = "modis") -> dict[str, Any]:
        """Vegetation-class group: ``"modis"`` (MODIFIED_IGBP_MODIS_NOAH, 20 classes) or ``"usgs"``."""
        ds = dataset.lower()
        if ds not in ("modis", "usgs"):
            raise ValueError(f"unknown vegetation dataset {dataset!r}; use 'modis' or 'usgs'")
        return self.group(f"noahmp_{ds}_parameters")

    def nveg(self, dataset: str = "modis") -> int:
        return int(self.scalar(f"noahmp_{dataset.lower()}_veg_categories", "NVEG"))

    @property
    def nsoil_classes(self) -> int:
        return int(self.scalar("noahmp_stas_soil_categories", "SLCATS"))


def read_noahmp_table(path: str | Path) -> NoahmpTable:
    """Read ``NoahmpTable.TBL`` (Noah-MP v5 parameter table).

    Corresponds to the HRLDAS driver routine ``NoahmpReadTable`` (``NoahmpReadTableMod.F90``),
    which reads each namelist group with a Fortran ``read(15, group)``.

    Args:
        path: path of ``NoahmpTable.TBL``.

    Returns:
        :class:`NoahmpTable` with every group of the file; numeric entries as numpy arrays.

    Raises:
        FileNotFoundError: the file does not exist.
        NamelistError: malformed namelist syntax (file, line and problem in the message), a
            required group is missing, or a class list has the wrong length.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise FileNotFoundError(f"Noah-MP parameter table not found: {path}") from None
    raw = parse_namelist_text(text, str(path))
    missing = [g for g in REQUIRED_GROUPS if g not in raw]
    if missing:
        raise NamelistError(f"{path}: required namelist group(s) missing: "
                            f"{', '.join('&' + g for g in missing)}")
    groups: dict[str, dict[str, Any]] = {}
    lines: dict[str, dict[str, int]] = {}
    for gname, content in raw.items():
        lines[gname] = content.pop("__lines__")
        content.pop("__line__")
        content.pop("__end__")
        groups[gname] = {
            k: _to_array(v, f"{path}, line {lines[gname][k]}, {k}") for k, v in content.items()
        }
    table = NoahmpTable(str(path), groups, lines)
    _check_lengths(table)
    return table


def _check_lengths(table: NoahmpTable) -> None:
    """Every class list must have one value per class (NVEG or SLCATS)."""
    checks = []
    for ds in ("modis", "usgs"):
        if f"noahmp_{ds}_parameters" in table.groups and f"noahmp_{ds}_veg_categories" in table.groups:
            checks.append((f"noahmp_{ds}_parameters", table.nveg(ds), "NVEG"))
    nsl = table.nsoil_classes
    for g in ("noahmp_soil_stas_parameters", "noahmp_soil_stas_ruc_parameters"):
        if g in table.groups:
            checks.append((g, nsl, "SLCATS"))
    for gname, n, label in checks:
        for k, v in table.groups[gname].items():
            if isinstance(v, np.ndarray) and v.size > 1 and v.size != n:
                line = table.lines.get(gname, {}).get(k, "?")
                raise NamelistError(f"{table.path}, line {line}: {k} in &{gname} has {v.size} values, "
                                    f"expected {label} = {n}")

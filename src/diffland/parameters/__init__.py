"""Noah-MP parameters: table reading, per-cell arrays, derived identities, bounds."""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from .bounds import PARAM_BOUNDS, check_params
from .build import build_params
from .derived import derive_soil_params
from .table import read_noahmp_table

__all__ = ["PARAM_BOUNDS", "check_params", "build_params", "derive_soil_params", "read_noahmp_table",
           "default_table_path", "default_table", "default_params_for"]


def default_table_path() -> Path:
    """Where the v5 ``NoahmpTable.TBL`` is read from when no ``--table`` is given.

    Order: ``$DIFFLAND_TABLE``; ``../shared/data/noahmp_tables/v5/NoahmpTable.TBL`` beside the
    project checkout; the same path relative to the current directory.
    """
    env = os.environ.get("DIFFLAND_TABLE")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    candidates = [here.parents[3].parent / "shared" / "data" / "noahmp_tables" / "v5" / "NoahmpTable.TBL",
                  Path.cwd().parent / "shared" / "data" / "noahmp_tables" / "v5" / "NoahmpTable.TBL",
                  Path.cwd() / "shared" / "data" / "noahmp_tables" / "v5" / "NoahmpTable.TBL"]
    for c in candidates:
        if c.exists():
            return c
    raise FileNotFoundError(
        "NoahmpTable.TBL not found: set DIFFLAND_TABLE=/path/to/NoahmpTable.TBL or pass --table "
        f"(looked in {', '.join(str(c) for c in candidates)})")


@lru_cache(maxsize=4)
def default_table(path: str | None = None):
    """The parsed default table (cached)."""
    return read_noahmp_table(path or default_table_path())


def default_params_for(ncells: int, soil_class=6, veg_class=10, shdmax=70.0, tbot=285.0,
                       dtype=np.float32, **kw) -> dict:
    """Table parameters for ``ncells`` cells of one soil/vegetation class (benchmarks, demos).

    ``soil_class`` / ``veg_class`` may also be per-cell integer arrays.
    """
    sc = np.broadcast_to(np.asarray(soil_class), (ncells,)).astype(int)
    vc = np.broadcast_to(np.asarray(veg_class), (ncells,)).astype(int)
    return build_params(soil_class=sc, veg_class=vc, table=default_table(),
                        shdmax=np.broadcast_to(np.asarray(shdmax, float), (ncells,)),
                        tbot=np.broadcast_to(np.asarray(tbot, float), (ncells,)), dtype=dtype, **kw)

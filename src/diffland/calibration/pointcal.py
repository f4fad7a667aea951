"""Single-site calibration against in-situ soil moisture: Bondville (Illinois) 1998.

Set-up
------
* **Model**: the HRLDAS single-point case ``hrldas_single_point/single_point/bondville_1998.dat``
  (:func:`diffland.runner.load_case`: UTC forcing, 30-min steps, site soil class 8 / MODIS
  vegetation class 12, initial state from the file header) with table parameters from
  :func:`diffland.parameters.build_params` and the default physics options.
* **Observation**: in-situ volumetric soil moisture at 5 cm, column 31 of
  ``bondville_1998/forcing98_with_validation.dat`` read by :func:`diffland.data.read_noah_point`.
  That file is in local standard time (period end); ``read_noah_point`` already converts it to UTC
  (``UTC = LST + 6 h``, ``obs_time`` = UTC end of the half hour), so observations are matched to
  the model's UTC step-end stamps by exact time (17472 common half hours, no gaps).
* **Compared model variable**: ``SOIL_M1``, the total volumetric water of the top layer
  (0-10 cm, centre 5 cm), against the 5 cm probe. No bias correction or rescaling.
* **Periods** (UTC stamps): training = steps ending on or before 1998-07-01 00:00 (Jan-Jun),
  test = steps ending after it (Jul-Dec). Calibration runs simulate the training half only;
  the evaluation runs the whole year once (the test half continues from the simulated state of
  30 June) in float64.
* **Parameters** (one value for all four soil layers): ``BEXP`` [3, 11], ``SMCMAX`` [0.30, 0.55],
  ``DKSAT`` [5e-7, 3e-5] m/s (searched in log space), ``PSISAT`` [0.01, 0.7] m (log space),
  ``RSURF_EXP`` [1, 6] -- the ranges of the parameter-learning defaults
  (``diffland.learning.networks.DEFAULT_SPECS``). ``DWSAT``, ``SMCWLT`` = ``SMCDRY`` and ``SMCREF``
  are recomputed from the four primary ones with :func:`diffland.parameters.derive_soil_params`
  for every candidate (the default run uses the table as it is).
* **Objective**: RMSE of ``SOIL_M1`` against ``SM_5cm`` over the training half.

Search: batched DDS
-------------------
DDS (Tolson & Shoemaker 2007) is sequential. :func:`dds_batched` evaluates ``batch`` candidates
per generation, all perturbed from the current best with the DDS neighbourhood (dimension
selection probability ``1 - ln(i)/ln(m)`` with ``i`` the number of evaluations so far, ``r = 0.2``,
reflection at the bounds); the best of the generation replaces the incumbent when it is no worse.
The candidates of one generation are the **cells of one model run** (the physics is vectorised
over cells), so a budget of ``m`` parameter-set evaluations costs ``ceil(m / batch)`` batched model
runs. The first generation holds the table default (as ``x0``) and ``batch - 1`` uniform random
points. The budget counts parameter sets (= single-site model runs), used exactly.
"""
from __future__ import annotations

import math
import time as _time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .dds import CalibrationResult, _bounds, _clean, _reflect

__all__ = ["PARAMS", "SPACE", "BONDVILLE_DAT", "BONDVILLE_OBS", "dds_batched", "BondvilleProblem",
           "calibrate_bondville", "PointCalResult"]

_SHARED = Path(__file__).resolve().parents[4] / "shared" / "data"
BONDVILLE_DAT = _SHARED / "hrldas_single_point" / "single_point" / "bondville_1998.dat"
BONDVILLE_OBS = _SHARED / "bondville_1998" / "forcing98_with_validation.dat"
SPLIT = np.datetime64("1998-07-01T00:00:00")

#: calibrated parameters: name -> (lower, upper, log-space search)
SPACE: dict[str, tuple[float, float, bool]] = {
    "BEXP": (3.0, 11.0, False),
    "SMCMAX": (0.30, 0.55, False),
    "DKSAT": (5e-7, 3e-5, True),
    "PSISAT": (0.01, 0.7, True),
    "RSURF_EXP": (1.0, 6.0, False),
}
PARAMS = tuple(SPACE)


def to_unit(values: np.ndarray) -> np.ndarray:
    """Physical ``(..., d)`` -> search coordinates in [0, 1] (log for DKSAT/PSISAT)."""
    v = np.asarray(values, float)
    out = np.empty_like(v)
    for j, (lo, hi, lg) in enumerate(SPACE.values()):
        x = np.clip(v[..., j], lo, hi)
        out[..., j] = (np.log(x / lo) / np.log(hi / lo)) if lg else (x - lo) / (hi - lo)
    return out


def from_unit(u: np.ndarray) -> np.ndarray:
    """Search coordinates in [0, 1] -> physical values, ``(..., d)``."""
    u = np.asarray(u, float)
    out = np.empty_like(u)
    for j, (lo, hi, lg) in enumerate(SPACE.values()):
        out[..., j] = lo * (hi / lo) ** u[..., j] if lg else lo + (hi - lo) * u[..., j]
    return out


def dds_batched(objective: Callable[[np.ndarray], np.ndarray], lower, upper, budget: int, *, batch: int,
                seed: int = 0, x0=None, r: float = 0.2) -> CalibrationResult:
    """DDS with ``batch`` candidates per generation, evaluated by one vectorised call.

    Args:
        objective: ``(k, d)`` parameter sets -> ``(k,)`` losses (``k <= batch``).
        lower, upper: ``(d,)`` bounds.
        budget: number of parameter sets evaluated in total (used exactly; the last generation
            is smaller when ``budget`` is not a multiple of ``batch``).
        batch: candidates per generation (cells of one model run).
        x0: optional start point, evaluated in the first generation.
    Returns:
        :class:`CalibrationResult` (``history[k]`` = best loss after ``k + 1`` evaluations;
        ``info["model_runs"]`` = number of objective calls).
    """
    budget, batch = int(budget), int(batch)
    if budget < 1 or batch < 1:
        raise ValueError(f"budget and batch must be >= 1; got {budget}, {batch}")
    lb, ub = _bounds(lower, upper)
    d = lb.size
    rng = np.random.default_rng(seed)
    sigma = r * (ub - lb)
    history = np.empty(budget)
    count = 0
    calls = 0
    xb, fb = None, np.inf

    def evaluate(x):
        nonlocal count, calls, xb, fb
        f = _clean(objective(x.copy()))
        if f.shape != (x.shape[0],):
            raise ValueError(f"objective must return ({x.shape[0]},) losses; got {f.shape}")
        calls += 1
        for k in range(x.shape[0]):
            if xb is None or f[k] <= fb:
                xb, fb = x[k].copy(), float(f[k])
            history[count] = fb
            count += 1

    n0 = min(batch, budget)
    first = lb + rng.random((n0, d)) * (ub - lb)
    if x0 is not None:
        first[0] = np.clip(np.asarray(x0, float), lb, ub)
    evaluate(first)
    while count < budget:
        k = min(batch, budget - count)
        cand = np.empty((k, d))
        for c in range(k):
            i = count + c + 1
            p = 1.0 - math.log(i) / math.log(budget) if budget > 1 else 1.0
            sel = rng.random(d) < p
            if not sel.any():
                sel[rng.integers(d)] = True
            cand[c] = np.where(sel, xb + sigma * rng.standard_normal(d), xb)
        evaluate(_reflect(cand, lb, ub))
    assert count == budget
    return CalibrationResult(x=xb, f=fb, history=history, n_evals=budget, method="dds_batched",
                             info={"batch": batch, "model_runs": calls, "r": r, "seed": seed})


class BondvilleProblem:
    """The Bondville 1998 case with the 5 cm observations aligned to the model steps."""

    def __init__(self, dat=BONDVILLE_DAT, obs=BONDVILLE_OBS):
        from diffland.data import read_noah_point
        from diffland.physics.options import Options
        from diffland.runner import load_case

        self.time, self.forcing, self.site, self.initial, soil_dz = load_case(Path(dat))
        self.options = Options(dt=float((self.time[1] - self.time[0]) / np.timedelta64(1, "s")), soil_dz=soil_dz)
        ds = read_noah_point(obs)
        ot = ds["obs_time"].values.astype("datetime64[s]")
        sm = ds["SM_5cm"].values[:, 0].astype(float)
        t = self.time.astype("datetime64[s]")
        idx = np.searchsorted(ot, t)
        ok = (idx < ot.size)
        ok[ok] &= ot[idx[ok]] == t[ok]
        self.obs = np.full(t.size, np.nan)
        self.obs[ok] = sm[idx[ok]]
        self.train = (t <= SPLIT) & np.isfinite(self.obs)
        self.test = (t > SPLIT) & np.isfinite(self.obs)
        self.n_train_steps = int(np.searchsorted(t, SPLIT, side="right"))

    def params(self, values: np.ndarray | None, dtype=np.float32) -> dict:
        """Parameter dict for ``k`` cells: ``values (k, 5)`` physical (None: one default cell)."""
        from diffland.parameters import build_params, default_table, derive_soil_params

        k = 1 if values is None else len(values)
        s = self.site
        p = build_params(soil_class=np.full(k, s["soil_class"]), veg_class=np.full(k, s["veg_class"]),
                         table=default_table(), shdmax=np.full(k, float(s["SHDMAX"])),
                         tbot=np.full(k, float(s["TBOT"])), dtype=np.float64)
        if values is not None:
            v = np.asarray(values, float)
            nsoil = p["BEXP"].shape[0]
            for j, name in enumerate(PARAMS):
                p[name] = np.broadcast_to(v[:, j], (nsoil, k)).copy() if p[name].ndim == 2 else v[:, j].copy()
            p.update({n: np.asarray(a, float) for n, a in
                      derive_soil_params(p["BEXP"], p["SMCMAX"], p["DKSAT"], p["PSISAT"]).items()})
        return {n: np.ascontiguousarray(a, dtype=dtype) for n, a in p.items()}

    def default_values(self) -> np.ndarray:
        p = self.params(None, np.float64)
        return np.array([float(np.ravel(p[n])[0]) for n in PARAMS])

    def simulate(self, params: dict, n_steps: int | None = None, precision="float32") -> np.ndarray:
        """SOIL_M1 (steps, k) for the first ``n_steps`` steps."""
        from diffland.simulate import simulate

        n = self.time.size if n_steps is None else int(n_steps)
        k = params["BEXP"].shape[-1]
        f = {name: np.repeat(v[:n], k, axis=1) for name, v in self.forcing.items()}
        ini = {name: np.repeat(v, k, axis=-1) for name, v in self.initial.items()}
        res = simulate(f, params, self.options, ini, time=self.time[:n], lat=np.full(k, float(self.site["lat"])),
                       lon=np.full(k, float(self.site["lon"])), precision=precision, checkpoint=False)
        return np.asarray(res["SOIL_M1"], float)

    def rmse(self, sm: np.ndarray, mask: np.ndarray) -> np.ndarray:
        m = mask[: sm.shape[0]]
        err = sm[m] - self.obs[: sm.shape[0]][m][:, None]
        return np.sqrt(np.mean(err ** 2, axis=0))

    def objective(self, unit: np.ndarray) -> np.ndarray:
        """Training RMSE for ``(k, 5)`` candidates in search coordinates (one batched run)."""
        p = self.params(from_unit(unit), np.float32)
        sm = self.simulate(p, self.n_train_steps, "float32")
        return self.rmse(sm, self.train)


@dataclass
class PointCalResult:
    params: dict                  # calibrated physical values
    default: dict                 # table defaults
    rmse: dict                    # {"default": {"train":, "test":}, "calibrated": {...}} float64 runs
    budget: int
    batch: int
    model_runs: int
    wall_s: float
    calib_wall_s: float
    history: np.ndarray
    info: dict = field(default_factory=dict)

    def summary(self) -> str:
        r = self.rmse
        lines = [
            "Bondville 1998, SOIL_M1 (0-10 cm) vs in-situ 5 cm soil moisture, RMSE [m3/m3]",
            f"  default    : train {r['default']['train']:.4f}   test {r['default']['test']:.4f}",
            f"  calibrated : train {r['calibrated']['train']:.4f}   test {r['calibrated']['test']:.4f}",
            f"  {self.info.get('method', 'dds').upper()} budget {self.budget} parameter sets = {self.model_runs} "
            f"model runs of {self.batch} cell(s) each; "
            f"calibration {self.calib_wall_s:.1f} s, total {self.wall_s:.1f} s (incl. compilation)",
            "  parameters (default -> calibrated): " + ", ".join(
                f"{k} {self.default[k]:.4g} -> {self.params[k]:.4g}" for k in PARAMS),
        ]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"params": self.params, "default": self.default, "rmse": self.rmse, "budget": self.budget,
                "batch": self.batch, "model_runs": self.model_runs, "wall_s": self.wall_s,
                "calib_wall_s": self.calib_wall_s, "best_loss_history": [float(x) for x in self.history],
                "info": self.info}


def calibrate_bondville(budget: int = 128, *, batch: int = 16, seed: int = 0, method: str = "dds",
                        eval_precision: str = "float64", dat=BONDVILLE_DAT, obs=BONDVILLE_OBS,
                        problem: BondvilleProblem | None = None) -> PointCalResult:
    """Calibrate the five soil parameters at Bondville against the 5 cm soil moisture.

    ``method="dds"``: :func:`dds_batched` (``batch`` candidates per model run);
    ``method="sceua"``: :func:`diffland.calibration.sceua` (one candidate per model run, so
    ``budget`` model runs). Evaluation: default and calibrated parameters, whole year, one
    run with two cells in ``eval_precision``.
    """
    t0 = _time.perf_counter()
    prob = problem or BondvilleProblem(dat, obs)
    d = len(PARAMS)
    default = prob.default_values()
    x0 = to_unit(default[None])[0]
    tc = _time.perf_counter()
    if method == "dds":
        res = dds_batched(prob.objective, np.zeros(d), np.ones(d), budget, batch=batch, seed=seed, x0=x0)
        runs = res.info["model_runs"]
    elif method == "sceua":
        from .sceua import sceua

        res = sceua(lambda u: float(prob.objective(np.asarray(u)[None])[0]), np.zeros(d), np.ones(d), budget,
                    seed=seed)
        runs, batch = budget, 1
    else:
        raise ValueError(f"unknown method {method!r}; use 'dds' or 'sceua'")
    calib_wall = _time.perf_counter() - tc
    best = from_unit(np.asarray(res.x)[None])[0]
    p = prob.params(np.stack([default, best]), np.float64 if eval_precision == "float64" else np.float32)
    # the default cell uses the table as it is (no derived-column recomputation)
    p_def = prob.params(None, np.float64)
    for n in p:
        p[n][..., 0] = p_def[n][..., 0]
    sm = prob.simulate(p, None, eval_precision)
    tr, te = prob.rmse(sm, prob.train), prob.rmse(sm, prob.test)
    rmse = {"default": {"train": float(tr[0]), "test": float(te[0])},
            "calibrated": {"train": float(tr[1]), "test": float(te[1])}}
    return PointCalResult(
        params={n: float(v) for n, v in zip(PARAMS, best)}, default={n: float(v) for n, v in zip(PARAMS, default)},
        rmse=rmse, budget=int(budget), batch=int(batch), model_runs=int(runs),
        wall_s=_time.perf_counter() - t0, calib_wall_s=calib_wall, history=np.asarray(res.history),
        info={"method": method, "seed": seed, "objective_best_train_rmse_float32": float(res.f),
              "n_train_obs": int(prob.train.sum()), "n_test_obs": int(prob.test.sum()),
              "eval_precision": eval_precision,
              "observation": "SM_5cm (read_noah_point, LST->UTC), compared with SOIL_M1 (0-10 cm)",
              "split_utc": str(SPLIT)})

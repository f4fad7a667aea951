"""Parameter networks (Equinox) and the map from raw network outputs to bounded physical parameters.

Two networks, both returning *raw* (unbounded) outputs of shape ``(cells, n_out)``:

- :class:`GA` ("gA", Tsai et al. 2021): an MLP applied cell by cell to the normalised static attributes.
- :class:`GZ` ("gZ"): an LSTM run, cell by cell, over a daily input sequence (normalised daily-mean forcing,
  optionally the normalised observation history plus a 0/1 "observed" channel) with the static attributes
  appended at every step.  The per-cell output is a linear head on the **final hidden state**
  (``pool="last"``, default) or on the **mean hidden state over time** (``pool="mean"``).  Parameters
  are therefore still one value per cell for the whole run (what the land model needs for transfer);
  the sequence is the input period of the data set the network is applied to.

:class:`OutputLayout` decides what the ``n_out`` raw outputs mean and maps them to physics parameters:

- one output per :class:`ParamSpec`, mapped with ``u = sigmoid(raw + offset)`` and
  ``v = lo + (hi - lo) u`` (``log=False``) or ``log v = log lo + (log hi - log lo) u`` (``log=True``);
  ``mode="absolute"`` uses ``v`` as the parameter value, ``mode="multiplier"`` multiplies the per-cell
  table default by ``v``.  Soil parameters (``SOIL_PARAMS``, shape ``(nsoil, cells)``) get the same
  absolute value in every layer, or every layer's default times the same multiplier.
  ``offset`` is zero, or (``start_at_default=True``) the per-cell logit that makes ``raw = 0`` reproduce
  the table default (multiplier 1), so an untrained network with a small last layer starts at the defaults.
- optionally ``nsoil`` outputs for the learned initial soil moisture, as a fraction of SMCMAX per layer,
  bounded to ``init_sm_range``;
- optionally 2 outputs for the scaling and bias-correction factors ``a``, ``b`` (``ab_mode="network"``;
  with ``ab_mode="free"`` they are free per-cell trainable arrays held by :class:`Learner` instead).

With ``derived=True`` (default) and any of BEXP/SMCMAX/DKSAT/PSISAT learned, DWSAT, SMCWLT, SMCDRY and
SMCREF are recomputed from the four primary soil parameters with the table identities
(``diffland.parameters.derived.derive_soil_params``, noahmp-physics.md section 7).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Mapping, Optional, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp

__all__ = [
    "ParamSpec", "DEFAULT_SPECS", "SOIL_PARAMS", "default_specs", "OutputLayout", "GA", "GZ", "Learner",
    "make_network", "derive_soil", "DERIVED_SOIL",
]

#: parameters with one value per soil layer, shape (nsoil, cells)
SOIL_PARAMS = ("BEXP", "SMCMAX", "DKSAT", "DWSAT", "PSISAT", "SMCREF", "SMCWLT", "SMCDRY", "QUARTZ")
#: parameters recomputed by the derived-parameter identities
DERIVED_SOIL = ("DWSAT", "SMCWLT", "SMCDRY", "SMCREF")
_PRIMARY_SOIL = ("BEXP", "SMCMAX", "DKSAT", "PSISAT")


@dataclasses.dataclass(frozen=True)
class ParamSpec:
    """One learned parameter.

    Attributes:
        name: output name (a physics parameter name, or e.g. ``LAI_MULT``).
        lo, hi: bounds of the value (absolute value in the parameter's units, or the multiplier).
        log: map uniformly in log space between ``log lo`` and ``log hi`` (needs ``lo > 0``).
        mode: ``"absolute"`` or ``"multiplier"`` (of the per-cell table default).
        target: the physics parameter that is set / multiplied; defaults to ``name``
            (``LAI_MULT`` targets the monthly table LAI ``LAIM``, (12, cells)).
        units: units of the absolute value (for NetCDF attributes).
    """

    name: str
    lo: float
    hi: float
    log: bool = False
    mode: str = "absolute"
    target: Optional[str] = None
    units: str = "1"

    def __post_init__(self):
        if self.mode not in ("absolute", "multiplier"):
            raise ValueError(f"ParamSpec {self.name}: mode must be 'absolute' or 'multiplier', got {self.mode!r}")
        if not self.hi > self.lo:
            raise ValueError(f"ParamSpec {self.name}: need hi > lo, got lo={self.lo}, hi={self.hi}")
        if self.log and self.lo <= 0:
            raise ValueError(f"ParamSpec {self.name}: log=True needs lo > 0, got lo={self.lo}")

    @property
    def key(self) -> str:
        return self.target or ("LAIM" if self.name == "LAI_MULT" else self.name)


#: default learned parameters and ranges (noahmp-physics.md section 12; seed-paper.md)
DEFAULT_SPECS: tuple = (
    ParamSpec("BEXP", 3.0, 11.0, units="1"),
    ParamSpec("SMCMAX", 0.30, 0.55, units="m3 m-3"),
    ParamSpec("DKSAT", 5e-7, 3e-5, log=True, units="m s-1"),
    ParamSpec("PSISAT", 0.01, 0.7, log=True, units="m"),
    ParamSpec("RSURF_EXP", 1.0, 6.0, units="1"),
    ParamSpec("REFKDT", 0.1, 10.0, units="1"),
    ParamSpec("SLOPE", 0.0, 1.0, units="1"),
    ParamSpec("VCMX25", 0.6, 1.4, mode="multiplier", units="umol CO2 m-2 s-1"),
    ParamSpec("MP", 0.6, 1.4, mode="multiplier", units="1"),
    ParamSpec("CWPVT", 0.5, 2.0, mode="multiplier", units="1"),
    ParamSpec("HVT", 0.25, 1.5, mode="multiplier", units="m"),
)
#: the optional LAI multiplier (not in the default list; add it to the config's list to learn it)
LAI_MULT_SPEC = ParamSpec("LAI_MULT", 0.5, 1.5, mode="multiplier", target="LAIM", units="m2 m-2")


def default_specs(include_lai: bool = False) -> list:
    return list(DEFAULT_SPECS) + ([LAI_MULT_SPEC] if include_lai else [])


def derive_soil(BEXP, SMCMAX, DKSAT, PSISAT) -> dict:
    """DWSAT, SMCWLT, SMCDRY, SMCREF from the primary soil parameters (table identities, section 7).

    Uses ``diffland.parameters.derived.derive_soil_params`` when importable, else the same identities
    written here (``_derive``).
    """
    try:
        from diffland.parameters.derived import derive_soil_params
    except ImportError:  # pragma: no cover - fallback while the parameters package is absent
        return _derive(BEXP, SMCMAX, DKSAT, PSISAT)
    return derive_soil_params(BEXP, SMCMAX, DKSAT, PSISAT)


def _derive(BEXP, SMCMAX, DKSAT, PSISAT) -> dict:
    """Fallback of the table identities: DWSAT [m2/s], SMCWLT = SMCDRY, SMCREF [m3/m3]."""
    wlt = 0.5 * SMCMAX * jnp.power(200.0 / PSISAT, -1.0 / BEXP)
    th = SMCMAX * jnp.power(5.79e-9 / DKSAT, 1.0 / (2.0 * BEXP + 3.0))
    return {"DWSAT": BEXP * DKSAT * PSISAT / SMCMAX, "SMCWLT": wlt, "SMCDRY": wlt,
            "SMCREF": th + (SMCMAX - th) / 3.0}


def _logit(u):
    u = jnp.clip(u, 1e-3, 1.0 - 1e-3)
    return jnp.log(u) - jnp.log1p(-u)


class OutputLayout:
    """Meaning of the network outputs and their map to physical parameters (see module docstring)."""

    def __init__(self, specs: Sequence[ParamSpec], nsoil: int = 4, *, derived: bool = True,
                 learn_initial_sm: bool = False, init_sm_range=(0.1, 1.0), ab_factors: bool = False,
                 ab_mode: str = "network", a_range=(0.5, 1.5), b_range=(-0.15, 0.15),
                 start_at_default: bool = True):
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate learned parameter names: {names}")
        self.specs = tuple(specs)
        self.nsoil = int(nsoil)
        self.derived = bool(derived)
        self.learn_initial_sm = bool(learn_initial_sm)
        self.init_sm_range = tuple(float(x) for x in init_sm_range)
        self.ab_factors = bool(ab_factors)
        if ab_mode not in ("network", "free"):
            raise ValueError(f"ab_mode must be 'network' or 'free', got {ab_mode!r}")
        self.ab_mode = ab_mode
        self.a_range = tuple(float(x) for x in a_range)
        self.b_range = tuple(float(x) for x in b_range)
        self.start_at_default = bool(start_at_default)

    # ---- sizes ---------------------------------------------------------------------------------
    @property
    def n_params(self) -> int:
        return len(self.specs)

    @property
    def n_init(self) -> int:
        return self.nsoil if self.learn_initial_sm else 0

    @property
    def n_ab(self) -> int:
        return 2 if (self.ab_factors and self.ab_mode == "network") else 0

    @property
    def n_out(self) -> int:
        """Number of raw network outputs per cell."""
        return self.n_params + self.n_init + self.n_ab

    # ---- maps ----------------------------------------------------------------------------------
    def _offset(self, spec: ParamSpec, default):
        """Per-cell raw offset that maps raw = 0 to the table default (multiplier 1)."""
        if not self.start_at_default:
            return 0.0
        if spec.mode == "multiplier":
            ref = 1.0
        else:
            if default is None:
                return 0.0
            d = default[0] if default.ndim == 2 else default
            ref = d
        ref = jnp.asarray(ref)
        if spec.log:
            u = (jnp.log(jnp.maximum(ref, 1e-30)) - math.log(spec.lo)) / (math.log(spec.hi) - math.log(spec.lo))
        else:
            u = (ref - spec.lo) / (spec.hi - spec.lo)
        return jax.lax.stop_gradient(_logit(u))

    @staticmethod
    def _value(spec: ParamSpec, u):
        if spec.log:
            return jnp.exp(math.log(spec.lo) + (math.log(spec.hi) - math.log(spec.lo)) * u)
        return spec.lo + (spec.hi - spec.lo) * u

    def unit_outputs(self, raw, defaults: Mapping):
        """Position of each learned parameter inside its range, in [0, 1]: dict name -> (cells,)."""
        out = {}
        for i, s in enumerate(self.specs):
            out[s.name] = jax.nn.sigmoid(raw[:, i] + self._offset(s, defaults.get(s.key)))
        return out

    def to_physical(self, raw, defaults: Mapping, ab_free=None):
        """Map raw outputs (cells, n_out) to physics inputs.

        Args:
            raw: (cells, n_out) raw network outputs.
            defaults: per-cell default parameters (name -> (cells,) or (nsoil, cells)), physics units.
            ab_free: optional (cells, 2) raw a/b for ``ab_mode="free"``.
        Returns:
            (params, extra): ``params`` is a full parameter dict (defaults with the learned entries
            replaced, derived soil parameters recomputed); ``extra`` holds ``values`` (name -> (cells,)
            learned value: absolute value or multiplier), ``unit`` (position in range, [0, 1]),
            ``init_sm_frac`` (nsoil, cells) or None, and ``a``, ``b`` (cells,) or None.
        """
        dtype = raw.dtype
        params = {k: jnp.asarray(v) for k, v in defaults.items()}
        values, unit = {}, {}
        for i, s in enumerate(self.specs):
            key = s.key
            if key not in params:
                raise KeyError(f"learned parameter {s.name!r} targets {key!r}, which is not among the default "
                               f"parameters ({sorted(params)}); set `target` or provide a default for it")
            d = params[key]
            u = jax.nn.sigmoid(raw[:, i] + self._offset(s, d))
            v = self._value(s, u).astype(dtype)
            values[s.name], unit[s.name] = v, u
            if s.mode == "multiplier":
                p = d * v  # broadcasts (cells,) over leading dims (layers, months)
            else:
                p = jnp.broadcast_to(v, d.shape) if d.ndim > 1 else v
            params[key] = p.astype(d.dtype) if jnp.issubdtype(d.dtype, jnp.floating) else p
        if any(s.key == "HVT" for s in self.specs) and "HVB" in params and "HVT" in defaults:
            # canopy geometry: scale the canopy bottom HVB with HVT (same ratio as the table), so that a
            # learned HVT below the table HVB cannot give a negative canopy thickness (NaN in radiation)
            h0 = jnp.asarray(defaults["HVT"])
            fac = jnp.where(h0 > 0, params["HVT"] / jnp.where(h0 > 0, h0, 1.0), 1.0)
            params["HVB"] = (jnp.asarray(defaults["HVB"]) * fac).astype(params["HVB"].dtype)
        if self.derived and any(s.key in _PRIMARY_SOIL for s in self.specs) and all(
                k in params for k in _PRIMARY_SOIL):
            der = derive_soil(params["BEXP"], params["SMCMAX"], params["DKSAT"], params["PSISAT"])
            for k, v in der.items():
                if k in params:
                    params[k] = v.astype(params[k].dtype)
        j = self.n_params
        init = None
        if self.learn_initial_sm:
            lo, hi = self.init_sm_range
            init = (lo + (hi - lo) * jax.nn.sigmoid(raw[:, j:j + self.nsoil])).T  # (nsoil, cells)
            j += self.nsoil
        a = b = None
        if self.ab_factors:
            ab_raw = raw[:, j:j + 2] if self.ab_mode == "network" else ab_free
            if ab_raw is None:
                raise ValueError("ab_mode='free' needs the free per-cell a/b array")
            a = self.a_range[0] + (self.a_range[1] - self.a_range[0]) * jax.nn.sigmoid(ab_raw[:, 0])
            b = self.b_range[0] + (self.b_range[1] - self.b_range[0]) * jax.nn.sigmoid(ab_raw[:, 1])
        return params, {"values": values, "unit": unit, "init_sm_frac": init, "a": a, "b": b}


# ---------------------------------------------------------------------------------------------
class GA(eqx.Module):
    """gA: MLP over normalised static attributes, applied per cell: (cells, n_attr) -> (cells, n_out)."""

    mlp: eqx.nn.MLP

    def __init__(self, n_attr: int, n_out: int, hidden: Sequence[int] = (64, 64), *, key, last_scale=0.01):
        width = int(hidden[0]) if len(hidden) else 32
        depth = max(1, len(hidden))
        mlp = eqx.nn.MLP(n_attr, n_out, width, depth, activation=jax.nn.tanh, key=key)
        last = mlp.layers[-1]
        mlp = eqx.tree_at(lambda m: m.layers[-1].weight, mlp, last.weight * last_scale)
        mlp = eqx.tree_at(lambda m: m.layers[-1].bias, mlp, jnp.zeros_like(last.bias))
        self.mlp = mlp

    def __call__(self, attrs, seq=None):
        return jax.vmap(self.mlp)(attrs)


class GZ(eqx.Module):
    """gZ: LSTM over a daily sequence per cell.

    ``seq`` is (days, cells, n_seq); the static attributes (cells, n_attr) are appended to every step.
    The head reads the final hidden state (``pool="last"``) or the time-mean hidden state (``"mean"``).
    """

    cell: eqx.nn.LSTMCell
    head: eqx.nn.Linear
    hidden_size: int = eqx.field(static=True)
    pool: str = eqx.field(static=True)

    def __init__(self, n_attr: int, n_seq: int, n_out: int, hidden: int = 32, pool: str = "last", *, key,
                 last_scale=0.01):
        if pool not in ("last", "mean"):
            raise ValueError(f"GZ pool must be 'last' or 'mean', got {pool!r}")
        k1, k2 = jax.random.split(key)
        self.cell = eqx.nn.LSTMCell(n_attr + n_seq, int(hidden), key=k1)
        head = eqx.nn.Linear(int(hidden), n_out, key=k2)
        head = eqx.tree_at(lambda h: h.weight, head, head.weight * last_scale)
        self.head = eqx.tree_at(lambda h: h.bias, head, jnp.zeros_like(head.bias))
        self.hidden_size = int(hidden)
        self.pool = pool

    def _one(self, attrs, seq):  # attrs (n_attr,), seq (days, n_seq)
        # compute in the weights' dtype (the network may have been built with x64 enabled)
        wdt = self.cell.weight_hh.dtype
        attrs, seq = attrs.astype(wdt), seq.astype(wdt)
        h0 = (jnp.zeros(self.hidden_size, wdt), jnp.zeros(self.hidden_size, wdt))

        def step(carry, x):
            carry = self.cell(jnp.concatenate([x, attrs]), carry)
            return carry, carry[0]

        (h, _), hs = jax.lax.scan(step, h0, seq)
        return self.head(h if self.pool == "last" else hs.mean(0))

    def __call__(self, attrs, seq):
        if seq is None:
            raise ValueError("gZ needs an input sequence (days, cells, n_seq)")
        return jax.vmap(self._one, in_axes=(0, 1))(attrs, seq)


class Learner(eqx.Module):
    """What is trained: the network, plus free per-cell raw a/b (``ab_mode="free"``; (n_train_cells, 2))."""

    net: eqx.Module
    ab_free: Optional[jax.Array] = None

    def raw(self, attrs, seq=None):
        return self.net(attrs, seq)


def make_network(kind: str, n_attr: int, n_out: int, *, hidden=(64, 64), n_seq: int = 0, pool="last",
                 key) -> eqx.Module:
    """Build gA (``kind="gA"``) or gZ (``kind="gZ"``; LSTM hidden size = ``hidden[0]``)."""
    if kind == "gA":
        return GA(n_attr, n_out, hidden, key=key)
    if kind == "gZ":
        return GZ(n_attr, n_seq, n_out, hidden=int(hidden[0]) if len(hidden) else 32, pool=pool, key=key)
    raise ValueError(f"unknown network kind {kind!r}; choose 'gA' or 'gZ'")

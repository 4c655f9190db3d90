"""Vary contract terms on stored paths: grids, frontiers, break-even values, sensitivities.

A term is named by its dotted path in the contract, e.g.
``segments.ppo.surplus_share_pct`` or ``segments.*.budget_trend_pct`` (``*``:
every segment). Every evaluation settles the same stored experience, so
differences between term values carry no simulation noise of their own.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from pydantic import ValidationError
from scipy import optimize

from .risk import Z95, risk_measures
from .compare import check_view, horizon_gains
from ..settlement.contract import Contract, fixed_premium_notes
from ..core.inputs import validation_problems
from ..settlement.rules import settle


def set_term(contract: Contract, path: str, value: Any) -> Contract:
    """A validated copy of ``contract`` with the term at ``path`` set to ``value``."""
    data = contract.model_dump(exclude_unset=True)
    keys = path.split(".")
    targets = [data]
    for i, key in enumerate(keys[:-1]):
        if key == "*" and i == 1 and keys[0] == "segments":
            targets = [seg for t in targets for seg in t.values()]
            continue
        targets = [t.setdefault(key, {}) for t in targets]
    for t in targets:
        t[keys[-1]] = value
    try:
        return Contract.model_validate(data)
    except ValidationError as err:
        detail = "; ".join(f"{p}: {m}" for p, m in validation_problems(err))
        raise ValueError(f"{path} = {value!r}: {detail}") from None


@dataclass(frozen=True)
class Evaluator:
    """Settles terms on one stored experience and measures one horizon and segment."""

    experience: xr.Dataset
    base: Contract
    discount_rate_pct: float
    horizon: str = "pv"
    segment: str = "total"

    def __post_init__(self) -> None:
        check_view(list(self.experience["year"].values),
                   [str(s) for s in self.experience["segment"].values], self.horizon, self.segment)

    def attachments(self) -> list[float]:
        """The stop-loss attachments the stored experience holds the excess cost at, ascending."""
        return sorted(float(a) for a in self.experience["attachment"].values)

    def gains(self, contracts: dict[str, Contract]) -> np.ndarray:
        """(trial, variant) gains of the given contracts."""
        settled = settle(self.experience, contracts, self.discount_rate_pct, outputs=("provider_gain_usd",))
        return horizon_gains(settled, self.horizon, self.segment).values

    def with_terms(self, changes: dict[str, Any]) -> Contract:
        contract = self.base
        for path, value in changes.items():
            contract = set_term(contract, path, value)
        return contract


def sweep(evaluator: Evaluator, grid: dict[str, list[float]]) -> pd.DataFrame:
    """Risk measures at every point of the grid of one or two terms.

    Returns
    -------
    DataFrame
        One row per grid point: the term values, ``mean``, ``mean_se``, ``sd``,
        ``p_loss``, ``var_95``, ``tvar_95``, ``tvar_95_se`` and ``on_frontier``
        (no other point has a higher mean and a lower TVaR 95%).
    """
    asked, grid = grid, {path: on_stored_grid(evaluator, path, values) for path, values in grid.items()}
    notes = [f"{path}: searched on the {len(grid[path])} attachments this run stored between "
             f"{min(values):,.0f} and {max(values):,.0f} (the excess cost is known only there)"
             for path, values in asked.items() if grid[path] != list(values)]
    paths = list(grid)
    points = list(itertools.product(*grid.values()))
    contracts = {f"p{i:04d}": evaluator.with_terms(dict(zip(paths, p))) for i, p in enumerate(points)}
    m = risk_measures(evaluator.gains(contracts))
    table = pd.DataFrame(points, columns=paths)
    table["mean"], table["mean_se"] = m["mean"]
    table["sd"] = m["sd"][0]
    table["p_loss"] = m["p_loss"][0]
    table["var_95"] = m["var_95"][0]
    table["tvar_95"], table["tvar_95_se"] = m["tvar_95"]
    table["on_frontier"] = _frontier(table["mean"].values, table["tvar_95"].values)
    table.attrs["notes"] = notes + list(fixed_premium_notes(evaluator.base, contracts.values()))
    return table


def is_attachment(path: str) -> bool:
    """Whether a term path names a specific stop-loss attachment (priced only where stored)."""
    return path.endswith("stop_loss.attachment_usd")


def on_stored_grid(evaluator: Evaluator, path: str, values: list[float]) -> list[float]:
    """``values``, or for a stop-loss attachment not all stored, the stored ones in their range.

    The excess cost above an attachment is known only at the attachments the run
    recorded, so a grid of attachments is searched on those.

    Raises
    ------
    ValueError
        No stored attachment lies in the range of ``values``.
    """
    if not is_attachment(path) or all(v in evaluator.attachments() for v in values):
        return list(values)
    return stored_between(evaluator, path, min(values), max(values))


def stored_between(evaluator: Evaluator, path: str, low: float, high: float) -> list[float]:
    """The stored attachments from ``low`` to ``high``; a ValueError naming them if there are none."""
    stored = evaluator.attachments()
    inside = [a for a in stored if low <= a <= high]
    if not inside:
        raise ValueError(f"{path}: no stored attachment between {low:,.0f} and {high:,.0f}; "
                         f"this run holds {', '.join(f'{a:,.0f}' for a in stored)}")
    return inside


def _frontier(mean: np.ndarray, tail: np.ndarray) -> np.ndarray:
    better = (mean[None, :] >= mean[:, None]) & (tail[None, :] <= tail[:, None])
    strictly = (mean[None, :] > mean[:, None]) | (tail[None, :] < tail[:, None])
    return ~np.any(better & strictly, axis=1)


Statistic = Callable[[np.ndarray], tuple[float, float]]


def mean_statistic(g: np.ndarray) -> tuple[float, float]:
    return float(g.mean()), float(g.std(ddof=1) / math.sqrt(g.size))


def loss_probability_statistic(threshold_usd: float) -> Statistic:
    """P(loss > threshold) and its standard error."""
    def stat(g: np.ndarray) -> tuple[float, float]:
        p = float(np.mean(g < -threshold_usd))
        return p, math.sqrt(p * (1 - p) / g.size)
    return stat


@dataclass(frozen=True)
class GridBreakeven:
    """Where a target is met on a grid of stored values (stop-loss attachments).

    ``points`` holds (value, statistic, standard error) at every stored value in the
    bounds; ``below``/``above`` are the neighbouring values whose statistics lie on
    either side of the target, in ascending order of value.
    """

    term: str
    target: float
    points: list[tuple[float, float, float]]
    below: float
    above: float
    notes: tuple[str, ...] = ()


def breakeven_on_grid(evaluator: Evaluator, path: str, bounds: tuple[float, float],
                      statistic: Statistic, target: float, show: Callable[[float], str] = "{:g}".format
                      ) -> GridBreakeven:
    """The neighbouring stored values of a term between which ``statistic`` crosses ``target``.

    Raises
    ------
    ValueError
        No stored value in the bounds, or the target is not crossed between them.
    """
    values = stored_between(evaluator, path, min(bounds), max(bounds))
    contracts = {f"p{i:04d}": evaluator.with_terms({path: v}) for i, v in enumerate(values)}
    gains = evaluator.gains(contracts)
    points = [(v, *statistic(gains[:, i])) for i, v in enumerate(values)]
    for (v0, s0, _), (v1, s1, _) in zip(points, points[1:]):
        if (s0 - target) * (s1 - target) <= 0:
            notes = fixed_premium_notes(evaluator.base, contracts.values())
            return GridBreakeven(path, target, points, v0, v1, tuple(notes))
    shown = ", ".join(f"{v:,.0f} ({show(s)})" for v, s, _ in points)
    raise ValueError(f"{path}: the target {show(target)} is not reached on the stored attachments "
                     f"between {bounds[0]:,.0f} and {bounds[1]:,.0f}: {shown}")


@dataclass(frozen=True)
class Breakeven:
    term: str
    value: float
    ci_low: float
    ci_high: float
    target: float
    notes: tuple[str, ...] = ()


def breakeven(evaluator: Evaluator, path: str, bounds: tuple[float, float], statistic: Statistic,
              target: float, show: Callable[[float], str] = "{:g}".format) -> Breakeven:
    """The value of one term at which ``statistic`` of the gains equals ``target``.

    The confidence interval (95%) is where the statistic's own Monte Carlo
    interval contains the target: the roots of ``statistic -/+ 1.96 se = target``;
    an end that falls outside ``bounds`` is reported as NaN. ``show`` writes a value
    of the statistic in the messages (e.g. ``core.units.money_m``).
    """
    if is_attachment(path):
        raise ValueError(f"{path}: an attachment is priced only where the run stored it; "
                         "use breakeven_on_grid")

    def at(value: float) -> tuple[float, float]:
        return statistic(evaluator.gains({"x": evaluator.with_terms({path: value})})[:, 0])

    def root(shift: float) -> float:
        def f(v):
            est, se = at(v)
            return est + shift * se - target
        lo, hi = bounds
        f_lo, f_hi = f(lo), f(hi)
        if np.sign(f_lo) == np.sign(f_hi):
            return math.nan
        return float(optimize.brentq(f, lo, hi, xtol=1e-9 * max(1.0, abs(hi - lo))))

    value = root(0.0)
    if math.isnan(value):
        low, high = at(bounds[0])[0], at(bounds[1])[0]
        raise ValueError(f"{path}: the target {show(target)} is not reached between {bounds[0]:g} "
                         f"({show(low)}) and {bounds[1]:g} ({show(high)}); widen the bounds")
    ends = sorted((root(-Z95), root(Z95)), key=lambda x: (math.isnan(x), x))
    notes = fixed_premium_notes(evaluator.base, [evaluator.with_terms({path: value})])
    return Breakeven(path, value, *_ci(ends, value), target=target, notes=tuple(notes))


def _ci(ends: list[float], value: float) -> tuple[float, float]:
    finite = [e for e in ends if not math.isnan(e)]
    low = min([e for e in finite if e <= value], default=math.nan)
    high = max([e for e in finite if e >= value], default=math.nan)
    return low, high


def tornado(evaluator: Evaluator, ranges: dict[str, tuple[float, float]]) -> pd.DataFrame:
    """Change in expected gain when each term moves to its low and high value alone."""
    contracts = {"base": evaluator.base}
    for path, ends in ranges.items():
        stored = evaluator.attachments()
        if is_attachment(path) and not all(v in stored for v in ends):
            raise ValueError(f"{path}: an attachment is priced only where the run stored it; "
                             f"this run holds {', '.join(f'{a:,.0f}' for a in stored)}")
    for i, (path, (low, high)) in enumerate(ranges.items()):
        contracts[f"low{i}"] = evaluator.with_terms({path: low})
        contracts[f"high{i}"] = evaluator.with_terms({path: high})
    mean = evaluator.gains(contracts).mean(axis=0)
    rows = [(path, low, high, mean[1 + 2 * i] - mean[0], mean[2 + 2 * i] - mean[0])
            for i, (path, (low, high)) in enumerate(ranges.items())]
    table = pd.DataFrame(rows, columns=["term", "low", "high", "change_at_low", "change_at_high"])
    table.attrs["base_mean"] = float(mean[0])
    table.attrs["notes"] = fixed_premium_notes(evaluator.base, contracts.values())
    order = (table.change_at_high - table.change_at_low).abs().sort_values(ascending=False).index
    return table.loc[order].reset_index(drop=True)

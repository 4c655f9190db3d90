"""Capital figures of a settled run: the yearly items of each variant, a capital file, the table."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xarray as xr
from pydantic import ValidationError

from ..core.errors import ScenarioError
from ..core.inputs import validation_problems
from ..core.toml import read_toml
from .calendar import YearlyItems, cash_paths
from .measures import capital_measures, ruin_curve
from .terms import CapitalFile, CapitalTerms

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..scenario import Scenario
    from ..settlement.contract import Contract

NEEDED = ("budget_usd", "actual_cost_usd", "stop_loss_recovery_usd", "stop_loss_premium_usd",
          "program_and_fees_usd", "provider_gain_usd")


def yearly_items(settlement: xr.Dataset, variant: str, terms: CapitalTerms,
                 payment_lag_months: int) -> YearlyItems:
    """One variant's settlement items as (trial, year, segment) arrays.

    The allowed cost is recovered from the settlement itself (actual cost = allowed -
    recovery + premium), so a ``settlements/NAME`` folder needs no experience.
    """
    missing = [k for k in NEEDED if k not in settlement]
    if missing:
        raise KeyError(f"the settlement lacks {missing} (settle with every output)")
    v = settlement.sel(variant=variant)
    get = {k: v[k].transpose("trial", "year", "segment").values for k in NEEDED}
    segments = [str(s) for s in settlement["segment"].values]
    return YearlyItems(
        budget_usd=get["budget_usd"],
        allowed_usd=get["actual_cost_usd"] + get["stop_loss_recovery_usd"] - get["stop_loss_premium_usd"],
        recovery_usd=get["stop_loss_recovery_usd"], premium_usd=get["stop_loss_premium_usd"],
        program_usd=get["program_and_fees_usd"], gain_usd=get["provider_gain_usd"],
        capitation=np.array([terms.receipt_basis(s) == "capitation" for s in segments]),
        payment_lag_months=payment_lag_months)


def capital_summary(settlement: xr.Dataset, terms: CapitalTerms, contracts: dict[str, Contract],
                    variants: list[str] | None = None) -> pd.DataFrame:
    """Capital figures of every variant (:func:`~.measures.capital_measures`), with a variant column.

    ``contracts`` gives each variant's payment lag (a variant not in it takes the base's).
    """
    rows = []
    for variant in variants or [str(v) for v in settlement["variant"].values]:
        lag = contracts.get(variant, contracts["base"]).payment_lag_months
        table = capital_measures(terms, yearly_items(settlement, variant, terms, lag))
        rows.append(table.assign(variant=variant))
    out = pd.concat(rows, ignore_index=True)
    return out[["variant", *[c for c in out.columns if c != "variant"]]]


def load_capital(path: str | Path, scenario: Scenario) -> CapitalTerms:
    """Read a file holding a ``[capital]`` table and check it against the run's segments.

    Raises
    ------
    ScenarioError
        Naming the file, the field and what was expected.
    """
    _, data = read_toml(path)
    try:
        terms = CapitalFile.model_validate(data).capital
        terms.check_against(list(scenario.segments))
    except ValidationError as err:
        raise ScenarioError(str(path), validation_problems(err)) from None
    except ValueError as err:
        raise ScenarioError(str(path), [("", str(err))]) from None
    return terms


def headline_lines(summary: pd.DataFrame, level_pct: float) -> list[str]:
    """Two lines per variant a user reads after a run: ruin probability and capital needed."""
    lines = []
    for variant, table in summary.groupby("variant", sort=False):
        t = table.set_index(["measure", "horizon"])
        p, p_se = t.loc[("p_ruin", "term"), ["value", "mc_se"]]
        b, b_se = t.loc[("p_breach", "term"), ["value", "mc_se"]]
        lines.append(f"{variant:<16}P(ruin over the term) {p:.1%} ({p_se:.1%}); "
                     f"P(breach of the minimum) {b:.1%} ({b_se:.1%})")
        for horizon, label in (("term", "over the term"), ("one_year", "in any one year")):
            row = t.loc[("capital_needed_usd", horizon)]
            lines.append(f"{'':<16}capital needed for P(ruin) <= {level_pct:g}% {label}: "
                         f"${row.value / 1e6:,.1f}M (95% interval {_m(row.ci_low)}-{_m(row.ci_high)})")
    return lines


def _m(x: float) -> str:
    return "n/a" if np.isnan(x) else f"${x / 1e6:,.1f}M"


TABLE = {("p_ruin", "term"): ("P(ruin)", "pct"), ("p_breach", "term"): ("P(breach)", "pct"),
         ("p_cash_shortfall", "term"): ("P(cash short)", "pct"),
         ("capital_needed_usd", "term"): ("capital needed, term $M", "usd"),
         ("capital_needed_usd", "one_year"): ("capital needed, 1 year $M", "usd"),
         ("worst_drawdown_mean_usd", "term"): ("mean worst drawdown $M", "usd"),
         ("annual_result_mean_usd", "term"): ("result a year $M", "usd"),
         ("return_on_risk_capital", "term"): ("return on risk capital", "pct")}


def capital_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The key capital figures per variant, as text: value (standard error), $ millions or %."""
    t = summary.set_index(["variant", "measure", "horizon"])
    rows = {}
    for variant in dict.fromkeys(summary.variant):
        cells = {}
        for key, (label, unit) in TABLE.items():
            value, se = t.loc[(variant, *key), ["value", "mc_se"]]
            fmt = (lambda x: f"{x:.1%}") if unit == "pct" else (lambda x: f"{x / 1e6:,.1f}")
            cells[label] = f"{fmt(value)} ({'n/a' if np.isnan(se) else fmt(se)})"
        rows[variant] = cells
    return pd.DataFrame(rows).T


def variant_charts(settlement: xr.Dataset, terms: CapitalTerms, summary: pd.DataFrame,
                   payment_lag_months: int, variant: str = "base") -> tuple[Figure, Figure, pd.DataFrame]:
    """One variant's capital fan chart, ruin curve chart and the curve's table.

    The curve runs from no capital to 1.5 times the larger of the capital needed and the
    starting capital, at 31 points, each on paths recomputed for that starting capital."""
    from .plots import capital_fan_chart, ruin_curve_chart  # matplotlib: only for charts

    items = yearly_items(settlement, variant, terms, payment_lag_months)
    needed = summary.set_index(["variant", "measure", "horizon"]).loc[
        (variant, "capital_needed_usd", "term")].to_dict()
    curve = ruin_curve(terms, items, np.linspace(0.0, 1.5 * max(needed["value"], terms.starting_usd, 1.0), 31))
    trials = f"{items.shape[0]:,} trials"
    fan = capital_fan_chart(cash_paths(terms, items), f"Capital month by month, contract '{variant}' ({trials})")
    ruin = ruin_curve_chart(curve, terms.ruin_level_pct, needed, f"Ruin curve, contract '{variant}' ({trials})")
    return fan, ruin, curve

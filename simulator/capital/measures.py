"""Survival measures of the cash calendar, each with its Monte Carlo standard error.

- probabilities (ruin: capital below zero; breach: below the required minimum; cash
  shortfall: cash below zero after the line of credit) have the binomial error
  sqrt(p (1 - p) / n);
- means have sd / sqrt(n);
- the capital needed for a ruin probability at or below ``a`` is an upper order statistic
  of the trials' falls below their starting capital; its 95% interval is the pair of order
  statistics between which the true quantile lies with 95% probability (the number of
  trials above it is binomial(n, a)), and its standard error that interval's width / 3.92.
  Where the interval runs off the sample (too few trials for the level) it is NaN.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import special

from .calendar import CashPaths, Schedule, YearlyItems, cash_paths, schedule, select_trials
from .terms import CapitalTerms

Z95 = 1.959963984540054
FIRST_STEP = 0.01
"""First step of :func:`solve_capital`'s search for a bracket, relative to its first guess."""


def probability(event: np.ndarray) -> tuple[float, float]:
    """Share of trials with ``event`` and its binomial standard error."""
    p = float(np.mean(event))
    return p, math.sqrt(p * (1 - p) / event.size)


def mean(x: np.ndarray) -> tuple[float, float]:
    """Mean over trials and its standard error."""
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.size)) if x.size > 1 else math.nan


def binomial_quantile(q: float, n: int, p: float) -> int:
    """The smallest k with P(Binomial(n, p) <= k) >= q (scipy.stats.binom.ppf, whose import
    alone takes most of a second: from its inverse in scipy.special, then one step down)."""
    k = max(math.ceil(float(special.bdtrik(q, n, p))), 0)
    return k - 1 if k > 0 and special.bdtr(k - 1, n, p) >= q else k


def exceeded_at_most(x: np.ndarray, level: float) -> dict[str, float]:
    """The smallest value that at most ``floor(level n)`` trials exceed, with its interval.

    Returns ``value``, ``ci_low``, ``ci_high`` (95%, from order statistics) and ``mc_se``.
    """
    xs = np.sort(np.asarray(x, float))
    n = xs.size
    value = xs[n - 1 - math.floor(level * n)]
    low = binomial_quantile(0.025, n, 1 - level)       # 1-based order statistics
    high = binomial_quantile(0.975, n, 1 - level) + 1
    if low < 1 or high > n:
        return {"value": float(value), "ci_low": math.nan, "ci_high": math.nan, "mc_se": math.nan}
    lo, hi = float(xs[low - 1]), float(xs[high - 1])
    return {"value": float(value), "ci_low": lo, "ci_high": hi, "mc_se": (hi - lo) / (2 * Z95)}


def needed_on_path(paths: CashPaths) -> np.ndarray:
    """Per trial, the starting capital that would just have kept capital at or above zero
    (on this path): the owners' starting capital less the path's lowest capital."""
    return paths.starting_usd - paths.capital_usd.min(axis=1)


def year_months(paths: CashPaths, year: int) -> slice:
    """Calendar months (end-of-month columns) of year ``year`` (1-based); the last takes the run-off."""
    last = paths.capital_usd.shape[1] if year == paths.years else 12 * year + 1
    return slice(12 * (year - 1) + 1, last)


def one_year_falls(paths: CashPaths) -> np.ndarray:
    """(trial, year): the deepest fall within each year below the capital at its start."""
    out = np.empty((paths.capital_usd.shape[0], paths.years))
    for y in range(1, paths.years + 1):
        start = paths.capital_usd[:, 12 * (y - 1)]
        out[:, y - 1] = np.maximum(start - paths.capital_usd[:, year_months(paths, y)].min(axis=1), 0.0)
    return out


def solve_capital(terms: CapitalTerms, items: YearlyItems, level_pct: float | None = None,
                  rel_tol: float = 1e-4, plan: Schedule | None = None) -> dict[str, float]:
    """Smallest starting capital for which at most ``level_pct``% of trials are ruined over the term.

    The paths depend on the starting capital (cash earns a return, a shortfall costs
    interest). The first guess is the upper order statistic of the falls below the
    configured starting capital; from it the capital is bracketed (steps doubling from a
    percent) and bisected on the number of ruined trials to ``rel_tol``. The interval is
    that of the order statistic at the answer. The default tolerance, a hundredth of a
    percent, is finer than the $0.1M a figure is printed to (for any figure up to $1,000M)
    and far inside its Monte Carlo interval.

    A trial's capital cannot end a month lower for starting higher: its net cash (cash less
    the line of credit drawn) moves by the month's scheduled flows plus a return on positive
    cash less interest on the line, which together rise with it at least one for one, and
    nothing else depends on it. So a trial ruined at a capital is ruined below it and one
    safe is safe above it: each step recomputes only the trials ruined at the highest
    capital known to ruin too many and safe at the lowest known to be enough (those near
    the answer's order statistic, once both are known).
    """
    level = (terms.ruin_level_pct if level_pct is None else level_pct) / 100
    n = items.shape[0]
    allowed = math.floor(level * n)
    plan = plan or schedule(terms, items)
    start = cash_paths(terms, items, terms.starting_usd, plan)
    at_start = (start.capital_usd < 0).any(axis=1)
    # the bracket: too many trials are ruined at ``low`` (unless not ``low_known``), at most
    # ``allowed`` at ``high``; and which trials are ruined at each (at low: all, if not known)
    if at_start.sum() > allowed:
        low, at_low, low_known, high, at_high = terms.starting_usd, at_start, True, math.inf, np.zeros(n, bool)
    else:
        low, at_low, low_known, high, at_high = 0.0, np.ones(n, bool), False, terms.starting_usd, at_start
    guess = exceeded_at_most(needed_on_path(start), level)["value"]
    x, step = min(max(guess, low), high), max(abs(guess) * FIRST_STEP, 1.0)
    while math.isinf(high) or high - low > rel_tol * max(high, 1.0):
        open_ = np.flatnonzero(at_low & ~at_high)
        ruined = at_high.copy()
        some, their_plan = select_trials(items, plan, open_)
        ruined[open_] = (cash_paths(terms, some, x, their_plan).capital_usd < 0).any(axis=1)
        if ruined.sum() > allowed:
            low, at_low, low_known = x, ruined, True
        else:
            high, at_high = x, ruined
        if math.isinf(high):
            x = low + step
        elif not low_known and high - step > low:
            x = high - step
        else:
            x = (low + high) / 2
        step *= 2
    return exceeded_at_most(needed_on_path(cash_paths(terms, items, high, plan)), level) | {"value": high}


def net_financing_cost(totals: dict[str, np.ndarray]) -> np.ndarray:
    """Per trial, what financing cost the provider over the calendar: interest, fees and
    premiums, gains given up, less losses funded, recoveries and advances forgiven."""
    return (totals["loc_interest_usd"] + totals["loc_fees_usd"] + totals["partner_premium_usd"]
            + totals["partner_gain_share_usd"] - totals["partner_funding_usd"]
            + totals["reinsurance_premium_usd"] - totals["reinsurance_recovery_usd"]
            - totals["advance_forgiven_usd"])


def drawdown(capital: np.ndarray) -> np.ndarray:
    """Per trial, the largest fall of capital from a previous peak."""
    return (np.maximum.accumulate(capital, axis=1) - capital).max(axis=1)


def ruin_by_year(paths: CashPaths) -> pd.DataFrame:
    """Probabilities of ruin, breach and cash shortfall by the end of each year, and over the
    term: every month until the last payment of the term (claims run-off, settlements)."""
    rows = []
    last = paths.capital_usd.shape[1]
    ends = [(str(y), 12 * y + 1) for y in range(1, paths.years + 1)] + [("term", last)]
    for horizon, end in ends:
        capital, cash = paths.capital_usd[:, 1:end], paths.cash_usd[:, 1:end]
        for measure, event in (("p_ruin", capital < 0), ("p_breach", capital < paths.required_usd[1:end]),
                               ("p_cash_shortfall", cash < -1e-6)):
            rows.append((measure, horizon, *probability(event.any(axis=1))))
    return pd.DataFrame(rows, columns=["measure", "horizon", "value", "mc_se"])


def capital_measures(terms: CapitalTerms, items: YearlyItems) -> pd.DataFrame:
    """Every capital figure of one contract variant: measure, horizon, value, mc_se, ci_low, ci_high.

    The capital needed over the term is solved (paths recomputed for each starting capital);
    the one-year figures (per year, and the largest as ``one_year``) are the most a year takes
    from the capital it starts with, on the paths of the configured starting capital.
    """
    plan = schedule(terms, items)
    paths = cash_paths(terms, items, plan=plan)
    table = ruin_by_year(paths)
    rows = []
    level = terms.ruin_level_pct / 100
    needed = solve_capital(terms, items, plan=plan)
    rows.append({"measure": "capital_needed_usd", "horizon": "term"} | _ci(needed))
    falls = one_year_falls(paths)
    per_year = [exceeded_at_most(falls[:, y], level) for y in range(paths.years)]
    worst = max(range(paths.years), key=lambda y: per_year[y]["value"])
    rows += [{"measure": "capital_needed_usd", "horizon": f"one_year_{y + 1}"} | _ci(per_year[y])
             for y in range(paths.years)]
    rows.append({"measure": "capital_needed_usd", "horizon": "one_year"} | _ci(per_year[worst]))
    dd = drawdown(paths.capital_usd)
    rows.append(_row("worst_drawdown_mean_usd", *mean(dd)))
    rows.append({"measure": "worst_drawdown_usd", "horizon": "term"}
                | _ci(exceeded_at_most(dd, level)))
    rows.append(_row("min_capital_mean_usd", *mean(paths.capital_usd.min(axis=1))))
    rows += [_row(name.replace("_usd", "_mean_usd"), *mean(v)) for name, v in paths.totals.items()
             if np.any(v)]
    rows.append(_row("p_loc_drawn", *probability(paths.totals["loc_max_drawn_usd"] > 0)))
    rows.append(_row("net_financing_cost_mean_usd", *mean(net_financing_cost(paths.totals))))
    rows += _returns(terms, paths, needed)
    out = pd.concat([table, pd.DataFrame(rows)], ignore_index=True)
    return out.reindex(columns=["measure", "horizon", "value", "mc_se", "ci_low", "ci_high"])


def _row(measure: str, value: float, se: float, horizon: str = "term") -> dict[str, object]:
    return {"measure": measure, "horizon": horizon, "value": value, "mc_se": se}


def _ci(found: dict[str, float]) -> dict[str, float]:
    return {k: found[k] for k in ("value", "mc_se", "ci_low", "ci_high")}


def _returns(terms: CapitalTerms, paths: CashPaths, needed: dict[str, float]) -> list[dict[str, object]]:
    """Yearly result after financing, its return on the capital needed, and the cost of that capital.

    The standard error of the return treats the capital needed as known (its own error is
    reported with it); the economic profit's adds both errors in quadrature."""
    result = (paths.capital_usd[:, -1] - paths.capital_usd[:, 0]) / paths.years
    value, se = mean(result)
    needed_usd, hurdle = needed["value"], terms.hurdle_rate_pct / 100
    cost, cost_se = hurdle * needed_usd, hurdle * needed["mc_se"]
    rorc = (value / needed_usd, se / needed_usd) if needed_usd > 0 else (math.nan, math.nan)
    return [_row("annual_result_mean_usd", value, se), _row("return_on_risk_capital", *rorc),
            _row("cost_of_capital_usd", cost, cost_se),
            _row("economic_profit_usd", value - cost, math.hypot(se, cost_se))]


def ruin_curve(terms: CapitalTerms, items: YearlyItems, starting_usd: np.ndarray) -> pd.DataFrame:
    """Probability of ruin over the term for each starting capital (paths recomputed for each)."""
    rows = []
    plan = schedule(terms, items)
    for c in np.asarray(starting_usd, float):
        paths = cash_paths(terms, items, c, plan)
        rows.append((c, *probability((paths.capital_usd < 0).any(axis=1))))
    return pd.DataFrame(rows, columns=["starting_usd", "p_ruin", "mc_se"])

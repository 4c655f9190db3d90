"""The bridge of the expected result: from budget less cost, step by step, to the provider's gain.

Over the term (undiscounted), for one variant and segment (or the total), each
step is the expected amount it adds to the provider's gain, with its Monte
Carlo standard error:

1. budget less allowed cost (the budget's trend against the cost trend);
2. stop-loss recoveries (+) and 3. stop-loss premiums (-): together with 1,
   the gross result that is settled;
4. the part of the gross result the provider does not keep or bear: sharing
   rates and corridors, minimum savings/loss rates, the quality gate and caps;
5. quality bonus (+) and 6. withhold not earned back (-);
7. program costs and fees (-), including the simulated care-management program;
8. equity payment (+).

The steps add up to the expected provider gain exactly (trial by trial), so
the bridge explains the headline mean with nothing left over.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

STEPS = (
    ("budget_less_cost", "Budget less allowed cost"),
    ("stop_loss_recoveries", "Stop-loss recoveries"),
    ("stop_loss_premiums", "Stop-loss premiums"),
    ("sharing", "Payer's part: sharing, corridors, MSR/MLR, quality gate, caps"),
    ("quality_bonus", "Quality bonus"),
    ("withhold_lost", "Withhold not earned back"),
    ("program_and_fees", "Program costs and fees"),
    ("equity_payment", "Equity payment"),
)
"""Key and label of each step, in the order of the settlement."""


@dataclass(frozen=True)
class Bridge:
    """Steps from budget to expected gain, and the trends behind the first step.

    ``steps`` has columns ``step``, ``label``, ``mean_usd``, ``mc_se_usd`` (the last row,
    ``provider_gain``, is their sum); ``budget_growth_pct`` and ``cost_growth_pct`` are the
    mean over trials of the annual growth, from year 1 to the last year, of the budget and of
    allowed cost per member-month, each ``(value, standard error)``.
    """

    steps: pd.DataFrame
    budget_growth_pct: tuple[float, float]
    cost_growth_pct: tuple[float, float]


def _per_trial(data: xr.DataArray, segment: str) -> np.ndarray:
    """(trial, year) amounts, summed over segments for ``total``."""
    data = data.transpose("trial", "year", "segment")
    if segment == "total":
        return data.values.sum(axis=-1)
    return data.sel(segment=segment).values


def _mean_se(x: np.ndarray) -> tuple[float, float]:
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.size)) if x.size > 1 else math.nan


def _growth_pct(yearly: np.ndarray) -> tuple[float, float]:
    """Mean over trials of the annualised growth from the first to the last year, in %."""
    years = yearly.shape[1]
    if years < 2:
        return math.nan, math.nan
    return _mean_se(100 * ((yearly[:, -1] / yearly[:, 0]) ** (1 / (years - 1)) - 1))


def result_bridge(settlement: xr.Dataset, member_months: xr.DataArray, variant: str = "base",
                  segment: str = "total") -> Bridge:
    """The expected provider gain over the term, built up step by step (see the module notes).

    ``settlement`` needs the full outputs (as :func:`simulator.settlement.rules.settle` keeps
    by default); allowed cost is recovered as actual cost + recoveries - premiums.
    ``member_months`` (trial, year, segment), from the experience, turns the budget and cost
    into PMPM for their trends.
    """
    get = {k: _per_trial(settlement[k].sel(variant=variant), segment) for k in (
        "budget_usd", "actual_cost_usd", "stop_loss_recovery_usd", "stop_loss_premium_usd",
        "gross_result_usd", "shared_result_usd", "quality_bonus_usd", "withhold_lost_usd",
        "program_and_fees_usd", "equity_payment_usd", "provider_gain_usd")}
    allowed = get["actual_cost_usd"] + get["stop_loss_recovery_usd"] - get["stop_loss_premium_usd"]
    yearly = {
        "budget_less_cost": get["budget_usd"] - allowed,
        "stop_loss_recoveries": get["stop_loss_recovery_usd"],
        "stop_loss_premiums": -get["stop_loss_premium_usd"],
        "sharing": get["shared_result_usd"] - get["gross_result_usd"],
        "quality_bonus": get["quality_bonus_usd"],
        "withhold_lost": -get["withhold_lost_usd"],
        "program_and_fees": -get["program_and_fees_usd"],
        "equity_payment": get["equity_payment_usd"],
    }
    rows = [(key, label, *_mean_se(yearly[key].sum(axis=1))) for key, label in STEPS]
    rows.append(("provider_gain", "Expected provider gain", *_mean_se(get["provider_gain_usd"].sum(axis=1))))
    steps = pd.DataFrame(rows, columns=["step", "label", "mean_usd", "mc_se_usd"])
    months = _per_trial(member_months, segment)
    return Bridge(steps, _growth_pct(get["budget_usd"] / months), _growth_pct(allowed / months))

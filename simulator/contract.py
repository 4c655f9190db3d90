"""Contract terms: the global budget and how its surplus or deficit is shared.

The terms are data (one pydantic model); the rules that apply them live in
:mod:`simulator.settlement`. What is modelled: a per-segment budget PMPM
trended over the term, provider shares of surplus and deficit, minimum
savings and loss rates (first-dollar or above-threshold sharing), caps on
gain and loss as a percent of budget, and a specific stop-loss. Not yet:
risk adjustment, corridors, quality gates, withholds (a later issue).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from .model import Name, Percent, StrictModel, TrendPct, check_per_year, per_year_fraction


class StopLoss(StrictModel):
    """Specific stop-loss: each member's annual cost above the attachment is
    excluded from the provider's actual cost (less coinsurance), for a premium."""

    attachment_usd: float = Field(gt=0, le=1e9, description="Per member per year, nominal dollars.")
    coinsurance_pct: Percent = Field(
        0.0, description="Share of the cost above the attachment that the provider still bears.")
    premium_pmpm: float = Field(0.0, ge=0, le=1e5, description="Premium per member-month, "
                                "added to the provider's actual cost.")


class SegmentTerms(StrictModel):
    """Budget and risk-sharing terms of one segment."""

    budget_pmpm: float = Field(gt=0, le=1e6, description="Budget per member-month in the base year "
                               "(the year before year 1); year y's is this trended y times.")
    budget_trend_pct: TrendPct = Field(
        description="Annual budget increase in percent: one number or one per year of the term.")
    surplus_share_pct: Percent = Field(description="Provider's share of a surplus (budget above cost).")
    deficit_share_pct: Percent = Field(description="Provider's share of a deficit (cost above budget).")
    min_savings_rate_pct: Percent = Field(
        0.0, description="Surplus, as % of budget, below which nothing is shared.")
    min_loss_rate_pct: Percent = Field(
        0.0, description="Deficit, as % of budget, below which nothing is shared.")
    sharing: Literal["first_dollar", "above_threshold"] = Field(
        "first_dollar", description="Once the MSR/MLR is met, share the whole result "
                                    "(first_dollar, as MSSP) or only the part beyond the threshold.")
    gain_cap_pct: Percent | None = Field(None, description="Cap on the provider's gain, % of budget.")
    loss_cap_pct: Percent | None = Field(None, description="Cap on the provider's loss, % of budget.")
    stop_loss: StopLoss | None = None

    def budget_pmpm_by_year(self, years: int) -> np.ndarray:
        """Budget PMPM for years 1..``years`` of the term."""
        return self.budget_pmpm * np.cumprod(1.0 + per_year_fraction(self.budget_trend_pct, years))


class Contract(StrictModel):
    """The terms of one contract variant."""

    description: str = ""
    payment_lag_months: int = Field(6, ge=0, le=60, description="Months from a performance "
                                    "year's end to its settlement payment (for present values).")
    segments: dict[Name, SegmentTerms] = Field(min_length=1)

    def check_against(self, segment_names: list[str], years: int, label: str) -> None:
        """Raise ``ValueError`` if the terms do not fit the population and the term."""
        where = "contract" if label == "base" else f"variants.{label}"
        missing = sorted(set(segment_names) - set(self.segments))
        extra = sorted(set(self.segments) - set(segment_names))
        if missing:
            raise ValueError(f"{where}.segments: no terms for segment(s) {missing}")
        if extra:
            raise ValueError(f"{where}.segments: terms for unknown segment(s) {extra} "
                             f"(segments are {sorted(segment_names)})")
        for name, terms in self.segments.items():
            check_per_year(terms.budget_trend_pct, years, f"{where}.segments.{name}.budget_trend_pct")

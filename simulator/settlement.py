"""Stage 2: settle simulated experience against contract terms.

A pure, vectorised function of the experience dataset and the contract
variants; every variant is settled on the same simulated paths (common
random numbers). Per segment, year and trial:

1. budget = budget PMPM of the year x member-months;
2. actual cost = allowed cost - stop-loss recovery + stop-loss premium, where
   the recovery is the cost above the attachment less the provider's
   coinsurance;
3. gross result = budget - actual cost (positive: surplus);
4. the result is shared only if it reaches the minimum savings (loss) rate,
   as a percent of budget; then the provider's share applies to the whole
   result (first dollar) or to the part beyond the threshold;
5. the provider's gain is capped at ``gain_cap_pct`` and its loss at
   ``loss_cap_pct`` of the budget.

Present values discount each year's settlement from its payment date (year
end plus the payment lag) to the start of the term.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .contract import Contract, SegmentTerms

OUTPUTS = {
    "budget_usd": "Global budget",
    "allowed_usd": "Allowed cost of the members",
    "stop_loss_recovery_usd": "Cost above the stop-loss attachment excluded from actual cost",
    "stop_loss_premium_usd": "Stop-loss premium added to actual cost",
    "actual_cost_usd": "Cost settled against the budget",
    "gross_result_usd": "Budget minus actual cost (positive: surplus)",
    "provider_gain_usd": "Provider's settlement: gain (positive) or loss (negative)",
}


def settle_segment(terms: SegmentTerms, member_months: np.ndarray, allowed_usd: np.ndarray,
                   excess_usd: np.ndarray | None, budget_pmpm: np.ndarray) -> dict[str, np.ndarray]:
    """Settle one segment; arrays are (..., year) with ``budget_pmpm`` by year.

    ``excess_usd`` is the cost above this contract's stop-loss attachment
    (``None`` without stop-loss).
    """
    budget = budget_pmpm * member_months
    recovery = np.zeros_like(allowed_usd)
    premium = np.zeros_like(allowed_usd)
    if terms.stop_loss is not None:
        recovery = (1 - terms.stop_loss.coinsurance_pct / 100) * excess_usd
        premium = terms.stop_loss.premium_pmpm * member_months
    actual = allowed_usd - recovery + premium
    gross = budget - actual
    gain = shared_result(gross, budget, terms)
    return {"budget_usd": budget, "allowed_usd": allowed_usd, "stop_loss_recovery_usd": recovery,
            "stop_loss_premium_usd": premium, "actual_cost_usd": actual,
            "gross_result_usd": gross, "provider_gain_usd": gain}


def shared_result(gross: np.ndarray, budget: np.ndarray, terms: SegmentTerms) -> np.ndarray:
    """Provider's share of a gross result under MSR/MLR, sharing rates and caps."""
    surplus = gross >= 0
    share = np.where(surplus, terms.surplus_share_pct, terms.deficit_share_pct) / 100
    threshold = np.where(surplus, terms.min_savings_rate_pct, terms.min_loss_rate_pct) / 100 * budget
    magnitude = np.abs(gross)
    reached = magnitude >= threshold
    if terms.sharing == "above_threshold":
        magnitude = magnitude - threshold
    gain = np.where(reached, np.sign(gross) * share * magnitude, 0.0)
    if terms.gain_cap_pct is not None:
        gain = np.minimum(gain, terms.gain_cap_pct / 100 * budget)
    if terms.loss_cap_pct is not None:
        gain = np.maximum(gain, -terms.loss_cap_pct / 100 * budget)
    return gain


def present_value_factors(n_years: int, discount_rate_pct: float, payment_lag_months: int) -> np.ndarray:
    """Discount factor of each year's settlement, paid at year end plus the lag."""
    t = np.arange(1, n_years + 1) + payment_lag_months / 12
    return (1 + discount_rate_pct / 100) ** -t


def settle(experience: xr.Dataset, contracts: dict[str, Contract],
           discount_rate_pct: float) -> xr.Dataset:
    """Settle every contract variant on the same experience.

    Returns
    -------
    xarray.Dataset
        Variables of :data:`OUTPUTS` with dims (variant, trial, year, segment)
        and ``pv_gain_usd`` with dims (variant, trial, segment).
    """
    n_years = experience.sizes["year"]
    segments = list(experience["segment"].values)
    per_variant = []
    pv = []
    for contract in contracts.values():
        columns = [_settle_column(contract.segments[s], experience.sel(segment=s), n_years)
                   for s in segments]
        per_variant.append({k: np.stack([c[k] for c in columns], axis=-1) for k in OUTPUTS})
        factors = present_value_factors(n_years, discount_rate_pct, contract.payment_lag_months)
        pv.append(np.einsum("tys,y->ts", per_variant[-1]["provider_gain_usd"], factors))
    dims = ("variant", "trial", "year", "segment")
    data = {k: (dims, np.stack([v[k] for v in per_variant]), {"units": "USD", "description": d})
            for k, d in OUTPUTS.items()}
    data["pv_gain_usd"] = (("variant", "trial", "segment"), np.stack(pv),
                           {"units": "USD", "description": "Present value of the provider's "
                            f"settlements at {discount_rate_pct}% a year, at the start of the term"})
    ds = xr.Dataset(data, coords={"variant": list(contracts), "trial": experience["trial"].values,
                                  "year": experience["year"].values, "segment": segments})
    ds.attrs["discount_rate_pct"] = discount_rate_pct
    return ds


def _settle_column(terms: SegmentTerms, exp: xr.Dataset, n_years: int) -> dict[str, np.ndarray]:
    excess = None
    if terms.stop_loss is not None:
        excess = exp["excess_usd"].sel(attachment=terms.stop_loss.attachment_usd).values
    return settle_segment(terms, exp["member_months"].values, exp["allowed_usd"].values, excess,
                          terms.budget_pmpm_by_year(n_years))

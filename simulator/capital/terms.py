"""The ``[capital]`` table: starting capital, the required minimum, cash timing and financing.

A scenario may carry it (``[capital]``), and a separate file holding only a
``[capital]`` table can replace it on a stored run (``vbcsim capital RUN
--capital FILE``). Every default below is either neutral (no financing) or
labelled illustrative; the shipped files say where their numbers come from.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ..core.inputs import Name, Percent, StrictModel

# Illustrative claims payment pattern: the share of a month's incurred claims paid in that
# month, one month later, ... (a typical medical run-off, about 90% complete within three
# months; no source in the project's references: illustrative).
DEFAULT_CLAIMS_LAG_PCT = (35.0, 40.0, 12.0, 6.0, 4.0, 3.0)


class RequiredMinimum(StrictModel):
    """The capital the provider must keep: give exactly one of the three."""

    usd: float | None = Field(None, ge=0, le=1e12, description="An absolute amount.")
    pct_of_claims: float | None = Field(None, ge=0, le=1000, description="Percent of the year's "
                                        "expected claims (allowed cost, all segments).")
    pct_of_budget: float | None = Field(None, ge=0, le=1000, description="Percent of the year's "
                                        "expected budget (all segments).")

    @model_validator(mode="after")
    def _one(self) -> RequiredMinimum:
        given = [k for k in ("usd", "pct_of_claims", "pct_of_budget") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"required_minimum: give exactly one of usd, pct_of_claims, "
                             f"pct_of_budget (got {given or 'none'})")
        return self


class LineOfCredit(StrictModel):
    """A bank line drawn when cash would fall below zero and repaid from cash as it comes back."""

    limit_usd: float = Field(gt=0, le=1e12, description="Most that can be drawn at once.")
    rate_pct: float = Field(ge=0, le=100, description="Annual interest on the drawn balance.")
    commitment_fee_pct: float = Field(0.0, ge=0, le=100, description="Annual fee on the whole "
                                      "limit, paid monthly whether drawn or not.")


class PayerAdvance(StrictModel):
    """The payer pays a monthly advance and recovers it from the provider's settlements."""

    monthly_usd: float = Field(gt=0, le=1e12, description="Advance paid at the end of each month.")
    months: int | None = Field(None, ge=1, le=600, description="Months of advances from the "
                               "start (default, and at most: every month of the term).")
    recovery_pct: Percent = Field(100.0, description="Share of each settlement paid to the "
                                  "provider that goes to repaying the advance.")
    unrecovered: Literal["clawback", "forgiven"] = Field(
        "clawback", description="What happens to the balance still owed at the final settlement: "
                                "repaid then (clawback) or written off (forgiven).")


class Partner(StrictModel):
    """A partner or investor who funds the provider's losses for a share of gains or a premium."""

    upfront_usd: float = Field(0.0, ge=0, le=1e12, description="Capital contributed at the start.")
    loss_share_pct: Percent = Field(0.0, description="Share of each year's loss (all segments) "
                                    "the partner funds, paid at the year's final settlement.")
    loss_limit_usd: float | None = Field(None, gt=0, le=1e12, description="Most the partner funds "
                                         "over the term (default: no limit).")
    gain_share_pct: Percent = Field(0.0, description="Share of each year's gain paid to the partner.")
    premium_usd: float = Field(0.0, ge=0, le=1e12, description="Annual fee to the partner, paid "
                                "monthly whatever the result (taken before the savings test).")


class Reinsurance(StrictModel):
    """Aggregate excess-of-loss cover on the provider's yearly result, beyond the stop-loss."""

    attachment_usd: float = Field(ge=0, le=1e12, description="Yearly loss (all segments) above "
                                  "which the cover pays.")
    limit_usd: float = Field(gt=0, le=1e12, description="Most it pays in a year.")
    coinsurance_pct: Percent = Field(0.0, description="Share of the covered loss the provider keeps.")
    premium_usd: float = Field(ge=0, le=1e12, description="Annual premium, paid monthly.")


class CapitalTerms(StrictModel):
    """Capital, cash timing and financing of the provider (the ``[capital]`` table)."""

    starting_usd: float = Field(ge=0, le=1e12, description="Capital (and cash) at the start of "
                                "the term, before any partner contribution.")
    required_minimum: RequiredMinimum = Field(
        RequiredMinimum(usd=0.0), description="Capital the provider must keep; below it is a breach.")
    return_on_cash_pct: float = Field(0.0, ge=-10, le=50, description="Annual return earned on "
                                      "cash held (positive balances), credited monthly.")
    hurdle_rate_pct: float = Field(10.0, ge=0, le=100, description="Annual cost of capital "
                                   "(the return owners require on capital at risk; default "
                                   "illustrative).")
    ruin_level_pct: float = Field(0.5, gt=0, lt=50, description="Target probability of ruin "
                                  "for the capital-needed solver (default: one in 200, the "
                                  "99.5% level of the tail measures vbcsim reports).")
    receipts: dict[Name, Literal["capitation", "ffs"]] = Field(
        default_factory=dict, description="Per segment: capitation (the budget paid monthly; the "
        "provider pays claims) or ffs (claims paid by the payer; only the reconciliation and "
        "program costs move the provider's cash). Default: capitation.")
    claims_lag_pct: list[Percent] = Field(
        list(DEFAULT_CLAIMS_LAG_PCT), min_length=1, max_length=60, description="Share of a "
        "month's incurred claims paid 0, 1, 2, ... months later; sums to 100 (illustrative default).")
    stop_loss_recovery_lag_months: int = Field(4, ge=0, le=60, description="Months after the "
                                               "year end when stop-loss recoveries are paid "
                                               "(illustrative default).")
    interim_settlement_pct: Percent = Field(0.0, description="Share of a year's reconciliation "
                                            "paid at an interim date (the rest at the final one).")
    interim_lag_months: int = Field(3, ge=0, le=60, description="Months after the year end of "
                                    "the interim settlement (default illustrative).")
    line_of_credit: LineOfCredit | None = None
    payer_advance: PayerAdvance | None = None
    partner: Partner | None = None
    reinsurance: Reinsurance | None = None

    @model_validator(mode="after")
    def _lags_sum(self) -> CapitalTerms:
        if abs(sum(self.claims_lag_pct) - 100.0) > 1e-6:
            raise ValueError(f"claims_lag_pct: the shares must sum to 100, got {sum(self.claims_lag_pct):g}")
        return self

    def check_against(self, segment_names: list[str]) -> None:
        """Raise ``ValueError`` if ``receipts`` names a segment the scenario does not have."""
        unknown = sorted(set(self.receipts) - set(segment_names))
        if unknown:
            raise ValueError(f"capital.receipts: unknown segment(s) {unknown} "
                             f"(segments are {sorted(segment_names)})")

    def receipt_basis(self, segment: str) -> str:
        return self.receipts.get(segment, "capitation")


class CapitalFile(StrictModel):
    """A file holding only a ``[capital]`` table (``vbcsim capital RUN --capital FILE``)."""

    description: str = ""
    capital: CapitalTerms

"""The monthly cash calendar of one contract variant: cash, liabilities and capital per trial.

Monthly amounts come from the yearly settlement items of a run. Assumptions
(illustrative, stated once here):

- within a year, budget receipts, claims, stop-loss premiums and program costs are
  incurred uniformly, one twelfth a month;
- claims incurred in a month are paid by ``claims_lag_pct`` (0, 1, 2, ... months later);
  the unpaid part is a liability (incurred but not paid, IBNR) at each month end;
- stop-loss recoveries are paid ``stop_loss_recovery_lag_months`` after the year end;
  the year's reconciliation with the payer (``interim_settlement_pct`` at the interim date,
  the rest at the contract's ``payment_lag_months``) nets what the budget receipts and
  claims have not yet settled, so a year's cash flows add up to its provider gain;
- what a partner funds or takes and what reinsurance recovers on a year's result (all
  segments) is paid at the year's final settlement; their premiums monthly;
- capital is assets less liabilities on an accrual basis: the year's result (and what a
  partner or reinsurer owes on it) is booked one twelfth a month, as if the provider
  estimated its settlement exactly; claims liabilities are booked as incurred;
- cash earns ``return_on_cash_pct`` when positive; a shortfall is met by the line of
  credit up to its limit, which positive cash repays first; cash may stay below zero
  beyond the limit (a liquidity shortfall, reported, not financed).

A year's month ``m`` (1..12) of year ``y`` (0-based) is calendar month ``12 y + m``;
calendar month 0 is the start. The calendar runs past the term until the last payment.
The recursion is vectorised over trials and steps over months (numpy).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .terms import CapitalTerms

TOTALS = ("investment_income_usd", "loc_interest_usd", "loc_fees_usd", "loc_max_drawn_usd",
          "advance_received_usd", "advance_recovered_usd", "advance_clawed_back_usd",
          "advance_forgiven_usd", "partner_upfront_usd", "partner_funding_usd",
          "partner_gain_share_usd", "partner_premium_usd", "reinsurance_recovery_usd",
          "reinsurance_premium_usd", "settlement_gain_usd")
"""Per-trial totals over the calendar kept in :attr:`CashPaths.totals`."""


@dataclass(frozen=True)
class YearlyItems:
    """One contract variant's settlement items, each an array (trial, year, segment)."""

    budget_usd: np.ndarray
    allowed_usd: np.ndarray
    recovery_usd: np.ndarray
    premium_usd: np.ndarray
    program_usd: np.ndarray
    gain_usd: np.ndarray
    capitation: np.ndarray
    """(segment,) bool: the segment's budget is paid monthly and its claims by the provider."""
    payment_lag_months: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.gain_usd.shape[:2]


@dataclass
class CashPaths:
    """Month-end balances per (trial, calendar month 0..H) and per-trial totals."""

    capital_usd: np.ndarray
    cash_usd: np.ndarray
    required_usd: np.ndarray
    ibnr_usd: np.ndarray
    receivable_usd: np.ndarray
    loc_usd: np.ndarray
    advance_usd: np.ndarray
    years: int
    starting_usd: float
    totals: dict[str, np.ndarray] = field(default_factory=dict)


def horizon_months(terms: CapitalTerms, years: int, payment_lag_months: int) -> int:
    """Calendar months until the last payment of the term's last year."""
    tail = max(len(terms.claims_lag_pct) - 1, payment_lag_months, terms.stop_loss_recovery_lag_months,
               terms.interim_lag_months if terms.interim_settlement_pct else 0)
    return 12 * years + tail


def monthly(yearly: np.ndarray, months: int) -> np.ndarray:
    """Yearly amounts (trial, year) spread evenly over their months, padded to ``months``."""
    out = np.zeros((yearly.shape[0], months))
    spread = np.repeat(yearly / 12.0, 12, axis=1)
    out[:, :spread.shape[1]] = spread
    return out


def paid_after(yearly: np.ndarray, lag_months: int, months: int) -> np.ndarray:
    """Yearly amounts (trial, year) paid ``lag_months`` after each year end."""
    out = np.zeros((yearly.shape[0], months))
    for y in range(yearly.shape[1]):
        out[:, 12 * (y + 1) + lag_months - 1] += yearly[:, y]
    return out


def claims_paid(incurred: np.ndarray, lag_pct: list[float]) -> np.ndarray:
    """Monthly claims paid: each month's incurred claims run off by the lag pattern."""
    paid = np.zeros_like(incurred)
    for lag, pct in enumerate(lag_pct):
        if pct:
            paid[:, lag:] += pct / 100 * incurred[:, : incurred.shape[1] - lag]
    return paid


def required_minimum(terms: CapitalTerms, items: YearlyItems, months: int) -> np.ndarray:
    """Required capital at each month end 0..H (a year's figure through its months)."""
    rule = terms.required_minimum
    if rule.usd is not None:
        return np.full(months + 1, rule.usd)
    base = items.allowed_usd if rule.pct_of_claims is not None else items.budget_usd
    pct = rule.pct_of_claims if rule.pct_of_claims is not None else rule.pct_of_budget
    by_year = pct / 100 * base.sum(axis=2).mean(axis=0)
    year_of_month = np.minimum(np.maximum(np.arange(months + 1) - 1, 0) // 12, len(by_year) - 1)
    return by_year[year_of_month]


def third_parties(terms: CapitalTerms, gain: np.ndarray) -> dict[str, np.ndarray]:
    """Yearly amounts (trial, year) a partner and a reinsurer pay (+) or take (-) on the result."""
    zero = np.zeros_like(gain)
    out = {"partner_funding_usd": zero, "partner_gain_share_usd": zero, "reinsurance_recovery_usd": zero}
    if (p := terms.partner) is not None:
        asked = p.loss_share_pct / 100 * np.maximum(-gain, 0.0)
        funded = np.cumsum(asked, axis=1)
        if p.loss_limit_usd is not None:
            funded = np.minimum(funded, p.loss_limit_usd)
        out["partner_funding_usd"] = np.diff(funded, axis=1, prepend=0.0)
        out["partner_gain_share_usd"] = p.gain_share_pct / 100 * np.maximum(gain, 0.0)
    if (r := terms.reinsurance) is not None:
        covered = np.clip(-gain - r.attachment_usd, 0.0, r.limit_usd)
        out["reinsurance_recovery_usd"] = (1 - r.coinsurance_pct / 100) * covered
    return out


def scheduled_flows(terms: CapitalTerms, items: YearlyItems, months: int
                    ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Cash flows that do not depend on the cash balance, their accrual, and balances.

    Returns
    -------
    cash, accrued
        (trial, month) amounts paid to (+) or by (-) the provider, and booked to capital.
    parts
        ``ibnr_usd`` and ``receivable_usd`` changes per month (for the balance sheet) and
        the yearly third-party amounts.
    """
    cap = items.capitation.astype(float)
    gain = items.gain_usd.sum(axis=2)
    program = items.program_usd.sum(axis=2)
    budget, allowed, recovery, premium = ((x * cap).sum(axis=2) for x in (
        items.budget_usd, items.allowed_usd, items.recovery_usd, items.premium_usd))
    incurred = monthly(allowed, months)
    paid_claims = claims_paid(incurred, terms.claims_lag_pct)
    # the reconciliation: whatever the year's other cash flows have not yet made of its gain
    reconciliation = gain - (budget - allowed + recovery - premium - program)
    interim = terms.interim_settlement_pct / 100
    settlement = paid_after((1 - interim) * reconciliation, items.payment_lag_months, months)
    if interim:
        settlement += paid_after(interim * reconciliation, terms.interim_lag_months, months)
    sl_paid = paid_after(recovery, terms.stop_loss_recovery_lag_months, months)
    cash = monthly(budget - premium - program, months) - paid_claims + sl_paid + settlement
    accrued = monthly(gain, months)
    yearly = third_parties(terms, gain)
    net_third = yearly["partner_funding_usd"] - yearly["partner_gain_share_usd"] \
        + yearly["reinsurance_recovery_usd"]
    third_paid = paid_after(net_third, items.payment_lag_months, months)
    premiums_usd = ((terms.partner.premium_usd if terms.partner else 0.0)
                    + (terms.reinsurance.premium_usd if terms.reinsurance else 0.0))
    premiums = monthly(np.full(gain.shape, premiums_usd), months)
    cash = cash + third_paid - premiums
    accrued = accrued + monthly(net_third, months) - premiums
    receivable = (monthly(recovery + reconciliation + net_third, months)
                  - sl_paid - settlement - third_paid)
    return cash, accrued, {"ibnr_usd": incurred - paid_claims, "receivable_usd": receivable,
                           "settlement_usd": settlement} | yearly


@dataclass(frozen=True)
class Schedule:
    """What does not depend on the starting capital, month-major (month, trial) for speed."""

    months: int
    cash: np.ndarray
    accrued: np.ndarray
    settlement: np.ndarray
    parts: dict[str, np.ndarray]
    ibnr: np.ndarray
    receivable: np.ndarray


def schedule(terms: CapitalTerms, items: YearlyItems) -> Schedule:
    """The scheduled flows of :func:`scheduled_flows`, computed once for many starting capitals."""
    months = horizon_months(terms, items.shape[1], items.payment_lag_months)
    cash, accrued, parts = scheduled_flows(terms, items, months)
    zeros = np.zeros((cash.shape[0], 1))
    return Schedule(months, np.ascontiguousarray(cash.T), np.ascontiguousarray(accrued.T),
                    np.ascontiguousarray(parts["settlement_usd"].T), parts,
                    ibnr=np.hstack([zeros, np.cumsum(parts["ibnr_usd"], axis=1)]),
                    receivable=np.hstack([zeros, np.cumsum(parts["receivable_usd"], axis=1)]))


def select_trials(items: YearlyItems, plan: Schedule, trials: np.ndarray) -> tuple[YearlyItems, Schedule]:
    """The items and schedule of some trials only: their cash paths are, trial by trial, those
    of all trials (each trial's calendar is its own)."""
    chosen = replace(items, **{name: getattr(items, name)[trials] for name in (
        "budget_usd", "allowed_usd", "recovery_usd", "premium_usd", "program_usd", "gain_usd")})
    return chosen, Schedule(plan.months, plan.cash[:, trials], plan.accrued[:, trials],
                            plan.settlement[:, trials], {k: v[trials] for k, v in plan.parts.items()},
                            ibnr=plan.ibnr[trials], receivable=plan.receivable[trials])


def cash_paths(terms: CapitalTerms, items: YearlyItems, starting_usd: float | None = None,
               plan: Schedule | None = None) -> CashPaths:
    """Capital and cash month by month for every trial of one contract variant.

    Parameters
    ----------
    starting_usd
        Starting capital (default: ``terms.starting_usd``); the solver varies it.
    plan
        :func:`schedule` of the same terms and items, if already computed.
    """
    start = terms.starting_usd if starting_usd is None else float(starting_usd)
    n, years = items.shape
    plan = plan or schedule(terms, items)
    months, parts = plan.months, plan.parts
    state = _Financing(terms, n, years, items.payment_lag_months)
    upfront = terms.partner.upfront_usd if terms.partner else 0.0
    cash, capital = np.empty((months + 1, n)), np.empty((months + 1, n))
    loc, advance = np.zeros((months + 1, n)), np.zeros((months + 1, n))
    cash[0] = capital[0] = start + upfront
    for k in range(1, months + 1):
        cash[k], capital_change = state.step(k, cash[k - 1], plan.cash[k - 1], plan.settlement[k - 1])
        capital[k] = capital[k - 1] + plan.accrued[k - 1] + capital_change
        loc[k], advance[k] = state.loc, state.advance
    totals = state.totals | {name: parts[name].sum(axis=1) for name in (
        "partner_funding_usd", "partner_gain_share_usd", "reinsurance_recovery_usd")}
    totals |= {"partner_upfront_usd": np.full(n, upfront),
               "partner_premium_usd": np.full(n, years * (terms.partner.premium_usd if terms.partner else 0.0)),
               "reinsurance_premium_usd": np.full(
                   n, years * (terms.reinsurance.premium_usd if terms.reinsurance else 0.0)),
               "settlement_gain_usd": items.gain_usd.sum(axis=(1, 2))}
    return CashPaths(capital_usd=capital.T, cash_usd=cash.T, required_usd=required_minimum(terms, items, months),
                     ibnr_usd=plan.ibnr, receivable_usd=plan.receivable, loc_usd=loc.T, advance_usd=advance.T, years=years, starting_usd=start, totals=totals)


class _Financing:
    """The cash-dependent part of a month: return on cash, the line of credit, the advance."""

    def __init__(self, terms: CapitalTerms, n: int, years: int, payment_lag_months: int):
        self.terms = terms
        self.return_m = (1 + terms.return_on_cash_pct / 100) ** (1 / 12) - 1
        line = terms.line_of_credit
        self.limit = line.limit_usd if line else 0.0
        self.rate_m = (1 + line.rate_pct / 100) ** (1 / 12) - 1 if line else 0.0
        self.fee_m = line.commitment_fee_pct / 100 / 12 * line.limit_usd if line else 0.0
        adv = terms.payer_advance
        self.advance_months = min(adv.months or 12 * years, 12 * years) if adv else 0
        self.final_month = 12 * years + payment_lag_months
        self.loc, self.advance = np.zeros(n), np.zeros(n)
        self.totals = {k: np.zeros(n) for k in TOTALS}

    def step(self, k: int, cash: np.ndarray, flow: np.ndarray, settlement: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
        """Cash at the end of month ``k`` and the month's change of capital from financing.

        ``flow`` is the month's scheduled cash flow, ``settlement`` the part of it that is the
        payer's reconciliation (the advance is recovered from it)."""
        t = self.totals
        income = self.return_m * np.maximum(cash, 0.0)
        interest = self.rate_m * self.loc
        fee = self.fee_m if k <= self.final_month else 0.0
        cash = cash + flow + income - interest - fee
        forgiven = self._advance(k, settlement, cash)
        shortfall = np.clip(-cash, 0.0, self.limit - self.loc)
        repay = np.clip(cash, 0.0, self.loc)
        self.loc = self.loc + shortfall - repay
        cash = cash + shortfall - repay
        t["investment_income_usd"] += income
        t["loc_interest_usd"] += interest
        t["loc_fees_usd"] += fee
        np.maximum(t["loc_max_drawn_usd"], self.loc, out=t["loc_max_drawn_usd"])
        return cash, income - interest - fee + forgiven

    def _advance(self, k: int, settlement: np.ndarray, cash: np.ndarray) -> np.ndarray:
        """Pay this month's advance, recover from settlements, settle the rest at the end.

        Changes ``cash`` in place; returns the amount forgiven (a gain to capital)."""
        adv, t = self.terms.payer_advance, self.totals
        forgiven = np.zeros_like(cash)
        if adv is None:
            return forgiven
        if k <= self.advance_months:
            self.advance += adv.monthly_usd
            cash += adv.monthly_usd
            t["advance_received_usd"] += adv.monthly_usd
        # recovered from the payer's settlement payments to the provider
        recovered = np.minimum(self.advance, adv.recovery_pct / 100 * np.maximum(settlement, 0.0))
        self.advance -= recovered
        cash -= recovered
        t["advance_recovered_usd"] += recovered
        if k == self.final_month:
            rest = self.advance.copy()
            self.advance[:] = 0.0
            if adv.unrecovered == "clawback":
                cash -= rest
                t["advance_clawed_back_usd"] += rest
            else:
                forgiven = rest
                t["advance_forgiven_usd"] += rest
        return forgiven

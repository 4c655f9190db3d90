"""The cash calendar: a path computed by hand month by month, and money conserved."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.capital.calendar import YearlyItems, cash_paths, horizon_months
from simulator.capital.measures import net_financing_cost
from simulator.capital.terms import CapitalTerms


def items(budget, allowed, recovery, premium, program, gain, capitation=(True,), lag=3) -> YearlyItems:
    """One segment (or more) as (trial, year, segment) arrays from (trial, year) lists."""
    a = [np.asarray(x, float)[..., None] if np.ndim(x) == 2 else np.asarray(x, float)
         for x in (budget, allowed, recovery, premium, program, gain)]
    return YearlyItems(*a, capitation=np.array(capitation), payment_lag_months=lag)


def hand_case() -> tuple[CapitalTerms, YearlyItems]:
    # year 1: budget 1,200 (100 a month), claims 1,320 (110 a month), stop-loss recovery 60,
    # premium 24, program 12, gain -54, so the reconciliation is -54 - (1200-1320+60-24-12) = +42;
    # year 2: budget 2,400, claims 1,800, no recovery, premium 24, program 12, gain 300,
    # so the reconciliation is 300 - (2400-1800-24-12) = -264.
    terms = CapitalTerms(starting_usd=1000.0, claims_lag_pct=[50.0, 50.0],
                         stop_loss_recovery_lag_months=2, required_minimum={"usd": 950.0})
    return terms, items([[1200, 2400]], [[1320, 1800]], [[60, 0]], [[24, 24]], [[12, 12]], [[-54, 300]])


def test_a_two_year_cash_path_computed_by_hand():
    terms, it = hand_case()
    paths = cash_paths(terms, it)
    assert horizon_months(terms, 2, 3) == 27 and paths.cash_usd.shape == (1, 28)
    # Year 1: +100 budget - 2 premium - 1 program each month; claims paid 55 in month 1
    # (half of 110), then 110 a month. Year 2: +200 - 2 - 1; claims 55 + 75 in month 13,
    # then 150; stop-loss 60 in month 14 (year end + 2); reconciliation +42 in month 15
    # (year end + 3). Run-off: claims 75 in month 25; recovery 0 in 26; reconciliation -264 in 27.
    cash = [1000, 1042, 1029, 1016, 1003, 990, 977, 964, 951, 938, 925, 912, 899,
            966, 1073, 1162, 1209, 1256, 1303, 1350, 1397, 1444, 1491, 1538, 1585,
            1510, 1510, 1246]
    np.testing.assert_allclose(paths.cash_usd[0], cash, atol=1e-9)
    # capital books the year's result a twelfth a month: -4.5 in year 1, +25 in year 2
    capital = [1000 - 4.5 * k for k in range(13)] + [946 + 25 * k for k in range(1, 13)] + [1246] * 3
    np.testing.assert_allclose(paths.capital_usd[0], capital, atol=1e-9)
    # claims incurred but not paid at each month end: half a month's claims
    ibnr = [0] + [55] * 12 + [75] * 12 + [0] * 3
    np.testing.assert_allclose(paths.ibnr_usd[0], ibnr, atol=1e-9)
    # e.g. at the end of year 1: cash 899 - claims owed 55 + stop-loss 60 and settlement 42 due
    assert paths.cash_usd[0, 12] - paths.ibnr_usd[0, 12] + paths.receivable_usd[0, 12] \
        == pytest.approx(946)
    assert list(paths.required_usd[[0, 12, 27]]) == [950, 950, 950]


def test_fee_for_service_segments_move_only_program_costs_and_the_reconciliation():
    terms, _ = hand_case()
    it = items([[1200, 2400]], [[1320, 1800]], [[60, 0]], [[24, 24]], [[12, 12]], [[-54, 300]],
               capitation=(False,))
    cash = cash_paths(terms, it).cash_usd[0]
    # one a month of program cost; the reconciliation = gain + program cost at year end + 3
    assert cash[12] == pytest.approx(988) and cash[15] == pytest.approx(1000 - 15 - 42)
    assert cash[27] == pytest.approx(1000 - 54 + 300)


def test_the_line_of_credit_funds_a_shortfall_and_is_repaid_with_interest():
    # 12% a year is 0.9489% a month; claims 2,400 paid at once against budget 1,200 spread
    terms = CapitalTerms(starting_usd=0.0, claims_lag_pct=[100.0], stop_loss_recovery_lag_months=0,
                         line_of_credit={"limit_usd": 5000.0, "rate_pct": 12.0})
    it = items([[1200]], [[2400]], [[0]], [[0]], [[0]], [[-1200]], lag=1)
    paths = cash_paths(terms, it)
    rate = 1.12 ** (1 / 12) - 1
    balance = 0.0
    for k in range(1, 13):  # each month 100 in, 200 out, interest on last month's balance
        balance += 100 + rate * balance
        assert paths.loc_usd[0, k] == pytest.approx(balance)
    assert (paths.cash_usd[0, 1:13] == pytest.approx(0.0))
    # month 13: the reconciliation is 0 (full risk), so the line stays drawn: capital is
    # the result less interest, and cash is zero
    interest = paths.totals["loc_interest_usd"][0]
    assert paths.capital_usd[0, -1] == pytest.approx(-1200 - interest)
    assert paths.cash_usd[0, -1] - paths.loc_usd[0, -1] == pytest.approx(-1200 - interest)


def random_items(n=400, years=3, seed=1, segments=2):
    rng = np.random.default_rng(seed)
    shape = (n, years, segments)
    budget = rng.uniform(900, 1100, shape)
    allowed = budget * rng.lognormal(0.0, 0.08, shape)
    recovery, premium = rng.uniform(0, 30, shape), np.full(shape, 12.0)
    program = np.full(shape, 6.0)
    gross = budget - (allowed - recovery + premium)
    gain = np.where(gross > 0, 0.5, 0.8) * gross - program
    return YearlyItems(budget, allowed, recovery, premium, program, gain,
                       capitation=np.array([True, False][:segments]), payment_lag_months=6)


FINANCED = dict(starting_usd=150.0, return_on_cash_pct=4.0, interim_settlement_pct=40.0,
                line_of_credit={"limit_usd": 120.0, "rate_pct": 9.0, "commitment_fee_pct": 0.5},
                payer_advance={"monthly_usd": 2.0, "months": 18, "recovery_pct": 50.0},
                partner={"upfront_usd": 20.0, "loss_share_pct": 50.0, "loss_limit_usd": 60.0,
                         "gain_share_pct": 25.0, "premium_usd": 1.5},
                reinsurance={"attachment_usd": 40.0, "limit_usd": 50.0, "coinsurance_pct": 10.0,
                             "premium_usd": 2.0})


@pytest.mark.parametrize("unrecovered", ["clawback", "forgiven"])
def test_financing_flows_conserve_money(unrecovered):
    terms = CapitalTerms.model_validate(FINANCED | {"payer_advance": FINANCED["payer_advance"]
                                                    | {"unrecovered": unrecovered}})
    it = random_items()
    p = cash_paths(terms, it)
    t = p.totals
    # the balance sheet balances every month: capital = cash - claims owed + receivables - debts
    np.testing.assert_allclose(p.capital_usd, p.cash_usd - p.ibnr_usd + p.receivable_usd
                               - p.loc_usd - p.advance_usd, atol=1e-7)
    # after the last payment nothing is owed either way but the line of credit
    assert np.allclose(p.ibnr_usd[:, -1], 0) and np.allclose(p.receivable_usd[:, -1], 0, atol=1e-7)
    assert np.allclose(p.advance_usd[:, -1], 0)
    # every dollar of the advance is recovered, clawed back or forgiven
    np.testing.assert_allclose(t["advance_received_usd"], t["advance_recovered_usd"]
                               + t["advance_clawed_back_usd"] + t["advance_forgiven_usd"])
    assert np.allclose(t["advance_received_usd"], 36.0)
    assert (t["advance_clawed_back_usd"] > 0).any() == (unrecovered == "clawback")
    assert (t["partner_funding_usd"].sum() > 0) and (t["partner_funding_usd"] <= 60 + 1e-9).all()
    assert (t["reinsurance_recovery_usd"] > 0).any() and (t["loc_max_drawn_usd"] > 0).any()
    # final capital = start + the settlements + every financing flow that is income or cost
    expected = (150 + t["settlement_gain_usd"] + t["investment_income_usd"] - t["loc_interest_usd"]
                - t["loc_fees_usd"] + t["advance_forgiven_usd"] + t["partner_upfront_usd"]
                + t["partner_funding_usd"] - t["partner_gain_share_usd"] - t["partner_premium_usd"]
                + t["reinsurance_recovery_usd"] - t["reinsurance_premium_usd"])
    np.testing.assert_allclose(p.capital_usd[:, -1], expected, atol=1e-7)
    # ... which is what the reported net cost of financing says
    np.testing.assert_allclose(p.capital_usd[:, -1], 150 + t["partner_upfront_usd"] + t["settlement_gain_usd"]
                               + t["investment_income_usd"] - net_financing_cost(t), atol=1e-7)


def test_the_required_minimum_follows_expected_claims_or_budget_by_year():
    # two trials: expected claims 1,100 then 2,000; expected budget 1,000 then 1,500
    it = items([[1000, 1400], [1000, 1600]], [[1000, 2100], [1200, 1900]], [[0, 0]] * 2,
               [[0, 0]] * 2, [[0, 0]] * 2, [[0, 0]] * 2)
    by_claims = cash_paths(CapitalTerms(starting_usd=0.0, required_minimum={"pct_of_claims": 10.0}), it)
    by_budget = cash_paths(CapitalTerms(starting_usd=0.0, required_minimum={"pct_of_budget": 10.0}), it)
    # month 0 and year 1's months take year 1's figure, year 2's and the run-off year 2's
    assert list(by_claims.required_usd[[0, 1, 12, 13, 24, -1]]) == pytest.approx([110, 110, 110, 200, 200, 200])
    assert list(by_budget.required_usd[[0, 12, 13, -1]]) == pytest.approx([100, 100, 150, 150])


def test_a_required_minimum_is_one_rule():
    with pytest.raises(ValueError, match="exactly one of usd, pct_of_claims, pct_of_budget"):
        CapitalTerms(starting_usd=0.0, required_minimum={"usd": 1.0, "pct_of_budget": 2.0})
    with pytest.raises(ValueError, match="claims_lag_pct: the shares must sum to 100"):
        CapitalTerms(starting_usd=0.0, claims_lag_pct=[50.0, 40.0])

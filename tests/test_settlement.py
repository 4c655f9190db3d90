"""Settlement rules on hand-computed cases (amounts in the comments)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from simulator.contract import Contract, SegmentTerms
from simulator.settlement import present_value_factors, settle, settle_segment


def terms(**kw) -> SegmentTerms:
    base = dict(budget_pmpm=600.0, budget_trend_pct=0.0, surplus_share_pct=100.0,
                deficit_share_pct=100.0)
    return SegmentTerms.model_validate(base | kw)


def gain(t: SegmentTerms, allowed: float, member_months: float = 12_000.0,
         excess: float | None = None, budget_pmpm: float | None = None) -> float:
    """Provider gain for one segment-year."""
    pmpm = np.array([t.budget_pmpm if budget_pmpm is None else budget_pmpm])
    out = settle_segment(t, np.array([member_months]), np.array([allowed]),
                         None if excess is None else np.array([excess]), pmpm)
    return float(out["provider_gain_usd"][0])


# budget below: 600 x 12,000 member-months = 7,200,000

def test_surplus_under_full_risk_goes_to_the_provider():
    # 7,200,000 - 6,900,000 = 300,000
    assert gain(terms(), 6_900_000) == pytest.approx(300_000, abs=1e-6)


def test_deficit_is_shared_at_the_deficit_rate():
    # cost 7,500,000: deficit 300,000; provider bears 50% = -150,000
    assert gain(terms(deficit_share_pct=50.0), 7_500_000) == pytest.approx(-150_000, abs=1e-6)


def test_surplus_below_msr_is_not_shared():
    # surplus 72,000 = 1% of budget < MSR 2%
    assert gain(terms(min_savings_rate_pct=2.0), 7_128_000) == 0.0


def test_deficit_below_mlr_is_not_shared():
    # deficit 108,000 = 1.5% < MLR 2%
    assert gain(terms(min_loss_rate_pct=2.0), 7_308_000) == 0.0


def test_surplus_exactly_at_msr_is_shared_from_the_first_dollar():
    # surplus 144,000 = 2.0% = MSR; 60% of 144,000 = 86,400
    t = terms(min_savings_rate_pct=2.0, surplus_share_pct=60.0)
    assert gain(t, 7_056_000) == pytest.approx(86_400, abs=1e-6)


def test_above_threshold_sharing_shares_only_the_excess_over_msr():
    # surplus 360,000 = 5%; beyond the 2% MSR: 216,000; 50% = 108,000
    t = terms(min_savings_rate_pct=2.0, surplus_share_pct=50.0, sharing="above_threshold")
    assert gain(t, 6_840_000) == pytest.approx(108_000, abs=1e-6)


def test_gain_beyond_the_cap_is_cut_to_the_cap():
    # surplus 2,160,000 (30%); 50% = 1,080,000 > cap 10% x 7,200,000 = 720,000
    t = terms(surplus_share_pct=50.0, gain_cap_pct=10.0)
    assert gain(t, 5_040_000) == pytest.approx(720_000, abs=1e-6)


def test_loss_beyond_the_cap_is_cut_to_the_cap():
    # deficit 1,440,000 (20%) at 100% > cap 5% = 360,000
    assert gain(terms(loss_cap_pct=5.0), 8_640_000) == pytest.approx(-360_000, abs=1e-6)


def test_stop_loss_claim_worked_example_8():
    # 10,000 members x 12 months at $600 = 72,000,000; claims 74,000,000 incl. one
    # member at 1,250,000; attachment 250,000, 10% coinsurance, premium $9 PMPM:
    # recovery 0.9 x 1,000,000 = 900,000; premium 1,080,000;
    # net cost 74,180,000 -> loss 2,180,000
    t = terms(stop_loss=dict(attachment_usd=250_000.0, coinsurance_pct=10.0, premium_pmpm=9.0))
    out = settle_segment(t, np.array([120_000.0]), np.array([74_000_000.0]),
                         np.array([1_000_000.0]), np.array([600.0]))
    assert out["stop_loss_recovery_usd"][0] == pytest.approx(900_000, abs=1e-6)
    assert out["stop_loss_premium_usd"][0] == pytest.approx(1_080_000, abs=1e-6)
    assert out["provider_gain_usd"][0] == pytest.approx(-2_180_000, abs=1e-6)


@pytest.mark.parametrize("benchmark, actual, kw, expected", [
    # 1. BASIC Level A, 20,000 beneficiaries, MSR 2.5%: 3.75% savings, 40% -> 3,600,000
    (240e6, 231e6, dict(surplus_share_pct=40.0, deficit_share_pct=0.0, min_savings_rate_pct=2.5,
                        gain_cap_pct=10.0), 3_600_000),
    # 2. BASIC Level A, 10,000 beneficiaries, MSR 3.0%: 2.5% savings -> 0
    (120e6, 117e6, dict(surplus_share_pct=40.0, deficit_share_pct=0.0, min_savings_rate_pct=3.0,
                        gain_cap_pct=10.0), 0),
    # 3. BASIC Level C, 50% of 150,000,000 = 75,000,000 > cap 10% of 600,000,000
    (600e6, 450e6, dict(surplus_share_pct=50.0, deficit_share_pct=30.0, min_savings_rate_pct=2.0,
                        gain_cap_pct=10.0), 60_000_000),
    # 4. ENHANCED, MLR 2%: losses 6.06% >= 2%, loss rate 40% -> 8,000,000 owed
    (330e6, 350e6, dict(surplus_share_pct=75.0, deficit_share_pct=40.0, min_savings_rate_pct=2.0,
                        min_loss_rate_pct=2.0, gain_cap_pct=20.0, loss_cap_pct=15.0), -8_000_000),
])
def test_mssp_worked_examples(benchmark, actual, kw, expected):
    t = terms(**kw)
    assert gain(t, actual, member_months=1.0, budget_pmpm=benchmark) == pytest.approx(expected, abs=1e-6)


def test_budget_is_trended_from_the_base_year():
    t = terms(budget_trend_pct=[3.0, 5.0])
    np.testing.assert_allclose(t.budget_pmpm_by_year(2), [600 * 1.03, 600 * 1.03 * 1.05])


def test_present_value_discounts_from_the_payment_date():
    # paid 6 months after each year end, 3% a year: 1.03^-1.5, 1.03^-2.5
    np.testing.assert_allclose(present_value_factors(2, 3.0, 6), [1.03**-1.5, 1.03**-2.5])


def test_variants_are_settled_on_the_same_experience():
    exp = xr.Dataset(
        {"member_months": (("trial", "year", "segment"), np.full((2, 1, 1), 12_000.0)),
         "allowed_usd": (("trial", "year", "segment"), np.array([[[6_900_000.0]], [[7_500_000.0]]])),
         "excess_usd": (("trial", "year", "segment", "attachment"), np.zeros((2, 1, 1, 0)))},
        coords={"trial": [0, 1], "year": [2019], "segment": ["ppo"], "attachment": np.zeros(0)})
    full = Contract(payment_lag_months=0, segments={"ppo": terms()})
    half = Contract(payment_lag_months=0, segments={"ppo": terms(surplus_share_pct=50.0,
                                                                   deficit_share_pct=50.0)})
    ds = settle(exp, {"base": full, "half": half}, discount_rate_pct=0.0)
    g = ds["provider_gain_usd"].sel(year=2019, segment="ppo")
    np.testing.assert_allclose(g.sel(variant="base"), [300_000, -300_000])
    np.testing.assert_allclose(g.sel(variant="half"), [150_000, -150_000])
    np.testing.assert_allclose(ds["pv_gain_usd"].sel(segment="ppo"), g)

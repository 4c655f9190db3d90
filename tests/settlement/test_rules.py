"""Settlement rules on hand-computed cases (amounts in the comments)."""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.settlement.contract import Contract, SegmentTerms, cms_min_savings_rate_pct
from simulator.settlement.rules import (OUTPUTS, SegmentExperience, corridor_amount,
                                        present_value_factors, settle, settle_segment)


def terms(**kw) -> SegmentTerms:
    base = dict(budget_pmpm=600.0, budget_trend_pct=0.0)
    if "surplus_corridors" not in kw:
        base["surplus_share_pct"] = 100.0
    if "deficit_corridors" not in kw:
        base["deficit_share_pct"] = 100.0
    return SegmentTerms.model_validate(base | kw)


def experience(allowed, member_months=12_000.0, excess=0.0, risk=1.0, score=float("nan"),
               attachment=250_000.0, members=None) -> SegmentExperience:
    """A hand-built experience; scalars become one trial, or lists one value per year."""
    def arr(x):
        return np.atleast_2d(np.asarray(x, float))
    shape = np.broadcast_shapes(*(arr(x).shape for x in (allowed, member_months, risk, score)))
    def full(x):
        return np.broadcast_to(arr(x), shape).copy()
    return SegmentExperience(full(member_months), full(allowed), {attachment: full(excess)},
                             full(risk), full(score), members=members)


def settled(t: SegmentTerms, allowed, **kw) -> dict[str, np.ndarray]:
    return settle_segment(t, experience(allowed, **kw))


def gain(t: SegmentTerms, allowed, **kw) -> float:
    """Provider gain of one segment-year."""
    return float(settled(t, allowed, **kw)["provider_gain_usd"][0, 0])


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
    out = settled(t, 74_000_000.0, member_months=120_000.0, excess=1_000_000.0)
    assert out["stop_loss_recovery_usd"][0, 0] == pytest.approx(900_000, abs=1e-6)
    assert out["stop_loss_premium_usd"][0, 0] == pytest.approx(1_080_000, abs=1e-6)
    assert out["provider_gain_usd"][0, 0] == pytest.approx(-2_180_000, abs=1e-6)


def test_stop_loss_premium_is_trended_after_year_1():
    # premium 10 PMPM in year 1, +5% then +10%: 10, 10.50, 11.55 PMPM x 12,000 member-months
    t = terms(stop_loss=dict(attachment_usd=250_000, premium_pmpm=10.0, premium_trend_pct=[0, 5, 10]))
    out = settled(t, [[7_000_000.0] * 3], member_months=[[12_000.0] * 3])
    np.testing.assert_allclose(out["stop_loss_premium_usd"][0], [120_000, 126_000, 138_600])


def test_priced_stop_loss_premium_is_the_expected_recovery_with_its_loading():
    # two trials; 10% coinsurance; excess above 250,000 of 1,000,000 and 0 in year 1
    # (recoveries 900,000 and 0: mean 450,000), 2,000,000 and 1,000,000 in year 2 (mean
    # 1,350,000); member-months 12,000 and 11,000 (mean 11,500) in both years.
    # Expected recovery PMPM: 450,000 / 11,500 = 39.1304 and 1,350,000 / 11,500 = 117.3913;
    # loading 20%: premium PMPM 46.9565 and 140.8696; trial 2, year 2: 140.8696 x 11,000
    # = 1,549,565.2
    t = terms(stop_loss=dict(attachment_usd=250_000, coinsurance_pct=10.0, loading_pct=20.0))
    exp = experience([[7e6, 7e6], [7e6, 7e6]], member_months=[[12_000.0, 12_000.0], [11_000.0, 11_000.0]],
                     excess=[[1e6, 2e6], [0.0, 1e6]])
    out = settle_segment(t, exp)
    pmpm = 1.2 * np.array([450_000, 1_350_000]) / 11_500
    np.testing.assert_allclose(out["stop_loss_premium_usd"], [pmpm * 12_000, pmpm * 11_000])
    assert out["stop_loss_premium_usd"][1, 1] == pytest.approx(1_549_565.217, abs=0.01)
    # over the trials the premium is the expected recovery x 1.2 exactly
    assert out["stop_loss_premium_usd"].sum() == pytest.approx(1.2 * out["stop_loss_recovery_usd"].sum())


def test_a_priced_premium_excludes_a_fixed_one():
    with pytest.raises(ValueError, match="loading_pct"):
        terms(stop_loss=dict(attachment_usd=250_000, premium_pmpm=9.0, loading_pct=20.0))


MSSP_EXAMPLES = [
    # (members, benchmark, actual, terms, provider result) -- worked examples of the
    # domain notes, from 42 CFR 425.604/605/610.
    # 1. BASIC Level A, MSR 2.5%: savings 3.75% >= 2.5%, 40% of 9,000,000 = 3,600,000
    (20_000, 240e6, 231e6, dict(surplus_share_pct=40.0, deficit_share_pct=0.0,
                                min_savings_rate_pct=2.5, gain_cap_pct=10.0), 3_600_000),
    # 2. BASIC Level A, MSR 3.0%: savings 2.5% < 3.0% -> 0
    (10_000, 120e6, 117e6, dict(surplus_share_pct=40.0, deficit_share_pct=0.0,
                                min_savings_rate_pct=3.0, gain_cap_pct=10.0), 0),
    # 3. BASIC Level C: 50% of 150,000,000 = 75,000,000 > cap 10% of 600,000,000
    (60_000, 600e6, 450e6, dict(surplus_share_pct=50.0, deficit_share_pct=30.0,
                                min_savings_rate_pct=2.0, gain_cap_pct=10.0), 60_000_000),
    # 4. ENHANCED, MLR 2%: losses 6.06% >= 2%; loss rate 1 - 75% floored at 40% -> 8,000,000 owed
    (30_000, 330e6, 350e6, dict(surplus_share_pct=75.0, deficit_share_pct=40.0,
                                min_savings_rate_pct=2.0, min_loss_rate_pct=2.0, gain_cap_pct=20.0,
                                loss_cap_pct=15.0), -8_000_000),
    # 5. BASIC Level E, MLR 1%, revenue 60,000,000: 30% x 17,500,000 = 5,250,000 >
    #    cap min(8% x 60,000,000, 4% x 157,500,000) = min(4,800,000, 6,300,000) -> 4,800,000 owed
    (15_000, 157.5e6, 175e6, dict(surplus_share_pct=50.0, deficit_share_pct=30.0,
                                  min_savings_rate_pct=1.0, min_loss_rate_pct=1.0,
                                  loss_cap_pct=4.0, loss_cap_revenue_pct=8.0,
                                  revenue_pmpm=60e6 / 180_000), -4_800_000),
]


@pytest.mark.parametrize("members, benchmark, actual, kw, expected", MSSP_EXAMPLES,
                         ids=[f"example_{i + 1}" for i in range(len(MSSP_EXAMPLES))])
def test_mssp_worked_examples_to_the_dollar(members, benchmark, actual, kw, expected):
    mm = members * 12.0
    t = terms(budget_pmpm=benchmark / mm, **kw)
    assert gain(t, actual, member_months=mm) == pytest.approx(expected, abs=0.01)


GLOBAL = dict(surplus_corridors=[dict(up_to_pct=25, share_pct=100), dict(up_to_pct=35, share_pct=50),
                                 dict(up_to_pct=50, share_pct=25), dict(share_pct=10)])
GLOBAL["deficit_corridors"] = GLOBAL["surplus_corridors"]
PROFESSIONAL = dict(surplus_corridors=[dict(up_to_pct=5, share_pct=50), dict(up_to_pct=10, share_pct=35),
                                       dict(up_to_pct=15, share_pct=15), dict(share_pct=5)])
PROFESSIONAL["deficit_corridors"] = PROFESSIONAL["surplus_corridors"]

REACH_EXAMPLES = [
    # 6. Global, savings 30%: 25,000,000 + 50% x 5,000,000 = 27,500,000
    (70e6, GLOBAL, 27_500_000),
    # 7. Global, losses 40%: 25,000,000 + 50% x 10,000,000 + 25% x 5,000,000 = 31,250,000 owed
    (140e6, GLOBAL, -31_250_000),
    # 9. Professional, savings 12%: 50% x 5M + 35% x 5M + 15% x 2M = 4,550,000
    (88e6, PROFESSIONAL, 4_550_000),
    # 10. Global with the PY2025 3.5% discount: benchmark 96,500,000, spending 98,000,000,
    #     1,500,000 over, first corridor at 100% -> 1,500,000 owed
    (98e6, dict(GLOBAL, discount_pct=3.5), -1_500_000),
]


@pytest.mark.parametrize("actual, kw, expected", REACH_EXAMPLES, ids=["6", "7", "9", "10"])
def test_aco_reach_worked_examples_to_the_dollar(actual, kw, expected):
    t = terms(budget_pmpm=100e6 / 120_000, **kw)
    assert gain(t, actual, member_months=120_000.0) == pytest.approx(expected, abs=0.01)


def test_budget_is_trended_from_the_base_year():
    t = terms(budget_trend_pct=[3.0, 5.0])
    np.testing.assert_allclose(t.budget_pmpm_by_year(2), [600 * 1.03, 600 * 1.03 * 1.05])


def test_present_value_discounts_from_the_payment_date():
    # paid 6 months after each year end, 3% a year: 1.03^-1.5, 1.03^-2.5
    np.testing.assert_allclose(present_value_factors(2, 3.0, 6), [1.03**-1.5, 1.03**-2.5])


def test_variants_are_settled_on_the_same_experience():
    dims = ("trial", "year", "segment")
    exp = xr.Dataset(
        {"member_months": (dims, np.full((2, 1, 1), 12_000.0)),
         "risk_score_member_months": (dims, np.full((2, 1, 1), 12_000.0)),
         "quality_score_pct": (dims, np.full((2, 1, 1), np.nan)),
         "allowed_usd": (dims, np.array([[[6_900_000.0]], [[7_500_000.0]]])),
         "excess_usd": (dims + ("attachment",), np.zeros((2, 1, 1, 0)))},
        coords={"trial": [0, 1], "year": [2019], "segment": ["ppo"], "attachment": np.zeros(0)})
    full = Contract(payment_lag_months=0, segments={"ppo": terms()})
    half = Contract(payment_lag_months=0, segments={"ppo": terms(surplus_share_pct=50.0,
                                                                   deficit_share_pct=50.0)})
    ds = settle(exp, {"base": full, "half": half}, discount_rate_pct=0.0)
    g = ds["provider_gain_usd"].sel(year=2019, segment="ppo")
    np.testing.assert_allclose(g.sel(variant="base"), [300_000, -300_000])
    np.testing.assert_allclose(g.sel(variant="half"), [150_000, -150_000])
    np.testing.assert_allclose(ds["pv_gain_usd"].sel(segment="ppo"), g)


# -- budget construction ---------------------------------------------------------------

def test_risk_adjusted_budget_follows_the_risk_score():
    # score 1.02: budget 600 x 1.02 x 12,000 = 7,344,000; cost 7,200,000 -> +144,000
    t = terms(risk_adjustment=dict())
    assert gain(t, 7_200_000.0, risk=1.02) == pytest.approx(144_000, abs=1e-6)


def test_risk_score_growth_is_capped():
    # score 1.08 capped at +3%: budget 600 x 1.03 x 12,000 = 7,416,000; cost 7,776,000 -> -360,000
    t = terms(risk_adjustment=dict(growth_cap_pct=3.0))
    out = settled(t, 7_776_000.0, risk=1.08)
    assert out["risk_score"][0, 0] == pytest.approx(1.03)
    assert out["provider_gain_usd"][0, 0] == pytest.approx(-360_000, abs=1e-6)


def test_rebasing_year_resets_the_budget_toward_experience():
    # year 1: 600 x 1.05 = 630 PMPM; year 1 cost 660 PMPM at score 1.0;
    # year 2 scheduled 630 x 1.05 = 661.50; rebased 50/50 with 660 x 1.05 = 693:
    # 0.5 x 693 + 0.5 x 661.5 = 677.25; year 3: 677.25 x 1.05 = 711.1125
    t = terms(budget_trend_pct=5.0, rebasing=dict(year=2, weight_pct=50.0))
    out = settled(t, [[660 * 12_000.0, 0.0, 0.0]], member_months=[[12_000.0] * 3])
    np.testing.assert_allclose(out["budget_usd"][0] / 12_000, [630.0, 677.25, 711.1125])


def test_rebasing_does_not_divide_by_the_risk_score_without_risk_adjustment():
    # not risk-adjusted: year 1 cost 660 PMPM at a score of 1.10 enters as 660 (not 600):
    # year 2 = 0.5 x 660 x 1.05 + 0.5 x 661.5 = 677.25
    t = terms(budget_trend_pct=5.0, rebasing=dict(year=2, weight_pct=50.0))
    out = settled(t, [[660 * 12_000.0, 0.0, 0.0]], member_months=[[12_000.0] * 3], risk=1.10)
    np.testing.assert_allclose(out["budget_usd"][0, 1] / 12_000, 677.25)
    # risk-adjusted (no caps): 660 / 1.10 = 600 at score 1; rebased PMPM
    # 0.5 x 600 x 1.05 + 0.5 x 661.5 = 645.75, times the year's score 1.10 = 710.325
    t = terms(budget_trend_pct=5.0, risk_adjustment=dict(), rebasing=dict(year=2, weight_pct=50.0))
    out = settled(t, [[660 * 12_000.0, 0.0, 0.0]], member_months=[[12_000.0] * 3], risk=1.10)
    np.testing.assert_allclose(out["budget_usd"][0, 1] / 12_000, 710.325)


def test_rebasing_on_several_prior_years_weights_them_trended_to_the_rebased_year():
    # MSSP-style 10/30/60 over years 1-3, rebased in year 4, 100% weight, trend 5%:
    # costs 600, 630, 700 PMPM trended to year 4: 600 x 1.05^3 = 694.575, 630 x 1.05^2 =
    # 694.575, 700 x 1.05 = 735; 0.1 x 694.575 + 0.3 x 694.575 + 0.6 x 735 = 718.83
    t = terms(budget_trend_pct=5.0, rebasing=dict(year=4, weight_pct=100.0,
                                                  prior_year_weights_pct=[10, 30, 60]))
    allowed = [[600 * 12_000.0, 630 * 12_000.0, 700 * 12_000.0, 0.0]]
    out = settled(t, allowed, member_months=[[12_000.0] * 4])
    np.testing.assert_allclose(out["budget_usd"][0, 3] / 12_000, 718.83)


def test_rebasing_weights_must_sum_to_100_and_fit_the_term():
    with pytest.raises(ValueError, match="prior_year_weights_pct: must sum to 100"):
        terms(rebasing=dict(year=4, weight_pct=50.0, prior_year_weights_pct=[10, 30]))
    contract = Contract(segments={"ppo": terms(rebasing=dict(year=3, weight_pct=50.0,
                                                             prior_year_weights_pct=[10, 30, 60]))})
    with pytest.raises(ValueError, match="rebasing.prior_year_weights_pct"):
        contract.check_against(["ppo"], 5, "base")


def test_budget_trend_adjustment_adds_to_every_year():
    t = terms(budget_trend_pct=3.0, budget_trend_adjustment_pct=-1.0)
    np.testing.assert_allclose(t.budget_pmpm_by_year(2), [600 * 1.02, 600 * 1.02**2])


# -- stop-loss ---------------------------------------------------------------------------

def test_aggregate_stop_loss_covers_cost_above_its_attachment():
    # budget 7,200,000; cost 9,000,000; attachment 115% = 8,280,000; 10% coinsurance:
    # recovery 0.9 x 720,000 = 648,000; premium 2 x 12,000 = 24,000;
    # actual 9,000,000 - 648,000 + 24,000 = 8,376,000 -> -1,176,000
    t = terms(aggregate_stop_loss=dict(attachment_pct=115.0, coinsurance_pct=10.0, premium_pmpm=2.0))
    assert gain(t, 9_000_000.0) == pytest.approx(-1_176_000, abs=1e-6)


def test_cms_minimum_savings_rate_table():
    # 42 CFR 425.604 and the tuva-health seed table below 5,000, linear within each range:
    # 300 -> 12.2 (up to 499); 500 -> 12.2; 750: 12.2 - 3.5 x 250/499 = 10.4465;
    # 2,000: 8.7 - 3.7 x 1,000/1,999 = 6.84907; 3,000 -> 5.0; 4,999 -> 3.9; 5,000 -> 3.9;
    # 10,000 -> 3.0; 20,000 -> 2.5; 35,000: 2.5 - 0.3 x 15,000/29,999; 60,000 and up -> 2.0
    n = np.array([300, 500, 750, 2_000, 3_000, 4_999, 5_000, 10_000, 20_000, 35_000, 60_000, 500_000])
    np.testing.assert_allclose(cms_min_savings_rate_pct(n),
                               [12.2, 12.2, 12.2 - 3.5 * 250 / 499, 8.7 - 3.7 * 1_000 / 1_999, 5.0,
                                3.9, 3.9, 3.0, 2.5, 2.5 - 0.3 * 15_000 / 29_999, 2.0, 2.0])


def test_msr_from_the_cms_table_uses_assigned_beneficiaries_not_member_months():
    # 12,000 member-months, but 1,500 assigned beneficiaries (persons: leavers and decedents
    # count): MSR 8.7 - 3.7 x 500/1,999 = 7.77454%; member-months / 12 = 1,000 would give 8.7%.
    # surplus 8% of 7,200,000 = 576,000 >= 7.77% -> 50% = 288,000; at 7.5% nothing.
    t = terms(min_savings_rate_pct="cms_table", surplus_share_pct=50.0)
    assert gain(t, 7_200_000 * 0.92, members=1_500.0) == pytest.approx(288_000, abs=1e-6)
    assert gain(t, 7_200_000 * 0.925, members=1_500.0) == 0.0
    # an explicit assigned_beneficiaries wins over the segment's members: 6,000 -> MSR 3.6%;
    # surplus 4% = 288,000 -> 144,000
    t = terms(min_savings_rate_pct="cms_table", surplus_share_pct=50.0, assigned_beneficiaries=6_000)
    assert gain(t, 7_200_000 * 0.96, members=1_500.0) == pytest.approx(144_000, abs=1e-6)


def test_the_msr_of_a_small_aco_worked_example():
    # README worked example: 2,500 assigned beneficiaries, benchmark 30,000,000, spending
    # 28,500,000 (savings 5.0%). MSR 8.7 - 3.7 x 1,500/1,999 = 5.9236% > 5.0% -> nothing shared;
    # with the old table (held at 3.9% below 5,000) BASIC Level A would have paid 40% x 1,500,000
    # = 600,000. At spending 28,000,000 (savings 6.67% >= 5.92%): 40% x 2,000,000 = 800,000.
    mm = 2_500 * 12.0
    t = terms(budget_pmpm=30e6 / mm, min_savings_rate_pct="cms_table", surplus_share_pct=40.0,
              deficit_share_pct=0.0, gain_cap_pct=10.0)
    assert gain(t, 28.5e6, member_months=mm, members=2_500.0) == 0.0
    assert gain(t, 28.0e6, member_months=mm, members=2_500.0) == pytest.approx(800_000, abs=0.01)


# -- quality ------------------------------------------------------------------------------

def test_surplus_is_not_shared_below_the_quality_gate_but_deficit_is():
    t = terms(quality=dict(gate_pct=70.0))
    assert gain(t, 6_900_000.0, score=69.9) == 0.0
    assert gain(t, 6_900_000.0, score=70.0) == pytest.approx(300_000, abs=1e-6)
    assert gain(t, 7_500_000.0, score=10.0) == pytest.approx(-300_000, abs=1e-6)


def test_sliding_scale_multiplies_the_surplus_share_by_the_score_below_the_standard():
    # below the standard of 85: 50% x 0.8 x 300,000 = 120,000; at or above: 50% x 300,000
    t = terms(surplus_share_pct=50.0, quality=dict(sliding_scale_below_pct=85.0))
    assert gain(t, 6_900_000.0, score=80.0) == pytest.approx(120_000, abs=1e-6)
    assert gain(t, 6_900_000.0, score=85.0) == pytest.approx(150_000, abs=1e-6)


def test_deficit_share_follows_quality_within_bounds():
    # ENHANCED: loss rate = 1 - 75% x score; score 90: 1 - 0.675 = 32.5% -> floor 40%;
    # score 40: 1 - 0.3 = 70%; deficit 300,000
    t = terms(surplus_share_pct=75.0, quality=dict(sliding_scale_below_pct=100.0,
                                                   deficit_share_from_quality=dict()))
    assert gain(t, 7_500_000.0, score=90.0) == pytest.approx(-0.40 * 300_000, abs=1e-6)
    assert gain(t, 7_500_000.0, score=40.0) == pytest.approx(-0.70 * 300_000, abs=1e-6)


def test_enhanced_with_a_failed_quality_gate_pays_losses_at_the_cap():
    # README worked example (MSSP ENHANCED, 42 CFR 425.610): the gate (quality performance
    # standard) failed -> final sharing rate 0 -> loss rate 1 - 0 = 100%, capped at 75%.
    # Benchmark 330,000,000 (30,000 beneficiaries), spending 350,000,000, MLR 2%:
    # losses 20,000,000 = 6.06% >= 2% -> 75% x 20,000,000 = 15,000,000 owed (cap 15% of the
    # benchmark = 49,500,000 does not bind). Gate met, score 90 (no sliding scale below the
    # gate): 1 - 75% = 25% -> floor 40% -> 8,000,000 owed (worked example 4).
    mm = 30_000 * 12.0
    t = terms(budget_pmpm=330e6 / mm, surplus_share_pct=75.0, min_savings_rate_pct=2.0,
              min_loss_rate_pct=2.0, gain_cap_pct=20.0, loss_cap_pct=15.0,
              quality=dict(gate_pct=70.0, deficit_share_from_quality=dict(floor_pct=40, cap_pct=75)))
    assert gain(t, 350e6, member_months=mm, score=60.0) == pytest.approx(-15_000_000, abs=0.01)
    assert gain(t, 350e6, member_months=mm, score=90.0) == pytest.approx(-8_000_000, abs=0.01)
    # and savings with the gate failed: nothing shared (final sharing rate 0)
    assert gain(t, 310e6, member_months=mm, score=60.0) == 0.0


def test_deficit_share_follows_the_final_surplus_share_with_gate_and_sliding_scale():
    # gate 30, sliding scale below 70, share 75%: score 50 -> final share 75% x 0.5 = 37.5%,
    # loss rate 62.5%; score 20 (gate failed) -> final 0, loss rate 75% (cap); deficit 300,000
    t = terms(surplus_share_pct=75.0, quality=dict(gate_pct=30.0, sliding_scale_below_pct=70.0,
                                                   deficit_share_from_quality=dict()))
    assert gain(t, 7_500_000.0, score=50.0) == pytest.approx(-0.625 * 300_000, abs=1e-6)
    assert gain(t, 7_500_000.0, score=20.0) == pytest.approx(-0.75 * 300_000, abs=1e-6)


def test_quality_bonus_pays_the_highest_band_reached():
    # break-even cost; bonus 2% of 7,200,000 = 144,000 at a score of 85
    t = terms(quality=dict(bonus=[dict(min_score_pct=90, bonus_pct=4), dict(min_score_pct=60, bonus_pct=1),
                                  dict(min_score_pct=80, bonus_pct=2)]))
    assert gain(t, 7_200_000.0, score=85.0) == pytest.approx(144_000, abs=1e-6)
    assert gain(t, 7_200_000.0, score=50.0) == 0.0


def test_withhold_is_earned_back_linearly_between_its_scores():
    # 2% of 7,200,000 = 144,000 withheld; score 70 between 50 and 90: half earned -> -72,000
    t = terms(quality=dict(withhold_pct=2.0, withhold_zero_score_pct=50.0, withhold_full_score_pct=90.0))
    assert gain(t, 7_200_000.0, score=70.0) == pytest.approx(-72_000, abs=1e-6)
    assert gain(t, 7_200_000.0, score=95.0) == 0.0


def test_program_costs_and_fees_are_borne_by_the_provider():
    # (3 + 1.5) x 12,000 = 54,000
    t = terms(program_cost_pmpm=3.0, admin_fee_pmpm=1.5)
    assert gain(t, 7_200_000.0) == pytest.approx(-54_000, abs=1e-6)


# -- properties ---------------------------------------------------------------------------

money = st.floats(min_value=1e5, max_value=1e8, allow_nan=False)
pct = st.floats(min_value=0.0, max_value=100.0, allow_nan=False)


@given(allowed=money, budget=money, low=pct, high=pct, msr=st.floats(0, 10), cap=st.floats(0.1, 50))
@settings(max_examples=200, deadline=None)
def test_gain_is_monotone_in_the_surplus_share(allowed, budget, low, high, msr, cap):
    low, high = sorted((low, high))
    kw = dict(budget_pmpm=budget / 12_000, min_savings_rate_pct=msr, gain_cap_pct=cap)
    assert gain(terms(surplus_share_pct=low, **kw), allowed) <= gain(terms(surplus_share_pct=high, **kw),
                                                                     allowed) + 1e-6


@given(allowed=money, budget=money, share=pct, gain_cap=st.floats(0, 50), loss_cap=st.floats(0, 50),
       sharing=st.sampled_from(["first_dollar", "above_threshold"]))
@settings(max_examples=200, deadline=None)
def test_caps_are_never_exceeded(allowed, budget, share, gain_cap, loss_cap, sharing):
    t = terms(budget_pmpm=budget / 12_000, surplus_share_pct=share, deficit_share_pct=share,
              gain_cap_pct=gain_cap, loss_cap_pct=loss_cap, sharing=sharing)
    g = gain(t, allowed)
    assert -loss_cap / 100 * budget * (1 + 1e-12) <= g <= gain_cap / 100 * budget * (1 + 1e-12)


def test_a_variant_whose_extra_term_cannot_bind_gives_identical_results():
    from conftest import small_dict
    from simulator.experience.engine import simulate_experience
    from simulator.scenario import scenario_from_dict

    data = small_dict(trials=6)
    data["variants"] = {"loose_caps": {"segments": {"ppo": {"gain_cap_pct": 100.0, "loss_cap_pct": 100.0}}}}
    scenario = scenario_from_dict(data)
    ds = settle(simulate_experience(scenario), scenario.contracts(), 3.0)
    np.testing.assert_array_equal(ds["provider_gain_usd"].sel(variant="base"),
                                  ds["provider_gain_usd"].sel(variant="loose_caps"))


@given(share=pct, edge=st.floats(0.001, 0.5),
       gross=st.lists(st.floats(-1e9, 1e9), min_size=1, max_size=20))
@settings(max_examples=200, deadline=None)
def test_one_open_corridor_shares_as_the_same_share_in_two_bands(share, edge, gross):
    """Also below zero (a result short of the threshold, above-threshold sharing): nothing."""
    magnitude, budget = np.asarray(gross), np.full(len(gross), 1e8)
    one = corridor_amount(magnitude, budget, np.array([np.inf]), np.array([share / 100]))
    two = corridor_amount(magnitude, budget, np.array([edge, np.inf]), np.array([share / 100] * 2))
    np.testing.assert_allclose(one, two, rtol=1e-14, atol=1e-7)


def test_a_segment_read_from_a_dataset_settles_as_its_own_arrays():
    """SegmentExperience.from_dataset copies each array out contiguous: the settlement is the
    same, bit for bit, as on the dataset's own strided views."""
    from conftest import small_dict
    from simulator.experience.engine import simulate_experience
    from simulator.scenario import scenario_from_dict

    scenario = scenario_from_dict(small_dict(trials=6))
    exp = simulate_experience(scenario).sel(segment="ppo")
    copied = SegmentExperience.from_dataset(exp)
    assert copied.allowed_usd.flags.c_contiguous and not exp["allowed_usd"].values.flags.c_contiguous
    views = dataclasses.replace(  # the rest (measures, program costs) as copied
        copied, member_months=exp["member_months"].values, allowed_usd=exp["allowed_usd"].values,
        excess_usd={float(a): exp["excess_usd"].sel(attachment=a).values for a in exp["attachment"].values},
        risk_score=exp["risk_score_member_months"].values / exp["member_months"].values,
        quality_score_pct=exp["quality_score_pct"].values)
    ppo = scenario.contracts()["base"].segments["ppo"]
    a, b = settle_segment(ppo, copied), settle_segment(ppo, views)
    for key in ("budget_usd", "actual_cost_usd", "shared_result_usd", "provider_gain_usd"):
        np.testing.assert_array_equal(a[key], b[key])


@pytest.mark.parametrize("mapped", [False, True])
def test_settle_keeps_every_output_of_every_variant_as_settled(monkeypatch, mapped):
    """settle's outputs are settle_segment's, variant by variant and segment by segment, also
    where they are zero (not written) and in memory mapped as written (``mapped``: every
    array takes that path)."""
    from conftest import kernel_populates, small_dict
    from simulator.core import arrays
    from simulator.experience.engine import simulate_experience
    from simulator.scenario import scenario_from_dict

    if mapped:
        monkeypatch.setattr(arrays, "PLAIN_MAPPING_BYTES", 1)
        monkeypatch.setitem(arrays._populate, "works", sys.platform.startswith("linux"))
    data = small_dict(trials=180)  # a (variant, segment) part of 180 x 3 years: over a 4 kB page
    data["variants"] = {"half": {"segments": {"ppo": {"surplus_share_pct": 50.0}}},
                        "bonus": {"segments": {"hmo": {"quality": {"bonus": [
                            {"min_score_pct": 0.0, "bonus_pct": 1.0}]}}}}}
    scenario = scenario_from_dict(data)
    exp = simulate_experience(scenario)
    contracts = scenario.contracts()
    ds = settle(exp, contracts, 3.0)
    for name in exp["segment"].values:
        column = SegmentExperience.from_dataset(exp.sel(segment=name))
        for variant, contract in contracts.items():
            expected = settle_segment(contract.segments[name], column)
            for key in OUTPUTS:
                got = ds[key].sel(variant=variant, segment=name).values
                np.testing.assert_array_equal(got, expected[key], err_msg=f"{variant} {name} {key}")
    if mapped:  # its parts were backed in one call where the kernel can
        assert arrays._populate["works"] == kernel_populates()
    bonus = ds["quality_bonus_usd"].sum(("trial", "year"))
    assert bonus.sel(variant="bonus", segment="hmo") > 0 and bonus.sel(variant="base", segment="hmo") == 0

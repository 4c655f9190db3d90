"""Historical benchmark, ratchet, rising quality gate, REACH coding intensity factor and HEBA,
on hand-built experience (amounts computed by hand in the comments)."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from simulator.settlement.contract import SegmentTerms
from simulator.settlement.rules import SegmentExperience, settle_segment


def terms(**kw) -> SegmentTerms:
    return SegmentTerms.model_validate(dict(budget_pmpm=1100.0, budget_trend_pct=3.0,
                                            surplus_share_pct=100.0, deficit_share_pct=100.0) | kw)


def experience(base_pmpm, term_pmpm, base_score=1.0, term_score=1.0, score_pct=float("nan"),
               mm=12_000.0) -> SegmentExperience:
    """One trial: base years and term years given as cost per member-month."""
    def row(x, n):
        return np.broadcast_to(np.atleast_1d(np.asarray(x, float)), (n,))[None, :].copy()
    b, y = len(base_pmpm), len(term_pmpm)
    return SegmentExperience(row(mm, y), row(term_pmpm, y) * mm, {250_000.0: row(0.0, y)},
                             row(term_score, y), row(score_pct, y), base_member_months=row(mm, b),
                             base_allowed_usd=row(base_pmpm, b) * mm, base_risk_score=row(base_score, b))


HISTORY = dict(historical_benchmark={"base_year_weights_pct": [10, 30, 60]})


def test_historical_benchmark_is_the_weighted_base_years_trended_to_the_cent():
    # Base years at $1,000, $1,100, $1,200 PMPM, weights 10/30/60, budget trend 3%, the last
    # base year being the year before year 1. Year 1:
    #   0.1 x 1,000 x 1.03^3 + 0.3 x 1,100 x 1.03^2 + 0.6 x 1,200 x 1.03
    #   = 109.2727 + 350.097 + 741.6 = 1,200.9697 PMPM; x 12,000 = $14,411,636.40
    # Year 2: x 1.03 = 1,236.998791 PMPM; x 12,000 = $14,843,985.49
    out = settle_segment(terms(**HISTORY), experience([1000, 1100, 1200], [1150, 1150]))
    assert out["budget_usd"][0, 0] == pytest.approx(14_411_636.40, abs=0.005)
    assert out["budget_usd"][0, 1] == pytest.approx(14_843_985.49, abs=0.005)


def test_risk_adjusted_history_is_restated_at_score_one_and_the_growth_capped():
    # Base scores 0.95, 1.00, 1.05: at score 1 the weighted base years trended to year 1 are
    #   0.1 x 1,000 / 0.95 x 1.03^3 + 0.3 x 1,100 x 1.03^2 + 0.6 x 1,200 / 1.05 x 1.03
    #   = 115.023895 + 350.097 + 706.285714 = 1,171.406609 PMPM.
    # Year-1 score 1.10 against the reference (last base) year's 1.05: growth 4.76%, capped
    # at 3%: factor 1.05 x 1.03 = 1.0815. Budget 1,171.406609 x 1.0815 x 12,000 = $15,202,514.98.
    t = terms(risk_adjustment={"growth_cap_pct": 3}, **HISTORY)
    out = settle_segment(t, experience([1000, 1100, 1200], [1150], [0.95, 1.0, 1.05], 1.10))
    at_one = 0.1 * 1000 / 0.95 * 1.03**3 + 0.3 * 1100 * 1.03**2 + 0.6 * 1200 / 1.05 * 1.03
    assert at_one == pytest.approx(1171.406609, abs=1e-6)
    assert out["risk_score"][0, 0] == pytest.approx(1.0815, abs=1e-12)
    assert out["budget_usd"][0, 0] == pytest.approx(at_one * 1.0815 * 12_000, abs=0.005)
    assert out["budget_usd"][0, 0] == pytest.approx(15_202_514.98, abs=0.01)


def test_ratchet_savings_lower_the_next_agreement_periods_budget():
    # Trend 0, agreement periods of 2 years over a 4-year term. Period 1 (years 1-2):
    # 0.1 x 1,000 + 0.3 x 1,100 + 0.6 x 1,200 = 1,150 PMPM. Period 2 is rebased on the last
    # base year and years 1-2. Without savings (cost 1,150): 0.1 x 1,200 + 0.9 x 1,150 = 1,155.
    # With 5% savings (cost 1,092.50): 120 + 0.9 x 1,092.50 = 1,103.25: the provider's savings
    # lower its own later budget by 0.9 x 57.50 = 51.75 PMPM (the ratchet).
    t = terms(budget_trend_pct=0.0, historical_benchmark={"base_year_weights_pct": [10, 30, 60],
                                                          "agreement_years": 2})
    flat = settle_segment(t, experience([1000, 1100, 1200], [1150, 1150, 1150, 1150]))
    saved = settle_segment(t, experience([1000, 1100, 1200], [1092.5, 1092.5, 1150, 1150]))
    np.testing.assert_allclose(flat["budget_usd"][0] / 12_000, [1150, 1150, 1155, 1155], atol=1e-9)
    np.testing.assert_allclose(saved["budget_usd"][0] / 12_000, [1150, 1150, 1103.25, 1103.25], atol=1e-9)


def test_regional_blend_uses_the_scheduled_budget():
    # 65% history (1,200.9697 in year 1, as above) + 35% the schedule 1,100 x 1.03 = 1,133:
    # 780.630305 + 396.55 = 1,177.180305 PMPM
    t = terms(historical_benchmark={"base_year_weights_pct": [10, 30, 60], "regional_weight_pct": 35})
    out = settle_segment(t, experience([1000, 1100, 1200], [1150]))
    assert out["budget_usd"][0, 0] / 12_000 == pytest.approx(1177.180305, abs=1e-9)


def test_a_historical_benchmark_needs_enough_simulated_base_years():
    with pytest.raises(ValueError, match="3 base years weighted but the run simulated 2"):
        settle_segment(terms(**HISTORY), experience([1100, 1200], [1150]))
    no_history = SegmentExperience(np.full((1, 1), 12_000.0), np.full((1, 1), 1e7), {}, np.ones((1, 1)),
                                   np.full((1, 1), np.nan))
    with pytest.raises(ValueError, match="term.base_years"):
        settle_segment(terms(**HISTORY), no_history)


def test_historical_benchmark_terms_are_checked():
    with pytest.raises(ValidationError, match="must sum to 100"):
        terms(historical_benchmark={"base_year_weights_pct": [10, 30, 50]})
    with pytest.raises(ValidationError, match="either rebasing or historical_benchmark"):
        terms(rebasing={"year": 2, "weight_pct": 50}, **HISTORY)


def test_quality_gate_can_rise_year_by_year():
    # Gate 30, 40, 50 in years 1-3; score 45 each year; surplus 1,100 - 1,000 = 100 PMPM =
    # $1,200,000 at full share, paid in years 1-2 and not in year 3 (45 < 50).
    t = SegmentTerms.model_validate(dict(budget_pmpm=1100.0, budget_trend_pct=0.0, surplus_share_pct=100.0,
                                         deficit_share_pct=100.0, quality={"gate_pct": [30, 40, 50]}))
    exp = experience([1100], [1000, 1000, 1000], score_pct=45.0)
    np.testing.assert_allclose(settle_segment(t, exp)["shared_result_usd"][0], [1.2e6, 1.2e6, 0.0])


def test_coding_intensity_factor_cuts_the_score_before_the_cap():
    # Score 1.05 less a 1% factor = 1.0395, capped at 1.03; score 1.02 less 1% = 1.0098 (within
    # the cap); score 0.96 less 1% = 0.9504, floored at 0.97.
    t = terms(budget_trend_pct=0.0, risk_adjustment={"growth_cap_pct": 3, "decline_floor_pct": 3,
                                                     "coding_intensity_factor_pct": 1.0})
    exp = SegmentExperience(np.full((1, 3), 12_000.0), np.full((1, 3), 1e7), {}, np.array([[1.05, 1.02, 0.96]]),
                            np.full((1, 3), np.nan))
    np.testing.assert_allclose(settle_segment(t, exp)["risk_score"][0], [1.03, 1.0098, 0.97], atol=1e-12)


def test_heba_arithmetic():
    # 20% of beneficiaries in the top ADI/dual decile (+$30), 40% in the bottom half (-$6):
    # 0.2 x 30 - 0.4 x 6 = 6.00 - 2.40 = +$3.60 PMPM. Budget 1,100 x 12,000 = 13,200,000 less
    # the 3.5% discount = 12,738,000, plus 3.60 x 12,000 = 43,200: $12,781,200.
    t = terms(budget_trend_pct=0.0, discount_pct=3.5,
              heba={"top_decile_share_pct": 20, "bottom_half_share_pct": 40})
    assert t.heba.pmpm == pytest.approx(3.60, abs=1e-12)
    exp = SegmentExperience(np.full((1, 1), 12_000.0), np.full((1, 1), 1e7), {}, np.ones((1, 1)),
                            np.full((1, 1), np.nan))
    assert settle_segment(t, exp)["budget_usd"][0, 0] == pytest.approx(12_781_200.0, abs=0.005)
    # the default shares are the population's own deciles: 0.1 x 30 - 0.5 x 6 = 0
    assert terms(heba={}).heba.pmpm == 0.0

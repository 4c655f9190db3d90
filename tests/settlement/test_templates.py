"""The shipped contract templates exercise the settlement fixes of issue 15."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import ROOT
from simulator.scenario import load_contracts
from simulator.settlement.rules import SegmentExperience, settle_segment

CONTRACTS = ROOT / "scenarios" / "contracts"


def one_year(allowed: float, score: float, budget_usd: float = 1200.0 * 25_000 * 12) -> SegmentExperience:
    mm = np.array([[25_000 * 12.0]])
    return SegmentExperience(mm, np.array([[allowed]]), {}, np.ones((1, 1)), np.array([[score]]),
                             members=25_000.0)


def test_mssp_enhanced_template_pays_losses_at_75_percent_when_quality_fails(reference):
    terms = load_contracts(CONTRACTS / "mssp.toml", reference)["enhanced"].segments["medicare"]
    # benchmark 1,200 x 1.031 x 300,000 member-months = 371,160,000; spending 5% over:
    # loss 18,558,000 (>= MLR 2%). Gate failed (score 30 < 40): 75% -> 13,918,500 owed.
    # Score 60 (sliding scale below 70): final share 75% x 0.6 = 45% -> loss rate 55%.
    benchmark = 1200 * 1.031 * 300_000
    for score, rate in ((30.0, 0.75), (60.0, 0.55)):
        out = settle_segment(terms, one_year(1.05 * benchmark, score))
        assert out["provider_gain_usd"][0, 0] == pytest.approx(-rate * 0.05 * benchmark, rel=1e-12)


def test_mssp_base_template_looks_the_msr_up_by_the_segments_members(reference):
    terms = load_contracts(CONTRACTS / "mssp.toml", reference)["base"].segments["medicare"]
    # 25,000 members: MSR 2.5 - 0.3 x 5,000 / 29,999 = 2.45%; savings 2.4% -> 0, 2.5% -> 40%
    benchmark = 1200 * 1.031 * 300_000
    assert settle_segment(terms, one_year(0.976 * benchmark, 80.0))["provider_gain_usd"][0, 0] == 0.0
    got = settle_segment(terms, one_year(0.975 * benchmark, 80.0))["provider_gain_usd"][0, 0]
    assert got == pytest.approx(0.4 * 0.025 * benchmark, rel=1e-12)


def test_aqc_template_prices_its_stop_loss_and_rebases_on_three_weighted_years(reference):
    contracts = load_contracts(CONTRACTS / "aqc_global_budget.toml", reference)
    assert contracts["base"].segments["ppo"].stop_loss.loading_pct == 20
    for terms in contracts["rebased_year_4"].segments.values():
        assert terms.rebasing.prior_year_weights_pct == [10, 30, 60] and terms.risk_adjustment is not None


def test_reference_ppo_stop_loss_premium_is_priced(reference):
    sl = reference.contract.segments["ppo"].stop_loss
    assert sl.loading_pct == 20 and sl.premium_pmpm == 0

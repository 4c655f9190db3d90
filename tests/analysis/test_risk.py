"""Risk measures against closed forms, and their standard errors against replication."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from simulator.analysis.risk import risk_measures

MU, SIGMA = 1.0e6, 4.0e6  # gain ~ Normal(mu, sigma): loss = -gain ~ Normal(-mu, sigma)


def normal_truth() -> dict[str, float]:
    truth = {"mean": MU, "sd": SIGMA, "p_loss": stats.norm.cdf(0, MU, SIGMA)}
    for pct in (1, 5, 50, 95, 99, 99.5):
        truth[f"p{pct:g}".replace(".", "_")] = stats.norm.ppf(pct / 100, MU, SIGMA)
    for level in (95, 99.5):
        a = level / 100
        z = stats.norm.ppf(a)
        label = f"{level:g}".replace(".", "_")
        truth[f"var_{label}"] = -MU + SIGMA * z
        truth[f"tvar_{label}"] = -MU + SIGMA * stats.norm.pdf(z) / (1 - a)
    return truth


def test_every_measure_is_within_four_standard_errors_of_the_normal_closed_form():
    gain = np.random.default_rng(11).normal(MU, SIGMA, 20_000)
    got = risk_measures(gain)
    for name, true in normal_truth().items():
        value, se = got[name]
        assert se > 0, name
        assert abs(value - true) < 4 * se, (name, value, true, se)


def test_lognormal_tail_measures_match_closed_form():
    # loss ~ lognormal(0, 1) (gain = -loss): TVaR_a = e^{1/2} Phi(1 - z_a) / (1 - a)
    loss = np.random.default_rng(5).lognormal(0.0, 1.0, 50_000)
    got = risk_measures(-loss)
    for level in (95.0, 99.5):
        a = level / 100
        z = stats.norm.ppf(a)
        label = f"{level:g}".replace(".", "_")
        var_true = np.exp(z)
        tvar_true = np.exp(0.5) * stats.norm.cdf(1 - z) / (1 - a)
        value, se = got[f"var_{label}"]
        assert abs(value - var_true) < 4 * se
        value, se = got[f"tvar_{label}"]
        assert abs(value - tvar_true) < 4 * se


@pytest.mark.parametrize("name", ["mean", "sd", "p_loss", "p5", "p99", "var_95", "tvar_95"])
def test_standard_errors_agree_with_the_spread_over_replications(name):
    rng = np.random.default_rng(3)
    reps = [risk_measures(rng.normal(MU, SIGMA, 2_000))[name] for _ in range(300)]
    values, ses = np.array([r[0] for r in reps]), np.array([r[1] for r in reps])
    ratio = values.std(ddof=1) / ses.mean()
    # with 300 replications the spread's own relative error is about 1/sqrt(600) = 4%;
    # the reported SE must match the observed spread to within 20%
    assert 0.8 < ratio < 1.2, ratio


def test_chosen_levels_and_loss_exceedance_probabilities():
    gain = np.random.default_rng(2).normal(MU, SIGMA, 20_000)
    got = risk_measures(gain, percentiles=(10.0,), tail_levels=(90.0,), loss_thresholds_usd=(5e6,))
    assert set(got) == {"mean", "sd", "p_loss", "p_loss_over_5000000", "p10", "var_90", "tvar_90"}
    value, se = got["p_loss_over_5000000"]
    assert abs(value - stats.norm.cdf(-5e6, MU, SIGMA)) < 4 * se
    value, se = got["var_90"]
    assert abs(value - (-MU + SIGMA * stats.norm.ppf(0.9))) < 4 * se

"""Round trip: simulate an extract from a known cost model, calibrate, recover the model.

Tolerances: every recovered parameter is within 4 standard errors of the truth, the
standard error being the fit's own (outer product of members' scores, from the counts of
this extract), not tuned: with about 30 comparisons a |z| above 4 has a chance of about
0.2% under a correct fit (normal tails). The report's statistics of a re-simulation are
compared with the extract's the same way, with bootstrap standard errors of both.
"""

from __future__ import annotations

import numpy as np
import pytest

from simulator.calibration import latent
from simulator.calibration.checks import run_checks
from simulator.calibration.estimate import FULL_CREDIBILITY, calibrate
from simulator.calibration.members import simulate_members
from simulator.calibration.report import comparison, observed_matrix, simulated_matrix
from simulator.calibration.to_toml import calibration_toml
from simulator.experience.population import CostModel

Z_MAX = 4.0

KNOWN = CostModel(
    bands=[dict(name="low", mean_annual_usd=1500.0, cv=0.8, zero_cost_pct=20.0, death_pct=1.0),
           dict(name="mid", mean_annual_usd=12000.0, cv=0.7, death_pct=4.0),
           dict(name="high", mean_annual_usd=90000.0, cv=0.6, death_pct=15.0)],
    transition=[[0.85, 0.14, 0.01], [0.25, 0.65, 0.10], [0.05, 0.35, 0.60]],
    entrant_mix=[0.7, 0.25, 0.05])


@pytest.fixture(scope="module")
def fitted():
    extract = simulate_members(KNOWN, 5000, 4, seed=11, churn=0.10)
    extract.attrs["source"] = "simulated"
    checked = run_checks(extract, echo=lambda line: None)
    return checked, calibrate(checked, bands=3, prior=("known", KNOWN))


def _z(estimate, truth, se):
    estimate, truth, se = (np.asarray(x, float) for x in (estimate, truth, se))
    return np.where(se > 0, (estimate - truth) / np.where(se > 0, se, 1), 0.0)


def test_band_means_cvs_zero_and_death_probabilities_are_recovered(fitted):
    _, cal = fitted
    p, se = cal.params, cal.se
    truth = KNOWN.bands
    assert p.family == ["lognormal"] * 3
    checks = {"mean": _z(latent.band_means(p), [b.mean_annual_usd for b in truth], se.mean_usd),
              "cv": _z(latent.band_cvs(p), [b.cv for b in truth], se.cv),
              "zero": _z(p.zero, [b.zero_cost_pct / 100 for b in truth], se.zero),
              "death": _z(p.death, [b.death_pct / 100 for b in truth], se.death)}
    # A probability that is truly 0 lies on the boundary, where the fit's standard error
    # degenerates (EM leaves a numerically zero estimate, 1e-8, with a standard error of
    # 1e-12): there the estimate itself must be numerically zero.
    on_boundary = (np.array([b.zero_cost_pct for b in truth]) == 0) & (p.zero < 1e-6)
    checks["zero"] = np.where(on_boundary, 0.0, checks["zero"])
    for what, z in checks.items():
        assert np.all(np.abs(z) <= Z_MAX), (what, z)
    assert np.all(se.mean_usd > 0) and np.all(se.cv > 0)


def test_transition_matrix_and_entrant_mix_are_recovered(fitted):
    _, cal = fitted
    z = _z(cal.params.transition, KNOWN.transition, cal.se.transition)
    assert np.all(np.abs(z) <= Z_MAX), z
    assert np.all(np.abs(_z(cal.params.entrant, KNOWN.entrant_mix, cal.se.entrant)) <= Z_MAX)
    churn, churn_se, _ = cal.segment["churn"]
    assert abs(churn - 0.10) <= Z_MAX * churn_se
    # credibility: the reported weight is the limited-fluctuation one of each row's moves
    assert np.allclose(cal.credibility, np.minimum(1, np.sqrt(cal.row_moves / FULL_CREDIBILITY)))
    assert np.allclose(cal.transition, cal.credibility[:, None] * cal.params.transition
                       + (1 - cal.credibility[:, None]) * cal.prior_transition)


def test_calibrated_table_round_trips_through_the_toml(fitted):
    import tomllib

    _, cal = fitted
    text = calibration_toml(cal, "known_fit", "simulated")
    model = CostModel.model_validate(tomllib.loads(text)["cost_models"]["known_fit"])
    # the TOML writes means to the cent
    assert np.allclose([b.mean_annual_usd for b in model.bands], latent.band_means(cal.params),
                       rtol=0, atol=0.005 + 1e-9)
    assert np.allclose(model.transition, cal.transition, atol=2e-6)
    assert text.count("# Z = ") == 3 and "churn_pct = " in text


def test_statistics_of_a_resimulation_match_the_extract(fitted):
    import tomllib

    _, cal = fitted
    text = calibration_toml(cal, "known_fit", "simulated")
    model = CostModel.model_validate(tomllib.loads(text)["cost_models"]["known_fit"])
    table = comparison(observed_matrix(cal), simulated_matrix(model, cal, seed=3), seed=5)
    assert len(table) == 8 and table.notna().all().all()
    assert np.all(np.abs(table.z) <= Z_MAX), table

"""Where the risk comes from: the decomposition by source adds up, and means what it says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simulator.analysis.risk import risk_measures
from simulator.analysis.sources import (configurations, format_sources, risk_sources, sources_from_summary,
                                        summary_rows)
from simulator.experience.engine import simulate_experience
from simulator.scenario import load_scenario
from simulator.settlement.rules import settle

MSSP = Path(__file__).resolve().parents[2] / "scenarios" / "mssp_aco.toml"
REFERENCE = Path(__file__).resolve().parents[2] / "scenarios" / "reference_global_budget.toml"


@pytest.fixture(scope="module")
def mssp():
    return load_scenario(MSSP)


@pytest.fixture(scope="module")
def table(mssp):
    return risk_sources(mssp, 1000)  # gains are heavy-tailed (kurtosis ~ 10): a variance needs trials


def test_configurations_switch_sources_on_in_order():
    ref = load_scenario(REFERENCE)
    configs = configurations(ref)
    assert [name for name, _ in configs] == ["member_noise", "trend_shocks", "pricing", "program_effect"]
    alone = configs[0][1]
    assert all(s.trend_shock_sd_pct == 0 for s in alone.segments.values())
    assert all(st.effect_sd_pct == 0 for st in alone.program.strata.values())
    assert configs[-1][1] is ref


def test_decomposition_sums_to_the_total_variance(mssp, table):
    """The parts add up to the variance of an independent run (member engine, other seed)
    within three standard errors of the difference."""
    total, total_se = table.attrs["total_variance"]
    assert table.variance_usd2.sum() == pytest.approx(total)
    assert table.variance_share.sum() == pytest.approx(1.0)
    sc = mssp.with_run(trials=2000, engine="member", seed=99, trials_per_block=250)
    gains = settle(simulate_experience(sc), {"base": sc.contract}, 3.0, outputs=("provider_gain_usd",)
                   ).provider_gain_usd.sel(variant="base").sum(["year", "segment"]).values
    sd, sd_se = risk_measures(gains)["sd"]
    var, var_se = sd**2, 2 * sd * sd_se
    assert abs(total - var) < 3 * np.hypot(total_se, var_se)


def test_pricing_dominates_the_mssp_aco_and_member_noise_a_small_contract(mssp, table):
    shares = dict(zip(table.source, table.variance_share))
    assert list(table.source) == ["member_noise", "trend_shocks", "pricing", "quality"]
    assert shares["pricing"] > 0.5
    # with pricing error off and savings shared from the first dollar (at 2,000 beneficiaries
    # the CMS table's MSR of about 6.9% leaves almost nothing to share), member noise is
    # most of the risk of a small ACO (the parts' errors are a few points: the cohort engine's
    # configurations share streams but not every draw)
    small = mssp.with_changes({"segments": {"medicare": {"members": 2000, "pricing": None}},
                               "contract": {"segments": {"medicare": {"min_savings_rate_pct": 0.0}}}})
    small_table = risk_sources(small, 1000)
    small_shares = dict(zip(small_table.source, small_table.variance_share))
    assert small_shares["member_noise"] - 3 * small_table.variance_share_se[0] > 0.5


def test_rows_round_trip_through_the_summary(table):
    rows = summary_rows(table)
    assert set(rows.columns) == {"variant", "segment", "horizon", "measure", "value", "mc_se"}
    back = sources_from_summary(rows)
    assert np.allclose(back.variance_share, table.variance_share)
    assert np.allclose(back.tvar_95_share_se, table.tvar_95_share_se)
    text = format_sources(rows)
    assert "pricing error" in text and "member noise" in text


def test_run_prints_and_stores_the_sources(tmp_path, capsys):
    from conftest import small_dict, write_toml
    from simulator.cli import main
    import pandas as pd

    source = write_toml(tmp_path / "small.toml", small_dict(trials=40, trials_per_block=20))
    assert main(["run", str(source), "--out", str(tmp_path / "a"), "--jobs", "1", "--engine", "cohort"]) == 0
    assert "Where the risk comes from" in capsys.readouterr().out
    summary = pd.read_csv(tmp_path / "a" / "summary.csv")
    shares = summary[summary.measure.str.startswith("variance_share_")]
    assert len(shares) >= 2 and shares.value.sum() == pytest.approx(1.0)
    assert list(summary.columns) == ["variant", "segment", "horizon", "measure", "value", "mc_se"]
    # the run takes its configuration with every source on from its own paths (blocks of 20):
    # the same figures (to the 6 digits summary.csv keeps) as simulating it afresh
    alone = summary_rows(risk_sources(load_scenario(source).with_run(engine="cohort"), 40))
    ran = summary[summary.measure.isin(alone.measure)].reset_index(drop=True)
    assert list(ran.measure) == list(alone.measure)
    assert np.allclose(ran[["value", "mc_se"]], alone[["value", "mc_se"]], rtol=1e-5, atol=0)
    assert main(["run", str(source), "--out", str(tmp_path / "b"), "--quiet", "--jobs", "1",
                 "--engine", "cohort", "--sources-trials", "0"]) == 0
    plain = pd.read_csv(tmp_path / "b" / "summary.csv")
    assert not plain.measure.str.startswith("variance_share_").any()
    # the run itself is the same with or without the decomposition
    pd.testing.assert_frame_equal(plain, summary[~summary.measure.str.contains("share_|sources_total")]
                                  .reset_index(drop=True))


def test_report_section_shows_every_source(table):
    from simulator.analysis.report import risk_sources_section

    page = risk_sources_section(summary_rows(table))
    assert page.startswith("<h2>Where the risk comes from</h2>")
    assert all(s.replace("_", " ") in page for s in table.source)
    assert risk_sources_section(summary_rows(table).iloc[0:0]) == ""


COST_VARIABLES = ("allowed_usd", "excess_usd", "claimants", "base_allowed_usd")


@pytest.mark.parametrize("path, jobs", [(REFERENCE, 2), ("scenarios/equity/boston_aco.toml", 1)])
def test_configurations_simulated_together_have_each_its_own_runs_distribution(path, jobs):
    """The decomposition simulates its configurations' members and claims once. Counts, months,
    quality and everything but the costs are exactly what a cohort-engine run of each
    configuration alone gives (base years and a program in the reference; quality measures
    and groups in the equity scenario); the costs, drawn once and scaled by each
    configuration's levels, differ from the run's own draws only by claim noise: the mean of
    their paired differences is zero within four of its standard errors."""
    from simulator.experience.engine import simulate_configurations

    root = Path(__file__).resolve().parents[2]
    scenario = load_scenario(root / path).with_run(trials=200, engine="cohort")
    runs = [sc for _, sc in configurations(scenario)]
    assert len(runs) >= 2
    together = simulate_configurations(runs, jobs)
    for sc, experience in zip(runs, together):
        alone = simulate_experience(sc, jobs=1)
        for name in set(alone.data_vars) - set(COST_VARIABLES):
            np.testing.assert_array_equal(experience[name].values, alone[name].values, err_msg=name)
        for name in set(COST_VARIABLES) & set(alone.data_vars):
            d = (experience[name] - alone[name]).sum([y for y in ("year", "base_year") if y in alone[name].dims])
            d = d.values.reshape(200, -1)
            se = d.std(axis=0, ddof=1) / np.sqrt(200)
            assert np.all(np.abs(d.mean(axis=0)) <= 4 * se), name


def test_one_configuration_simulated_together_is_its_run_bit_for_bit():
    from simulator.experience.engine import simulate_configurations

    scenario = load_scenario(REFERENCE).with_run(trials=100, engine="cohort")
    (together,) = simulate_configurations([scenario])
    alone = simulate_experience(scenario)
    for name in alone.data_vars:
        np.testing.assert_array_equal(together[name].values, alone[name].values, err_msg=name)


def test_configurations_that_move_the_counts_are_refused():
    from simulator.experience.cohort_engine import same_counts

    ref = load_scenario(REFERENCE)
    other = ref.with_changes({"segments": {"ppo": {"members": 30000}}})
    with pytest.raises(ValueError, match="one at a time"):
        same_counts(ref, other)

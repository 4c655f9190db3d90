"""Estimate pricing and trend uncertainty from the MSSP's real results, and check the model.

    .venv/bin/python scripts/calibrate_mssp_uncertainty.py [--trials 2000]

Prints the parts of the savings rate's variance (simulator/calibration/mssp.py says how each
is estimated) with their standard errors and the data points they rest on, then the model's
savings-rate standard deviation by size band (scenarios/mssp_aco.toml, cohort engine, one
performance year) beside the data's. The estimates are the [segments.medicare.pricing] and
trend-shock values of scenarios/mssp_aco.toml.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from simulator.calibration.mssp import (data_band_sd, estimate_components, load_mssp, member_noise,
                                        model_band_sd)
from simulator.experience.costs import CostTables
from simulator.scenario import load_scenario

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "mssp_aco.toml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2000)
    args = parser.parse_args()
    scenario = load_scenario(SCENARIO)
    seg = scenario.segments["medicare"]
    noise = member_noise(CostTables.from_model(scenario.cost_models[seg.cost_model]), seg.churn_pct / 100)
    frame = load_mssp()
    est = estimate_components(frame, noise)
    print(f"MSSP PY2013-2021: {est.aco_years} ACO-years of {est.acos} ACOs, {est.pairs} pairs of an "
          f"ACO's years 1-4 apart, {est.years} years")
    print(f"member noise (cost model): CV {noise.cv:.2f} of a member-year's cost; correlation of a "
          f"population's mean cost 1-4 years apart {', '.join(f'{r:.2f}' for r in noise.lag_correlation)}")
    print("pricing error, standard deviations in percent (standard error):")
    for field in ("level_sd_pct", "yearly_sd_pct", "practice_level_sd_pct", "practice_yearly_sd_pct"):
        print(f"  {field:<24} {getattr(est, field)}")
    print(f"year-level: SD of the yearly mean savings rate about its linear path {est.year_sd_pct} "
          f"points ({est.years} years)")
    table = data_band_sd(frame).merge(model_band_sd(scenario, "medicare", args.trials))
    table["ratio"] = table.model_sd_pct / table.data_sd_pct
    print(f"\nsavings-rate SD by size band, percent (standard error); model: {args.trials} trials")
    print(table.to_string(index=False, float_format=lambda x: f"{x:.2f}"))


if __name__ == "__main__":
    main()

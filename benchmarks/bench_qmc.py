"""Variance reduction of scrambled Sobol sampling of the trial-level drivers.

    .venv/bin/python benchmarks/bench_qmc.py [--replicates 16] [--points 128] [--scenario FILE]

Runs the scenario (cohort engine) with pseudo-random and with Sobol sampling of the trend
and pricing drivers, the same number of trials, and compares the standard error of the
expected total gain over the term: pseudo-random by the usual sd / sqrt(n), Sobol from its
independent replicates' means. The ratio of the variances is the variance reduction factor;
its uncertainty comes from the replicates (F distribution with R - 1 degrees of freedom).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
from scipy import stats

from simulator.analysis.risk import replicate_mean_se
from simulator.experience.engine import simulate_experience
from simulator.scenario import load_scenario
from simulator.settlement.rules import settle

REFERENCE = Path(__file__).resolve().parents[1] / "scenarios" / "reference_global_budget.toml"


def term_gains(scenario) -> np.ndarray:
    settled = settle(simulate_experience(scenario, jobs=1), {"base": scenario.contract},
                     scenario.valuation.discount_rate_pct, outputs=("provider_gain_usd",))
    return settled.provider_gain_usd.sel(variant="base").sum(["year", "segment"]).values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=16)
    parser.add_argument("--points", type=int, default=128)
    parser.add_argument("--scenario", type=Path, default=REFERENCE)
    args = parser.parse_args()
    n = args.replicates * args.points
    base = load_scenario(args.scenario).with_run(trials=n, engine="cohort", trials_per_block=args.points)
    plain = term_gains(base)
    sobol = term_gains(base.with_changes({"systemic": {"sampling": "sobol", "sobol_points": args.points}})
                       .with_run(trials=n, engine="cohort", trials_per_block=args.points))
    se_plain = plain.std(ddof=1) / math.sqrt(n)
    se_sobol = float(replicate_mean_se(sobol[:, None], args.points)[0])
    ratio = (se_plain / se_sobol) ** 2
    # true ratio = estimate x (s_sobol^2 / var_sobol) / (s_random^2 / var_random) ~ estimate x F(R-1, n-1)
    lo, hi = (ratio * stats.f.ppf(q, args.replicates - 1, n - 1) for q in (0.025, 0.975))
    print(f"{args.scenario.name}: {n} trials ({args.replicates} replicates of {args.points})")
    print(f"mean total gain over the term: random {plain.mean() / 1e6:,.2f} (se {se_plain / 1e6:.2f}) $M, "
          f"sobol {sobol.mean() / 1e6:,.2f} (se {se_sobol / 1e6:.2f}) $M")
    print(f"variance reduction factor of the mean: {ratio:.1f} (95% interval {lo:.1f} to {hi:.1f})")
    print(f"sd of the gain: random {plain.std(ddof=1) / 1e6:,.2f}, sobol {sobol.std(ddof=1) / 1e6:,.2f} $M")


if __name__ == "__main__":
    main()

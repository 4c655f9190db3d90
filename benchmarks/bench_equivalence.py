"""Member and cohort engines compared at many trials (by hand; quoted in notes).

For the small population (2,000 members) and the reference case, runs both
engines on the same scenario and seed and prints, for the yearly and the
cumulative provider gain (all segments), each measure with its standard
error under both engines and the difference in combined standard errors;
the same for the cost above $250,000; and a two-sample Kolmogorov-Smirnov
p-value for the cumulative gain.

Usage: python benchmarks/bench_equivalence.py [--trials 20000] [--jobs 2]
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
from scipy import stats

from simulator.analysis.risk import risk_measures
from simulator.experience.engine import simulate_experience
from simulator.scenario import scenario_from_dict
from simulator.settlement.rules import settle

ROOT = Path(__file__).resolve().parents[1]
MEASURES = ("mean", "sd", "p1", "p5", "p95", "p99", "p99_5")


def cases(trials: int) -> dict[str, dict]:
    reference = tomllib.loads((ROOT / "scenarios" / "reference_global_budget.toml").read_text())
    small = copy.deepcopy(reference)
    for name, n in {"ppo": 1000, "hmo": 600, "medicare": 400}.items():
        small["segments"][name]["members"] = n
    out = {"small (2,000 members)": small, "reference (130,000 members)": reference}
    for data in out.values():
        data["run"].update(trials=trials, trials_per_block=250)
    return out


def compare(label: str, a: np.ndarray, b: np.ndarray, measures=MEASURES) -> float:
    ma, mb = risk_measures(a), risk_measures(b)
    worst = 0.0
    cells = []
    for m in measures:
        (va, sa), (vb, sb) = ma[m], mb[m]
        z = (vb - va) / np.hypot(sa, sb)
        worst = max(worst, abs(z))
        cells.append(f"{m} {va / 1e6:,.2f}/{vb / 1e6:,.2f} (z {z:+.1f})")
    print(f"  {label:<22} " + "; ".join(cells))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20_000)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    for label, data in cases(args.trials).items():
        runs, seconds = {}, {}
        for engine in ("member", "cohort"):
            scenario = scenario_from_dict(data).with_run(engine=engine)
            t0 = time.perf_counter()
            exp = simulate_experience(scenario, jobs=args.jobs)
            seconds[engine] = time.perf_counter() - t0
            runs[engine] = (exp, settle(exp, {"base": scenario.contract}, 3.0, outputs=("provider_gain_usd",)))
        print(f"{label}, {args.trials} trials: member {seconds['member']:.1f} s, cohort "
              f"{seconds['cohort']:.1f} s ({seconds['member'] / seconds['cohort']:.0f}x); "
              "values $M member/cohort, z = difference / combined standard error")
        gains = {e: s["provider_gain_usd"].sel(variant="base").sum("segment").values for e, (_, s) in runs.items()}
        worst = 0.0
        for y in range(gains["member"].shape[1]):
            worst = max(worst, compare(f"gain, year {y + 1}", gains["member"][:, y], gains["cohort"][:, y]))
        term = {e: g.sum(1) for e, g in gains.items()}
        worst = max(worst, compare("gain, whole term", term["member"], term["cohort"]))
        excess = {e: x["excess_usd"].sel(attachment=250_000.0).sum(["year", "segment"]).values
                  for e, (x, _) in runs.items()}
        worst = max(worst, compare("cost above $250k", excess["member"], excess["cohort"], ("mean", "p99")))
        ks = stats.ks_2samp(term["member"], term["cohort"]).pvalue
        print(f"  largest |z| {worst:.2f}; Kolmogorov-Smirnov p-value, whole-term gain: {ks:.3f}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()

"""What drives the reference result: each driver's share of the expected loss over the term.

Run by hand on a finished run of the reference scenario, e.g.::

    vbcsim run scenarios/reference_global_budget.toml --engine cohort --trials 2000 --seed 7 --out R
    python scripts/reference_drivers.py R

Each driver is neutralised alone and the contract settled again on the same simulated
paths (common random numbers): the budget trend set to the expected cost trend (3.6%
instead of 3.1%), the stop-loss premium priced without loading (loading 0), and, for the
care-management program, the scenario simulated again without it (same seed: only the
program's own draws differ). A driver's effect is the change in the expected gain, with
the standard error of the paired difference; its share is that change over the expected
loss. The shares need not add to 100%: sharing rates, MSR/MLR and caps make the
settlement non-linear, and what is left is the segments' noise around break-even under
those terms. Not used at run time.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from simulator.analysis.compare import horizon_gains
from simulator.analysis.sweep import set_term
from simulator.experience.engine import simulate_experience
from simulator.run import open_run
from simulator.settlement.rules import settle


def term_gain(experience, contracts, rate) -> dict[str, np.ndarray]:
    settled = settle(experience, contracts, rate, outputs=("provider_gain_usd",))
    gains = horizon_gains(settled, "term", "total")
    return {v: gains.sel(variant=v).values for v in contracts}


def main(run_dir: str) -> None:
    stored = open_run(run_dir)
    scenario, experience = stored.scenario, stored.experience
    rate = scenario.valuation.discount_rate_pct
    base = scenario.contract
    trend = set_term(base, "segments.*.budget_trend_pct", 3.6)
    neutral = {"base": base, "budget_trend_3_6": trend,
               "no_loading": set_term(base, "segments.ppo.stop_loss.loading_pct", 0.0),
               "both": set_term(trend, "segments.ppo.stop_loss.loading_pct", 0.0)}
    gains = term_gain(experience, neutral, rate)
    trials = experience.sizes["trial"]
    manifest = json.loads((Path(run_dir) / "manifest.json").read_text())
    design = scenario.designs()["no_program"].with_run(
        trials=trials, seed=manifest["seed"], engine=manifest["engine"].split()[0])
    without = simulate_experience(design, jobs=2)
    no_program = term_gain(without, {"base": base, "both": neutral["both"]}, rate)
    loss = -gains["base"].mean()
    print(f"expected loss over the term: {loss / 1e6:,.2f} $M "
          f"(se {gains['base'].std(ddof=1) / np.sqrt(trials) / 1e6:.2f})")
    rows = [("budget trend 3.1% against 3.6% cost trend", gains["budget_trend_3_6"] - gains["base"]),
            ("stop-loss loading (20%)", gains["no_loading"] - gains["base"]),
            ("care-management program, net", no_program["base"] - gains["base"])]
    for label, diff in rows:
        print(f"{label:<45} {diff.mean() / 1e6:8.2f} $M (se {diff.std(ddof=1) / np.sqrt(trials) / 1e6:.2f}) "
              f"= {diff.mean() / loss:6.1%} of the expected loss")
    rest = no_program["both"]
    print(f"{'all three neutralised: expected gain':<45} {rest.mean() / 1e6:8.2f} $M "
          f"(se {rest.std(ddof=1) / np.sqrt(trials) / 1e6:.2f}) = {-rest.mean() / loss:6.1%} of the "
          "expected loss remains")


if __name__ == "__main__":
    main(sys.argv[1])

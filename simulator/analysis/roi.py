"""Return on care-management program designs, on common random numbers.

Each design (no program, the scenario's program, its alternative designs)
is simulated with the same seed. Every random purpose has its own stream, so
switching a program on changes only the draws it adds (stratification,
engagement, effect size): the differences between designs are measured on
the same members, costs and trend shocks, with small standard errors.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from .risk import risk_measures
from .compare import horizon_gains
from ..experience.engine import simulate_experience
from ..experience.programs import program_plan
from ..scenario import Scenario
from ..settlement.rules import settle

N_BOOTSTRAP = 200


def compare_designs(scenario: Scenario, jobs: int = 1, horizon: str = "term", seed: int = 0,
                    progress: bool = False) -> tuple[pd.DataFrame, dict[str, float]]:
    """Program cost, change in expected gain and in TVaR 95% against no program, per design.

    Returns
    -------
    (DataFrame, dict)
        One row per design: ``program_cost_usd`` (over the term), ``mean_gain_usd``,
        ``delta_mean_usd`` and ``delta_tvar_95_usd`` against no program with their
        standard errors on the common paths, ``gross_savings_per_dollar`` (change in
        expected gain before the program's cost, per dollar of cost) and
        ``tail_reduction_per_dollar``; and the seconds spent in simulation and in the
        discrete-event model. ``progress``: a progress bar per design on standard error.
    """
    gains, costs, seconds = {}, {}, {"simulate": 0.0, "discrete_event": 0.0}
    designs = scenario.designs()
    for i, (name, design) in enumerate(designs.items(), start=1):
        t0 = time.perf_counter()
        experience = simulate_experience(design, jobs=jobs, progress=progress,
                                         label=f"design {i} of {len(designs)}, '{name}'")
        seconds["simulate"] += time.perf_counter() - t0
        settled = settle(experience, {"base": design.contract}, design.valuation.discount_rate_pct,
                         outputs=("provider_gain_usd",))
        gains[name] = horizon_gains(settled, horizon).sel(variant="base").values
        costs[name] = float(experience["program_cost_usd"].sum(["year", "segment"]).mean())
        if design.program is not None:
            seconds["discrete_event"] += program_plan(design).operations.seconds
    names = list(gains)
    g = np.column_stack([gains[n] for n in names])
    own = risk_measures(g)
    rng = np.random.default_rng(seed)
    boot = np.array([risk_measures(g[rng.integers(0, len(g), len(g))])["tvar_95"][0]
                     for _ in range(N_BOOTSTRAP)])
    rows = []
    for j, name in enumerate(names):
        diff = g[:, j] - g[:, 0]
        d_tvar = own["tvar_95"][0][j] - own["tvar_95"][0][0]
        cost = costs[name]
        rows.append({"design": name, "program_cost_usd": cost, "mean_gain_usd": own["mean"][0][j],
                     "delta_mean_usd": diff.mean(), "delta_mean_se": diff.std(ddof=1) / np.sqrt(len(diff)),
                     "delta_tvar_95_usd": d_tvar,
                     "delta_tvar_95_se": np.std(boot[:, j] - boot[:, 0], ddof=1),
                     "gross_savings_per_dollar": (diff.mean() + cost) / cost if cost else np.nan,
                     "tail_reduction_per_dollar": -d_tvar / cost if cost else np.nan})
    return pd.DataFrame(rows), seconds

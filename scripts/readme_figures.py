"""Redraw the README's charts from a finished run (by default the demo run, ``make demo``).

    python scripts/readme_figures.py [results/demo]

Writes ``docs/fan_chart.png``, ``docs/variant_comparison.png``, ``docs/capital_fan.png`` and
``docs/ruin_curve.png``: the figures the README shows are those of a real run.
"""

from __future__ import annotations

import sys
from pathlib import Path

from simulator.analysis.plots import fan_chart, variant_comparison
from simulator.capital.stored import variant_charts
from simulator.rundir import open_run
from simulator.run import stored_contracts

DOCS = Path(__file__).resolve().parents[1] / "docs"


def main(folder: str = "results/demo") -> None:
    run = open_run(folder)
    figures = {"fan_chart.png": fan_chart(run.settlement),
               "variant_comparison.png": variant_comparison(run.settlement)}
    scenario = run.scenario
    if scenario.capital is not None:
        import pandas as pd

        summary = pd.read_csv(Path(folder) / "capital.csv")
        lag = stored_contracts(folder, scenario)["base"].payment_lag_months
        fan, ruin, _ = variant_charts(run.settlement, scenario.capital, summary, lag)
        figures |= {"capital_fan.png": fan, "ruin_curve.png": ruin}
    for name, figure in figures.items():
        figure.savefig(DOCS / name, dpi=110)
        print(DOCS / name)


if __name__ == "__main__":
    main(*sys.argv[1:])

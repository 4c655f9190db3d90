"""The shipped DE-SynPUF extract through the whole pipeline (tests/data/README.md: provenance).

CMS's synthetic Medicare beneficiaries, 2008-2010: members linked across years by ID,
partial-year coverage, deaths, and a 2010 file known to be incomplete (mean cost down by
about 40%), which the run-out check must flag.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulator.cli import main
from simulator.scenario import load_scenario

EXTRACT = Path(__file__).resolve().parents[1] / "data" / "desynpuf_extract.csv"
REFERENCE = Path(__file__).resolve().parents[2] / "scenarios" / "reference_global_budget.toml"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("desynpuf")
    code = main(["calibrate", str(EXTRACT), "--out", str(out / "fit.toml"), "--name", "desynpuf",
                 "--bands", "4", "--report", str(out / "report")])
    return code, out


def test_calibrate_writes_a_cost_model_that_a_scenario_accepts(run, capsys):
    code, out = run
    assert code == 0
    text = (out / "fit.toml").read_text()
    scenario = REFERENCE.read_text().replace('cost_model = "medicare"', 'cost_model = "desynpuf"')
    (out / "scenario.toml").write_text(scenario + "\n" + text)
    loaded = load_scenario(out / "scenario.toml")
    model = loaded.cost_models["desynpuf"]
    assert len(model.bands) == 4 and loaded.segments["medicare"].cost_model == "desynpuf"
    assert main(["validate", str(out / "scenario.toml")]) == 0
    # every band number carries how it was estimated and on how many member-years
    for key in ("mean_annual_usd", "cv", "zero_cost_pct", "death_pct"):
        lines = [ln for ln in text.splitlines() if ln.startswith(f"{key} = ")]
        assert len(lines) == 4 and all("#" in ln and "se " in ln for ln in lines)
    assert "# Z = " in text
    # ... and the counts the bands rest on add up to the extract's usable member-years
    raw = pd.read_csv(EXTRACT)
    usable = raw[raw.year < 2010]
    flat = text.replace(",", "")
    counts = {what: sum(float(m) for m in re.findall(rf"(?:on|among) ([\d.]+) expected {what}", flat))
              for what in ("non-zero member-years", "member-years with a usable cost")}
    assert counts["non-zero member-years"] == pytest.approx((usable.allowed_usd > 0).sum(), abs=4)
    assert counts["member-years with a usable cost"] == pytest.approx(len(usable), abs=4)


def test_linkage_partial_years_deaths_and_incomplete_2010(run):
    _, out = run
    raw = pd.read_csv(EXTRACT, dtype={"member_id": str})
    text = (out / "fit.toml").read_text()
    # linkage: members present in 2008 and 2009 are those the fit's comments count
    linked = raw.pivot_table(index="member_id", columns="year", values="months", aggfunc="size").notna()
    survivors = raw[(raw.year < 2010) & (raw.died == 0)]
    stayed = sum(linked.loc[m, y + 1] for m, y in zip(survivors.member_id, survivors.year))
    churn = 1 - stayed / len(survivors)
    assert f"churn_pct = {100 * churn:.2f}" in text
    assert f"on {len(survivors):,} survivor-years" in text
    # the incomplete 2010 is flagged and its costs are left out of the fit
    assert "costs from 2008, 2009" in text
    page = (out / "report" / "report.html").read_text()
    assert "year 2010 departs from its neighbours" in page
    # partial-year exposure is counted, not dropped
    assert f"partial-year exposure (months &lt; 12): {(raw.months < 12).sum():,}" in page
    # deaths: the extract's death years inform the bands' death rates
    assert raw.died.sum() > 0
    model = tomllib.loads(text)["cost_models"]["desynpuf"]
    assert any(b["death_pct"] > 0 for b in model["bands"])


def test_report_compares_the_extract_with_a_simulation_of_the_fit(run):
    _, out = run
    stats = pd.read_csv(out / "report" / "statistics.csv", index_col="key")
    raw = pd.read_csv(EXTRACT, dtype={"member_id": str})
    usable = raw[raw.year < 2010]
    annual = usable.allowed_usd.where(usable.died == 1, usable.allowed_usd * 12 / usable.months)
    assert stats.loc["zero_pct", "observed"] == pytest.approx(100 * np.mean(annual == 0))
    assert stats.loc["cv", "observed"] == pytest.approx(annual.std(ddof=0) / annual.mean())
    assert (stats.fitted_se > 0).all() and (stats.observed_se > 0).all()
    for name in ("lorenz.png", "qq.png", "report.html"):
        assert (out / "report" / name).stat().st_size > 1000

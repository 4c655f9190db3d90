"""Capital on a stored run: the shipped funding paths, the command, a contract file, bad input."""

from __future__ import annotations

import json

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import REFERENCE, ROOT, write_toml
from simulator.capital.calendar import cash_paths
from simulator.capital.stored import capital_summary, load_capital, yearly_items
from simulator.cli import main
from simulator.core.errors import ScenarioError
from simulator.run import open_run, run_scenario
from simulator.scenario import load_scenario

FUNDING_PATHS = sorted((ROOT / "scenarios" / "capital").glob("*.toml"))


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory) -> Path:
    """The reference scenario at 40 trials (cohort engine, for speed)."""
    scenario = load_scenario(REFERENCE).with_run(trials=40, engine="cohort", trials_per_block=20)
    return run_scenario(scenario, tmp_path_factory.mktemp("ref") / "run", jobs=1).out


def test_the_reference_run_writes_capital_figures_for_every_variant(reference_run):
    table = pd.read_csv(reference_run / "capital.csv")
    assert set(table.variant) == {"base", "ppo_80_percent"}
    p = table.set_index(["variant", "measure", "horizon"]).loc[("base", "p_ruin", "term")]
    assert 0 <= p.value <= 1 and p.mc_se == pytest.approx(np.sqrt(p.value * (1 - p.value) / 40))


def test_allowed_cost_recovered_from_the_settlement_matches_the_experience(reference_run):
    stored = open_run(reference_run)
    items = yearly_items(stored.settlement, "base", stored.scenario.capital, 6)
    allowed = stored.experience["allowed_usd"].transpose("trial", "year", "segment").values
    np.testing.assert_allclose(items.allowed_usd, allowed, rtol=1e-9)


@pytest.mark.parametrize("path", FUNDING_PATHS, ids=lambda p: p.stem)
def test_each_shipped_funding_path_settles_on_the_reference_run(reference_run, path, tmp_path, capsys):
    out = tmp_path / path.stem
    assert main(["capital", str(reference_run), "--capital", str(path), "--out", str(out)]) == 0
    assert "capital needed for P(ruin) <= 0.5% over the term" in capsys.readouterr().out
    assert {"capital.csv", "capital_fan.png", "ruin_curve.png", "ruin_curve.csv"} <= {
        p.name for p in out.iterdir()}
    stored = open_run(reference_run)
    terms = load_capital(path, stored.scenario)
    paths = cash_paths(terms, yearly_items(stored.settlement, "base", terms, 6))
    t = paths.totals
    # the source named by the file moves money, and the balance sheet still balances
    used = {"bank_loan": t["loc_fees_usd"], "hospital_partner": t["partner_premium_usd"],
            "payer_advance": t["advance_received_usd"], "private_equity": t["partner_upfront_usd"]}
    assert used[path.stem].min() > 0
    np.testing.assert_allclose(paths.capital_usd, paths.cash_usd - paths.ibnr_usd + paths.receivable_usd
                               - paths.loc_usd - paths.advance_usd, rtol=0, atol=1e-3)
    # the capital the solver names keeps ruin at or below the level on these trials
    table = pd.read_csv(out / "capital.csv").set_index(["variant", "measure", "horizon"])
    needed = table.loc[("base", "capital_needed_usd", "term"), "value"]
    ruined = (cash_paths(terms, yearly_items(stored.settlement, "base", terms, 6), needed)
              .capital_usd < 0).any(axis=1).mean()
    assert ruined <= terms.ruin_level_pct / 100


def test_capital_settles_a_contract_file_first(reference_run, tmp_path, capsys):
    out = tmp_path / "mssp"
    contract = ROOT / "scenarios" / "contracts" / "aqc_global_budget.toml"
    assert main(["capital", str(reference_run), "--contract", str(contract), "--out", str(out)]) == 0
    table = pd.read_csv(out / "capital.csv")
    assert "base" in set(table.variant) and len(set(table.variant)) >= 2
    assert "P(ruin)" in capsys.readouterr().out


def test_compare_shows_capital_by_variant(reference_run, capsys):
    assert main(["compare", str(reference_run)]) == 0
    shown = capsys.readouterr().out
    assert "Capital by variant" in shown and "ppo_80_percent" in shown.split("Capital by variant")[1]


def test_a_bad_capital_file_is_one_line_naming_the_field(reference_run, tmp_path, capsys):
    bad = write_toml(tmp_path / "bad.toml", {"capital": {"starting_usd": 1e8, "claims_lag_pct": [50, 40],
                                                         "receipts": {"ppo": "capitation"}}})
    assert main(["capital", str(reference_run), "--capital", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "bad.toml" in err and "claims_lag_pct" in err and "100" in err
    unknown = write_toml(tmp_path / "seg.toml", {"capital": {"starting_usd": 1e8, "receipts": {"pos": "ffs"}}})
    with pytest.raises(ScenarioError, match="capital.receipts: unknown segment"):
        load_capital(unknown, open_run(reference_run).scenario)


def test_a_run_without_a_capital_table_is_told_to_give_one(reference_run, tmp_path, capsys):
    import shutil
    import tomllib

    import tomli_w

    copy = tmp_path / "run"
    shutil.copytree(reference_run, copy)
    data = tomllib.loads((copy / "scenario.toml").read_text())
    data.pop("capital")
    (copy / "scenario.toml").write_text(tomli_w.dumps(data))
    # a run of a scenario without [capital]: the manifest re-signed, as that run would have it
    # (an edited scenario.toml alone is refused as tampering, issue 14)
    from simulator.rundir.manifest import write_manifest
    write_manifest(copy, json.loads((copy / "manifest.json").read_text()))
    assert main(["capital", str(copy)]) == 3
    assert "no [capital] table" in capsys.readouterr().err


def test_summary_per_variant_uses_each_variants_payment_lag(reference_run):
    stored = open_run(reference_run)
    contracts = stored.scenario.contracts()
    late = {"base": contracts["base"].model_copy(update={"payment_lag_months": 18})}
    terms = stored.scenario.capital
    assert cash_paths(terms, yearly_items(stored.settlement, "base", terms, 18)).cash_usd.shape[1] \
        == 12 * 7 + 18 + 1
    income = [capital_summary(stored.settlement, terms, c, ["base"]).set_index(["measure", "horizon"])
              .loc[("investment_income_mean_usd", "term"), "value"] for c in (contracts, late)]
    # the reference loses money on average, so paying its settlements a year later leaves
    # the cash with the provider longer: more investment income
    assert income[1] > income[0]


def test_the_report_has_a_capital_section(reference_run, tmp_path):
    from simulator.analysis.report import write_report

    page, _ = write_report(reference_run, tmp_path / "report.html")
    text = page.read_text()
    assert "<h2>Capital, cash and survival</h2>" in text and "capital needed, term $M" in text
    assert text.count("data:image/png") >= 2


def test_capital_on_a_settlements_folder_uses_its_contract(reference_run, tmp_path):
    contract = ROOT / "scenarios" / "contracts" / "mssp.toml"
    settled = reference_run / "settlements" / "mssp"  # where open_run recognises a settlement
    assert main(["settle", str(reference_run), "--contract", str(contract), "--quiet", "--force"]) == 0
    assert main(["capital", str(settled), "--out", str(tmp_path / "cap")]) == 0
    variants = set(pd.read_csv(tmp_path / "cap" / "capital.csv").variant)
    assert variants == set(open_run(settled).settlement["variant"].values)


def test_a_scenario_capital_table_naming_an_unknown_segment_is_refused():
    from conftest import small_dict
    from simulator.scenario import scenario_from_dict

    data = small_dict()
    data["capital"]["receipts"] = {"ppo": "capitation", "dental": "ffs"}
    with pytest.raises(ScenarioError, match=r"capital\.receipts: unknown segment\(s\) \['dental'\]"):
        scenario_from_dict(data, "x.toml")

"""The workbench settles the page's terms with the library, on the run's stored paths."""

from __future__ import annotations

import json
import threading
import tomllib
import urllib.request

import pandas as pd
import pytest

from simulator.analysis.compare import compare
from simulator.analysis.risk import summarize
from simulator.app.server import AppServer
from simulator.app.workbench import CURRENT, Workbench
from simulator.cli import main
from simulator.core.errors import ScenarioError
from simulator.scenario import load_contracts
from simulator.settlement.rules import settle
from stored_run import make_stored_run


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    return Workbench(make_stored_run(tmp_path_factory.mktemp("app"), trials=40))


def base_terms(bench: Workbench) -> dict:
    return bench.named("base").model_dump(mode="json", exclude_none=True)


def with_ppo_shares(bench: Workbench, pct: float) -> dict:
    terms = base_terms(bench)
    terms["segments"]["ppo"].update(surplus_share_pct=pct, deficit_share_pct=pct)
    return terms


def test_the_base_terms_give_the_runs_own_numbers(bench):
    settled = bench.settled(bench.contract(base_terms(bench)))
    cards = bench.cards(settled, "term")
    stored = summarize(bench.base_settlement)
    stored = stored[(stored.horizon == "term") & (stored.variant == "base")]
    merged = cards.merge(stored, on=["segment", "measure"], suffixes=("", "_run"))
    assert len(merged) == len(cards) == 4 * 6
    pd.testing.assert_series_equal(merged.value, merged.value_run, check_names=False, rtol=1e-12)
    diffs = bench.mean_differences(settled, "term")
    assert (diffs["diff"].abs() < 1e-6).all() and list(diffs.segment) == ["ppo", "hmo", "medicare", "total"]


def test_changed_terms_match_settle_and_compare(bench):
    contract = bench.contract(with_ppo_shares(bench, 80.0))
    assert contract.segments == bench.run_variants["ppo_80_percent"].segments  # the run's variant
    settled = bench.settled(contract)
    reference = settle(bench.experience, {"base": bench.named("base"), CURRENT: contract},
                       bench.scenario.valuation.discount_rate_pct)
    expected = compare(reference, [CURRENT], horizon="pv", segment="ppo", measures=("mean",))
    got = bench.mean_differences(settled, "pv").set_index("segment").loc["ppo"]
    assert got["diff"] == pytest.approx(expected["diff"].iloc[1], rel=1e-12)
    assert got["diff_se_common"] == pytest.approx(expected["diff_se_common"].iloc[1], rel=1e-12)
    assert got["diff"] != 0
    table = bench.differences(settled, "term", "total")
    assert list(table.measure) == ["mean", "p_loss", "var_95", "tvar_95", "var_99_5", "tvar_99_5"]


def test_terms_that_break_the_contract_are_refused_by_field(bench):
    with pytest.raises(ScenarioError, match=r"segments\.ppo\.surplus_share_pct.*less than or equal to 100"):
        bench.contract(with_ppo_shares(bench, 120.0))
    terms = base_terms(bench)
    terms["segments"]["ppo"]["stop_loss"]["attachment_usd"] = 123_456.0
    with pytest.raises(ScenarioError, match=r"segments\.ppo\.stop_loss\.attachment_usd: not simulated"):
        bench.contract(terms)


def test_exported_terms_settle_the_same_with_vbcsim_settle(bench, tmp_path):
    contract = bench.contract(with_ppo_shares(bench, 65.0))
    path = tmp_path / "ppo_65.toml"
    path.write_text(bench.contract_file(contract, "PPO at 65%"))
    assert tomllib.loads(path.read_text())["description"] == "PPO at 65%"
    assert load_contracts(path, bench.scenario)["base"] == contract
    out = tmp_path / "settled"
    assert main(["settle", str(bench.run_dir), "--contract", str(path), "--out", str(out), "--quiet"]) == 0
    summary = pd.read_csv(out / "summary.csv")
    summary = summary[(summary.variant == "base") & (summary.horizon == "term")]
    cards = bench.cards(bench.settled(contract), "term")
    merged = cards.merge(summary, on=["segment", "measure"], suffixes=("", "_cli"))
    assert len(merged) == 24
    # summary.csv keeps 6 significant digits
    pd.testing.assert_series_equal(merged.value, merged.value_cli, check_names=False, rtol=1e-5)


def test_saved_variants_side_by_side(bench):
    bench.save("ppo_90", bench.contract(with_ppo_shares(bench, 90.0)))
    with pytest.raises(ValueError, match="not 'base'"):
        bench.save("base", bench.named("base"))
    table, chart = bench.compare_saved("term", "total")
    assert chart.startswith("<svg")
    assert list(dict.fromkeys(table.variant)) == ["base", "ppo_90"]
    reference = settle(bench.experience, {"base": bench.named("base"), "ppo_90": bench.named("ppo_90")},
                       bench.scenario.valuation.discount_rate_pct)
    expected = compare(reference, ["ppo_90"], measures=tuple(dict.fromkeys(table.measure)))
    pd.testing.assert_frame_equal(table.reset_index(drop=True), expected)


def test_the_server_answers_on_this_machine_only(bench):
    server = AppServer(bench, port=0)
    assert server.server_address[0] == "127.0.0.1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        def post(path: str, body: dict) -> dict:
            request = urllib.request.Request(server.url + path.lstrip("/"), json.dumps(body).encode(),
                                             {"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=60) as reply:
                return json.loads(reply.read())

        with urllib.request.urlopen(server.url, timeout=60) as reply:
            page = reply.read().decode()
        assert 'data-tab="medicare"' in page and "http" not in page.split("<body")[0].replace(
            'name="viewport"', "")  # no assets from elsewhere
        live = post("/api/live", {"terms": with_ppo_shares(bench, 80.0), "horizon": "pv"})
        assert live["ok"] and 'data-segment="total"' in live["cards"] and "present value" in live["cards"]
        fan, curves = live["charts"]["fan"], live["charts"]["exceedance"]
        assert fan["years"] == list(bench.experience["year"].values) and len(fan["p50"]) == len(fan["years"])
        assert set(curves) == {"base", "current"} and curves["current"]["p"][0] == 1 / bench.trials
        bad = post("/api/live", {"terms": with_ppo_shares(bench, 120.0)})
        assert not bad["ok"] and "segments.ppo.surplus_share_pct" in bad["problems"]
        exported = post("/api/export", {"terms": with_ppo_shares(bench, 80.0)})
        assert tomllib.loads(exported["toml"])["contract"]["segments"]["ppo"]["surplus_share_pct"] == 80.0
        details = post("/api/details", {"terms": base_terms(bench), "segment": "hmo"})
        assert details["ok"] and "hmo" in details["differences"]
    finally:
        server.shutdown()
        server.server_close()


def test_app_on_a_folder_that_is_not_a_run_says_so(tmp_path, capsys):
    assert main(["app", str(tmp_path / "nowhere"), "--port", "0"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("vbcsim: error:") and "is not a complete vbcsim run" in err


def test_a_settlements_folder_opens_with_its_own_base(bench, tmp_path):
    path = tmp_path / "ppo_70.toml"
    path.write_text(bench.contract_file(bench.contract(with_ppo_shares(bench, 70.0))))
    assert main(["settle", str(bench.run_dir), "--contract", str(path), "--quiet", "--force"]) == 0
    other = Workbench(bench.run_dir / "settlements" / "ppo_70")
    assert other.named("base") == load_contracts(path, bench.scenario)["base"]
    assert other.named("base").segments["ppo"].surplus_share_pct == 70.0
    settled = other.settled(other.named("base"))
    assert (other.mean_differences(settled, "term")["diff"].abs() < 1e-6).all()

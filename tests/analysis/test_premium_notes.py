"""A stop-loss attachment moved with a fixed-dollar premium is said, in one line."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from conftest import small_dict, write_toml
from simulator.analysis.sweep import Evaluator, breakeven, mean_statistic, set_term, sweep, tornado
from simulator.cli import main
from simulator.settlement.contract import Contract, fixed_premium_notes

PATH = "segments.ppo.stop_loss.attachment_usd"


def contract(**stop_loss) -> Contract:
    return Contract.model_validate({"payment_lag_months": 0, "segments": {"ppo": {
        "budget_pmpm": 600.0, "budget_trend_pct": 0.0, "surplus_share_pct": 100.0,
        "deficit_share_pct": 100.0, "stop_loss": {"attachment_usd": 250_000.0, **stop_loss}}}})


def experience(trials: int = 200, seed: int = 5) -> xr.Dataset:
    """One segment-year; cost above 150,000 twice the cost above 250,000."""
    rng = np.random.default_rng(seed)
    above_250 = rng.exponential(300_000.0, trials)
    dims = ("trial", "year", "segment")
    return xr.Dataset(
        {"member_months": (dims, np.full((trials, 1, 1), 12_000.0)),
         "risk_score_member_months": (dims, np.full((trials, 1, 1), 12_000.0)),
         "quality_score_pct": (dims, np.full((trials, 1, 1), np.nan)),
         "allowed_usd": (dims, rng.normal(7.2e6, 0.3e6, (trials, 1, 1))),
         "excess_usd": (dims + ("attachment",),
                        np.stack([2 * above_250, above_250], -1).reshape(trials, 1, 1, 2))},
        coords={"trial": np.arange(trials), "year": [2019], "segment": ["ppo"],
                "attachment": [150_000.0, 250_000.0]})


def test_a_moved_attachment_with_a_fixed_premium_gives_one_line_per_segment():
    base = contract(premium_pmpm=22.0)
    lower = set_term(base, PATH, 150_000.0)
    notes = fixed_premium_notes(base, [base, lower, set_term(base, PATH, 150_000.0)])
    assert notes == ["note: segments.ppo.stop_loss: the attachment moves (250,000 -> 150,000) with a "
                     "fixed premium of $22.00 PMPM; give stop_loss.loading_pct to price the premium "
                     "from the run's expected recovery at each attachment"]
    assert fixed_premium_notes(base, [base]) == []          # nothing moved
    priced = contract(loading_pct=20.0)                      # the premium follows the attachment
    assert fixed_premium_notes(priced, [set_term(priced, PATH, 150_000.0)]) == []


def test_sweep_tornado_and_breakeven_over_the_attachment_say_so():
    evaluator = Evaluator(experience(), contract(premium_pmpm=22.0), 0.0, "term", "total")
    path = PATH
    assert len(sweep(evaluator, {path: [150_000.0, 250_000.0]}).attrs["notes"]) == 1
    assert len(tornado(evaluator, {path: (150_000.0, 250_000.0)}).attrs["notes"]) == 1
    assert sweep(evaluator, {"segments.ppo.surplus_share_pct": [50.0, 100.0]}).attrs["notes"] == []
    # with a priced premium nothing is said, and the premium doubles with the recovery
    priced = Evaluator(experience(), contract(loading_pct=20.0), 0.0, "term", "total")
    assert sweep(priced, {path: [150_000.0, 250_000.0]}).attrs["notes"] == []
    # break-even of the share: the attachment does not move -> no note
    result = breakeven(evaluator, "segments.ppo.budget_pmpm", (500.0, 700.0), mean_statistic, 0.0)
    assert result.notes == ()


def test_priced_premium_follows_the_attachment_so_the_expected_gain_does_not_move():
    # priced at loading 0: premium = expected recovery, so the expected gain is the same at
    # both attachments; with a fixed premium the lower attachment adds the extra expected
    # recovery (no coinsurance): the mean over the trials of the cost between 150,000 and
    # 250,000, which is the mean cost above 250,000 here (above 150,000 = twice it)
    priced = Evaluator(experience(), contract(loading_pct=0.0), 0.0, "term", "total")
    table = sweep(priced, {PATH: [150_000.0, 250_000.0]})
    assert table["mean"][0] == pytest.approx(table["mean"][1], rel=1e-9)
    fixed = Evaluator(experience(), contract(premium_pmpm=22.0), 0.0, "term", "total")
    table = sweep(fixed, {PATH: [150_000.0, 250_000.0]})
    extra = float(experience()["excess_usd"].sel(attachment=250_000.0).mean())
    assert table["mean"][0] - table["mean"][1] == pytest.approx(extra, rel=1e-9)


def test_settle_with_a_contract_file_that_moves_the_attachment_says_so(tmp_path, capsys):
    run = tmp_path / "res"
    data = small_dict(trials=4, trials_per_block=2)
    data["contract"]["segments"]["ppo"]["stop_loss"] = {"attachment_usd": 250_000.0, "premium_pmpm": 22.0}
    scenario = write_toml(tmp_path / "s.toml", data)
    assert main(["run", str(scenario), "--out", str(run), "--quiet", "--jobs", "1"]) == 0
    moved = tmp_path / "moved.toml"
    moved.write_text("[contract]\n[variants.low]\nsegments.ppo.stop_loss.attachment_usd = 150000\n")
    assert main(["settle", str(run), "--contract", str(moved), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert out.count("note: segments.ppo.stop_loss: the attachment moves (250,000 -> 150,000)") == 1

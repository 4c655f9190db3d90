"""Every chart renders with labelled axes; the report and workbook are complete."""

from __future__ import annotations

import zipfile

import pytest
from matplotlib.figure import Figure

from conftest import small_dict, write_toml
from simulator.analysis import plots
from simulator.cli import main
from simulator.run import open_run
from simulator.analysis.sweep import Evaluator, sweep, tornado


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    scenario = write_toml(folder / "small.toml", small_dict(trials=30, trials_per_block=10))
    assert main(["run", str(scenario), "--out", str(folder / "res"), "--quiet", "--jobs", "1"]) == 0
    return folder / "res"


def _charts(stored):
    run = open_run(stored)
    ev = Evaluator(run.experience, run.scenario.contract, 3.0)
    grid = sweep(ev, {"segments.ppo.surplus_share_pct": [60.0, 80.0, 100.0]})
    sens = tornado(ev, {"segments.ppo.deficit_share_pct": (80.0, 100.0),
                        "segments.hmo.min_loss_rate_pct": (0.0, 3.0)})
    s = run.settlement
    return {"fan": plots.fan_chart(s), "exceedance": plots.exceedance_curve(s),
            "histogram": plots.gain_histogram(s, horizon="pv"), "comparison": plots.variant_comparison(s),
            "frontier": plots.sweep_frontier(grid), "tornado": plots.tornado_chart(sens)}


def test_every_chart_renders_to_png_with_title_and_axis_labels(stored, tmp_path):
    for name, fig in _charts(stored).items():
        assert isinstance(fig, Figure)
        ax = fig.axes[0]
        assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel(), name
        path = tmp_path / f"{name}.png"
        fig.savefig(path)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_report_is_one_self_contained_page_and_a_workbook(stored, capsys):
    assert main(["report", str(stored)]) == 0
    page = (stored / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 4
    assert "<script" not in page and "src=\"http" not in page
    for words in ("Key assumptions", "Contract terms", "Manifest", "ppo_80_percent", "sha256"):
        assert words in page
    with zipfile.ZipFile(stored / "summary.xlsx") as xl:
        sheets = [n for n in xl.namelist() if n.startswith("xl/worksheets/")]
    assert len(sheets) >= 4   # Summary, Differences, Trials, Run (test_report_workbook.py)


def test_cli_compare_sweep_and_breakeven(stored, capsys):
    assert main(["compare", str(stored)]) == 0
    out = capsys.readouterr().out
    assert "ppo_80_percent" in out and "se, common paths" in out
    assert main(["sweep", str(stored), "--term", "segments.ppo.surplus_share_pct=50:100:3"]) == 0
    folder = stored / "sweeps" / "ppo.surplus_share_pct"
    assert (folder / "sweep.csv").exists() and (folder / "frontier.png").exists()
    capsys.readouterr()
    assert main(["breakeven", str(stored), "--term", "segments.*.budget_trend_pct",
                 "--between", "0", "15", "--mean", "0"]) == 0
    assert "95% interval" in capsys.readouterr().out
    assert main(["breakeven", str(stored), "--term", "segments.*.budget_trend_pct",
                 "--between", "0", "0.1", "--mean", "0"]) == 1
    assert "not reached between" in capsys.readouterr().err


def test_chart_numbers_are_the_samples():
    """fan_bands and exceedance_points (drawn by the app) are the sample's own statistics."""
    import numpy as np
    import xarray as xr

    from simulator.analysis.plots import exceedance_points, fan_bands

    rng = np.random.default_rng(3)
    gain = rng.normal(0, 1e6, (500, 4, 2))
    ds = xr.Dataset({"provider_gain_usd": (("variant", "trial", "year", "segment"), gain[None])},
                    coords={"variant": ["base"], "year": [2019, 2020, 2021, 2022], "segment": ["a", "b"]})
    bands = fan_bands(ds, "base", "total")
    cumulative = gain.sum(axis=2).cumsum(axis=1)
    assert bands.attrs["trials"] == 500 and list(bands.index) == [2019, 2020, 2021, 2022]
    np.testing.assert_allclose(bands["p95"], np.percentile(cumulative, 95, axis=0))
    np.testing.assert_allclose(bands["mean"], cumulative.mean(axis=0))
    loss, p = exceedance_points(cumulative[:, -1])
    assert loss[0] == -cumulative[:, -1].min() and p[0] == 1 / 500 and p[-1] == 1.0
    few_loss, few_p = exceedance_points(cumulative[:, -1], max_points=50)
    assert len(few_p) <= 50 and few_p[0] == p[0] and few_p[-1] == 1.0
    assert set(few_loss) <= set(loss)  # exact sample points, none invented
    assert np.all(np.diff(few_loss) <= 0) and np.all(np.diff(few_p) > 0)

"""A self-contained HTML report of a run, and an Excel workbook of its tables.

The HTML embeds its charts as PNG data, so one file can be mailed, opened in
any browser and printed. The workbook holds the same tables for those who
work in Excel.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
from pathlib import Path

import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from . import plots
from .risk import headline
from .compare import compare
from ..scenario import Scenario, load_scenario

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; } .note { color: #555; font-size: 0.85em; }
pre { background: #f7f7f7; padding: 1em; overflow-x: auto; font-size: 0.8em; }
@media print { h2 { page-break-before: auto; } img { page-break-inside: avoid; } }
"""


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return f'<img alt="chart" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def _money_table(table: pd.DataFrame) -> pd.DataFrame:
    """Values with standard errors in brackets, $ millions (probabilities in %)."""
    cells = {}
    for key in table["value"].columns:
        value, se = table[("value", key)], table[("mc_se", key)]
        if key == "p_loss":
            cells[key] = [f"{v:.1%} ({s:.1%})" for v, s in zip(value, se)]
        else:
            cells[key] = [f"{v / 1e6:,.2f} ({'n/a' if pd.isna(s) else f'{s / 1e6:,.2f}'})"
                          for v, s in zip(value, se)]
    return pd.DataFrame(cells, index=table.index)


def assumptions(scenario: Scenario) -> dict[str, pd.DataFrame]:
    """The key assumptions of a scenario as tables: population and cost, and contract terms."""
    segments = pd.DataFrame({
        name: {"members": f"{s.members:,}", "cost model": s.cost_model, "cost factor": s.cost_factor,
               "cost trend %": s.cost_trend_pct, "trend shock sd (points)": s.trend_shock_sd_pct,
               "churn %": s.churn_pct}
        for name, s in scenario.segments.items()}).T
    terms = {}
    for variant, contract in scenario.contracts().items():
        for name, t in contract.segments.items():
            terms[(variant, name)] = {
                "budget PMPM (base year)": t.budget_pmpm, "budget trend %": t.budget_trend_pct,
                "surplus share %": t.surplus_share_pct if t.surplus_corridors is None else "corridors",
                "deficit share %": t.deficit_share_pct if t.deficit_corridors is None else "corridors",
                "MSR %": t.min_savings_rate_pct, "MLR %": t.min_loss_rate_pct,
                "gain cap %": t.gain_cap_pct, "loss cap %": t.loss_cap_pct,
                "stop-loss attachment": None if t.stop_loss is None else f"{t.stop_loss.attachment_usd:,.0f}",
                "risk adjusted": t.risk_adjustment is not None, "discount %": t.discount_pct}
    return {"Population and cost": segments, "Contract terms": pd.DataFrame(terms).T}


def write_report(run_dir: str | Path, out: str | Path | None = None) -> tuple[Path, Path]:
    """Write ``report.html`` and ``summary.xlsx`` for the run in ``run_dir``."""
    run_dir = Path(run_dir)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    scenario = load_scenario(run_dir / "scenario.toml")
    summary = pd.read_csv(run_dir / "summary.csv")
    with xr.open_dataset(run_dir / "settlement.nc") as ds:
        settlement = ds.load()
    variants = list(settlement["variant"].values)
    comparison = compare(settlement) if len(variants) > 1 else None

    parts = [f"<h1>{html.escape(scenario.name)}</h1>",
             f'<p class="note">{manifest["trials"]:,} trials, seed {manifest["seed"]}, created '
             f'{manifest["created_utc"]} with vbcsim {manifest["versions"]["vbcsim"]}. '
             "Gains are positive, losses negative; VaR and TVaR are losses. Figures in brackets are "
             "Monte Carlo standard errors; $ millions.</p>",
             f"<p>{html.escape(scenario.description.strip())}</p>"]
    for horizon, label in (("term", "over the term, undiscounted"), ("pv", "in present value")):
        parts += [f"<h2>Provider gain/loss {label}, contract 'base'</h2>",
                  _money_table(headline(summary, "base", horizon)).to_html()]
    if len(variants) > 1:
        totals = pd.concat({v: headline(summary, v, "term").loc["total"] for v in variants}, axis=1).T
        totals.columns = pd.MultiIndex.from_tuples(totals.columns)
        parts += ["<h2>Contract variants, total over the term (same simulated paths)</h2>",
                  _money_table(totals).to_html(),
                  "<p class='note'>Differences to 'base' and their standard errors on the common "
                  "paths and, for contrast, as if simulated independently:</p>",
                  comparison.to_html(index=False, float_format=lambda x: f"{x:,.4g}"),
                  _png(plots.variant_comparison(settlement))]
    parts += ["<h2>Charts</h2>", _png(plots.fan_chart(settlement)), _png(plots.gain_histogram(settlement)),
              _png(plots.exceedance_curve(settlement))]
    parts += capital_section(run_dir, scenario, settlement)
    parts.append("<h2>Key assumptions</h2>")
    for title, table in assumptions(scenario).items():
        parts += [f"<h3>{title}</h3>", table.to_html(na_rep="")]
    shown = {k: v for k, v in manifest.items() if k != "scenario"}
    parts += ["<h2>Manifest</h2>", f"<pre>{html.escape(json.dumps(shown, indent=1))}</pre>",
              "<details><summary>Scenario file (sha256 "
              f"{manifest['scenario']['sha256'][:12]}...)</summary>"
              f"<pre>{html.escape(manifest['scenario']['text'])}</pre></details>"]
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(scenario.name)}"
            f"</title><style>{CSS}</style></head><body>{''.join(parts)}</body></html>")

    out = Path(out) if out else run_dir / "report.html"
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out)
    workbook = out.with_name("summary.xlsx")
    with pd.ExcelWriter(workbook) as xl:
        summary.to_excel(xl, sheet_name="summary", index=False)
        for horizon in ("term", "pv"):
            headline(summary, "base", horizon).to_excel(xl, sheet_name=f"base {horizon}")
        if comparison is not None:
            comparison.to_excel(xl, sheet_name="variants", index=False)
        for title, table in assumptions(scenario).items():
            table.to_excel(xl, sheet_name=title[:31])
    return out, workbook


def capital_section(run_dir: Path, scenario: Scenario, settlement: xr.Dataset) -> list[str]:
    """Capital, cash and survival (a run with a ``[capital]`` table): figures by variant, the
    base contract's capital fan chart and ruin curve."""
    from ..capital.stored import capital_table, variant_charts

    if scenario.capital is None or not (run_dir / "capital.csv").is_file():
        return []
    summary = pd.read_csv(run_dir / "capital.csv")
    fan, ruin, _ = variant_charts(settlement, scenario.capital, summary, scenario.contract.payment_lag_months)
    return ["<h2>Capital, cash and survival</h2>",
            "<p class='note'>P(ruin): capital (assets less liabilities) below zero at some month-end "
            "until the term's last settlement; P(breach): below the required minimum; P(cash short): "
            "cash below zero after the credit line. Capital needed: the starting capital for a "
            f"{scenario.capital.ruin_level_pct:g}% probability of ruin over the term, or in any one "
            "year; $ millions, standard errors in brackets (capital.csv has every figure).</p>",
            capital_table(summary).to_html(), _png(fan), _png(ruin)]


def risk_sources_section(summary: pd.DataFrame) -> str:
    """HTML section: where the risk comes from (shares of the term gain's variance and TVaR 95%
    by source, with standard errors), from a run's summary; '' when the run has none."""
    from .sources import sources_from_summary

    table = sources_from_summary(summary)
    if table.empty:
        return ""
    shown = pd.DataFrame({
        "share of variance": [f"{v:.1%} ({s:.1%})" for v, s in zip(table.variance_share, table.variance_share_se)],
        "share of TVaR 95% beyond the mean": [f"{v:.1%} ({s:.1%})" for v, s in
                                              zip(table.tvar_95_share, table.tvar_95_share_se)]},
        index=table.source.str.replace("_", " ").rename(None))
    return ("<h2>Where the risk comes from</h2>" + shown.to_html() +
            '<p class="note">Total gain over the term, contract \'base\'; the scenario re-simulated with '
            "the cohort engine, member noise alone first and the other sources switched on in this "
            "order (a share includes the interaction with those before it); standard errors in "
            "brackets.</p>")

"""A self-contained HTML report of a run, read at a glance, and an Excel workbook beside it.

The page opens with the answer: cards for the base contract (expected result,
chance of a loss, a bad year and a bad term, in $ millions) and one sentence
per contract variant; then the tables, charts and assumptions behind them.
Every number carries its unit and Monte Carlo standard error, labels are
words, and every string from the scenario or manifest is escaped by the
template engine (``report_template.py``). Files are written without following
symbolic links (``core.files``).
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pandas as pd
import xarray as xr
from markupsafe import Markup
from matplotlib.figure import Figure

from . import plots
from .compare import compare
from .report_template import render
from .risk import headline
from .tables import term_value
from .workbook import workbook_bytes
from ..core.errors import RunError
from ..core.files import write_bytes
from ..core.units import (NOTE_SE, NOTE_TAIL, horizon_label, measure_label, money_m, percent,
                          usd_m)
from ..scenario import Scenario, load_scenario

TABLE_MEASURES = ("mean", "sd", "p_loss", "var_95", "tvar_95", "var_99_5", "tvar_99_5")


def _png(fig: Figure, alt: str) -> dict[str, str]:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return {"alt": alt, "src": "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()}


def _value(summary: pd.DataFrame, variant: str, horizon: str, measure: str) -> tuple[float, float]:
    row = summary[(summary.variant == variant) & (summary.horizon == horizon)
                  & (summary.segment == "total") & (summary.measure == measure)]
    return float(row["value"].iloc[0]), float(row["mc_se"].iloc[0])


def cards(summary: pd.DataFrame, base: str = "base") -> list[dict[str, str]]:
    """The four headline cards of ``base`` in total: expected result, chance of a loss,
    a bad year (the largest yearly VaR 95%) and a bad term (VaR 95% over the term)."""
    mean, mean_se = _value(summary, base, "term", "mean")
    pv, _ = _value(summary, base, "pv", "mean")
    p_loss, p_se = _value(summary, base, "term", "p_loss")
    years = [h for h in dict.fromkeys(summary.horizon) if h not in ("term", "pv")]
    worst = max(years, key=lambda y: _value(summary, base, y, "var_95")[0])
    year_var, year_se = _value(summary, base, worst, "var_95")
    term_var, term_se = _value(summary, base, "term", "var_95")
    tvar, _ = _value(summary, base, "term", "tvar_95")
    return [
        {"label": "Expected result over the term", "value": usd_m(mean),
         "tone": "loss" if mean < 0 else "gain",
         "detail": f"± {usd_m(mean_se)} standard error; present value {usd_m(pv)}"},
        {"label": "Chance of a loss over the term", "value": percent(p_loss), "tone": "",
         "detail": f"± {percent(p_se)} standard error"},
        {"label": "A bad year (1 in 20)", "value": usd_m(-year_var), "tone": "loss",
         "detail": f"a loss larger than this in 1 year in 20 (VaR 95% of {worst}, the worst "
                   f"year; ± {usd_m(year_se)})"},
        {"label": "A bad term (1 in 20)", "value": usd_m(-term_var), "tone": "loss",
         "detail": f"a loss larger than this over the term 1 time in 20 (VaR 95%, ± "
                   f"{usd_m(term_se)}); the worst 5% average {usd_m(-tvar)}"},
    ]


def sentences(summary: pd.DataFrame, comparison: pd.DataFrame | None,
              descriptions: dict[str, str], base: str = "base") -> list[str]:
    """One sentence per contract variant: its expected result, chance of a loss and a bad
    term over the term, and for the others the difference to ``base`` on the same paths."""
    out = []
    for variant in dict.fromkeys(summary.variant):
        mean, _ = _value(summary, variant, "term", "mean")
        p_loss, _ = _value(summary, variant, "term", "p_loss")
        var, _ = _value(summary, variant, "term", "var_95")
        about = f" ({descriptions[variant].strip()})" if descriptions.get(variant, "").strip() else ""
        text = (f"'{variant}'{about}: expect {usd_m(mean)} over the term with a {percent(p_loss)} "
                f"chance of a loss; 1 term in 20 loses more than {usd_m(var)}")
        if variant != base and comparison is not None:
            diff = comparison[(comparison.variant == variant) & (comparison.measure == "mean")].iloc[0]
            better = "better" if diff["diff"] >= 0 else "worse"
            text += (f"; {usd_m(abs(diff['diff']))} {better} than '{base}' on average "
                     f"(± {usd_m(diff['diff_se_common'])} on the same paths)")
        out.append(text + ".")
    return out


def _cell(measure: str, value: float, se: float) -> tuple[str, str]:
    if measure == "p_loss":
        return percent(value), f"± {percent(se)}"
    return money_m(value), "± n/a" if pd.isna(se) else f"± {money_m(se)}"


def gain_table(table: pd.DataFrame, title: str, first: str) -> dict:
    """A ``risk.headline`` table for the page: measures in words with units, value over error."""
    header = [first] + [f"{measure_label(m)} ({'%' if m == 'p_loss' else '$M'})" for m in TABLE_MEASURES]
    rows = [[str(name)] + [_cell(m, row[("value", m)], row[("mc_se", m)]) for m in TABLE_MEASURES]
            for name, row in table.iterrows()]
    return {"title": title, "header": header, "rows": rows, "note": ""}


def differences_table(comparison: pd.DataFrame, base: str = "base") -> dict:
    """``compare``'s differences to ``base`` for the page, each with both standard errors."""
    rows = []
    for r in comparison[comparison.variant != base].itertuples(index=False):
        show = percent if r.measure == "p_loss" else money_m
        rows.append([r.variant, measure_label(r.measure), show(r.value), show(r.diff),
                     show(r.diff_se_common), show(r.diff_se_independent)])
    return {"title": f"Differences to '{base}', over the term, undiscounted",
            "header": ["variant", "measure", "value ($M or %)", "difference", "standard error, same paths",
                       "standard error, if independent"], "rows": rows, "cls": "words2",
            "note": "The same paths make differences far more precise than each value alone: compare "
                    "the two standard errors."}


def assumptions(scenario: Scenario) -> list[dict]:
    """The key assumptions as tables in words: population and cost, the base contract's
    terms by segment, and what each variant changes."""
    seg = scenario.segments
    population = [[name, f"{s.members:,}", s.cost_model, f"{s.cost_factor:g}", _number(s.cost_trend_pct),
                    f"{s.trend_shock_sd_pct:g}", f"{s.churn_pct:g}"] for name, s in seg.items()]
    terms = {
        "budget ($ PMPM, base year)": lambda t: f"{t.budget_pmpm:,.2f}",
        "budget trend (% a year)": lambda t: f"{t.budget_trend_pct:g}",
        "surplus share (%)": lambda t: "corridors" if t.surplus_corridors else f"{t.surplus_share_pct:g}",
        "deficit share (%)": lambda t: "corridors" if t.deficit_corridors else f"{t.deficit_share_pct:g}",
        "minimum savings rate (%)": lambda t: _number(t.min_savings_rate_pct),
        "minimum loss rate (%)": lambda t: f"{t.min_loss_rate_pct:g}",
        "gain cap (% of budget)": lambda t: "none" if t.gain_cap_pct is None else f"{t.gain_cap_pct:g}",
        "loss cap (% of budget)": lambda t: "none" if t.loss_cap_pct is None else f"{t.loss_cap_pct:g}",
        "stop-loss attachment ($ per member per year)":
            lambda t: "none" if t.stop_loss is None else f"{t.stop_loss.attachment_usd:,.0f}",
        "risk adjusted": lambda t: "yes" if t.risk_adjustment is not None else "no",
        "discount off the budget (%)": lambda t: f"{t.discount_pct:g}"}
    segments = scenario.contract.segments
    contract = [[label, *(show(t) for t in segments.values())] for label, show in terms.items()]
    variants = [[name, ", ".join(f"{path} = {term_value(path, v) if isinstance(v, (int, float)) else v}"
                                 for path, v in _flat(changes).items())]
                for name, changes in scenario.variants.items()]
    tables = [{"title": "Population and cost", "note": "", "rows": population,
               "header": ["segment", "members", "cost model", "cost factor", "cost trend (% a year)",
                          "trend shock sd (points)", "churn (% a year)"]},
              {"title": "Contract terms, base", "note": "", "header": ["term", *segments], "rows": contract}]
    if variants:
        tables.append({"title": "Contract variants", "note": "Only what differs from the base contract.",
                       "header": ["variant", "changes"], "rows": variants, "cls": "words2"})
    return tables


def _number(value) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


def _flat(data: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in data.items():
        if key == "description":
            continue
        path = f"{prefix}{key}"
        out.update(_flat(value, path + ".") if isinstance(value, dict) else {path: value})
    return out


def write_report(run_dir: str | Path, out: str | Path | None = None) -> tuple[Path, Path]:
    """Write ``report.html`` and ``summary.xlsx`` (beside it) for the run in ``run_dir``."""
    run_dir = Path(run_dir)
    needed = [run_dir / name for name in ("manifest.json", "scenario.toml", "summary.csv", "settlement.nc")]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        raise RunError(f"{run_dir} is not a complete vbcsim run (missing {', '.join(missing)})")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    scenario = load_scenario(run_dir / "scenario.toml")
    summary = pd.read_csv(run_dir / "summary.csv", dtype={"horizon": str})
    with xr.open_dataset(run_dir / "settlement.nc") as ds:
        settlement = ds.load()
    variants = [str(v) for v in settlement["variant"].values]
    comparison = compare(settlement) if len(variants) > 1 else None
    descriptions = {name: c.description for name, c in scenario.contracts().items()}
    page = render(**_context(run_dir, scenario, manifest, summary, settlement, comparison, descriptions))
    out = Path(out) if out else run_dir / "report.html"
    write_bytes(out.parent, out.name, page.encode("utf-8"))
    workbook = write_bytes(out.parent, "summary.xlsx", workbook_bytes(
        summary, settlement, comparison, scenario, manifest))
    return out, workbook


def _context(run_dir, scenario, manifest, summary, settlement, comparison, descriptions) -> dict:
    variants = list(dict.fromkeys(summary.variant))
    tables = [gain_table(headline(summary, "base", h), f"Contract 'base' by segment, {horizon_label(h)}",
                         "segment") for h in ("term", "pv")]
    charts = [_png(plots.fan_chart(settlement), "Cumulative settlement fan chart"),
              _png(plots.gain_histogram(settlement), "Distribution of the settlement"),
              _png(plots.exceedance_curve(settlement), "Loss exceedance curve")]
    if len(variants) > 1:
        totals = pd.concat({v: headline(summary, v, "term").loc["total"] for v in variants}, axis=1).T
        totals.columns = pd.MultiIndex.from_tuples(totals.columns)
        tables += [gain_table(totals, "Contract variants in total, over the term, undiscounted "
                              "(same simulated paths)", "variant"), differences_table(comparison)]
        charts.insert(0, _png(plots.variant_comparison(settlement), "Contract variants compared"))
    capital = capital_section(run_dir, scenario, settlement)
    if capital is not None:
        tables.append(capital[0])
        charts += capital[1]
    shown = {k: v for k, v in manifest.items() if k != "scenario"}
    return {"sources": Markup(risk_sources_section(summary)), "title": scenario.name, "description": scenario.description.strip(), "base": "base",
            "meta": f"{manifest['trials']:,} trials, seed {manifest['seed']}, {manifest.get('engine', '')} "
                    f"engine; created {manifest['created_utc']} with vbcsim "
                    f"{manifest['versions']['vbcsim']}.",
            "cards": cards(summary), "sentences": sentences(summary, comparison, descriptions),
            "notes": f"Gains are positive, losses negative; $ millions. {NOTE_TAIL} {NOTE_SE}",
            "tables": tables, "charts": charts, "assumptions": assumptions(scenario),
            "manifest": json.dumps(shown, indent=1), "sha256": manifest["scenario"]["sha256"][:12],
            "scenario_text": manifest["scenario"]["text"]}


def capital_section(run_dir: Path, scenario: Scenario, settlement: xr.Dataset
                    ) -> tuple[dict, list[dict[str, str]]] | None:
    """Capital, cash and survival (a run with a ``[capital]`` table): the figures by variant
    as a page table, and the base contract's capital fan chart and ruin curve."""
    from ..capital.stored import capital_table, variant_charts

    if scenario.capital is None or not (run_dir / "capital.csv").is_file():
        return None
    summary = pd.read_csv(run_dir / "capital.csv")
    fan, ruin, _ = variant_charts(settlement, scenario.capital, summary, scenario.contract.payment_lag_months)
    table = capital_table(summary)
    note = ("P(ruin): capital (assets less liabilities) below zero at some month-end until the "
            "term's last settlement; P(breach): below the required minimum; P(cash short): cash "
            "below zero after the credit line. Capital needed: the starting capital for a "
            f"{scenario.capital.ruin_level_pct:g}% probability of ruin over the term, or in any one "
            "year; $ millions, standard errors in brackets (capital.csv has every figure).")
    page_table = {"title": "Capital, cash and survival", "note": note, "header": ["variant", *table.columns],
                  "rows": [[str(v), *(str(c) for c in row)] for v, row in table.iterrows()]}
    return page_table, [_png(fan, "Capital month by month"), _png(ruin, "Ruin curve")]


def risk_sources_section(summary: pd.DataFrame) -> str:
    """HTML section: where the risk comes from (shares of the term gain's variance and TVaR 95%
    by source, with standard errors), from a run's summary; '' when the run has none."""
    from .sources import SOURCE_LABELS, sources_from_summary

    table = sources_from_summary(summary)
    if table.empty:
        return ""
    shown = pd.DataFrame({
        "share of variance": [percent(v, s) for v, s in zip(table.variance_share, table.variance_share_se)],
        "share of TVaR 95% beyond the mean": [percent(v, s) for v, s in
                                              zip(table.tvar_95_share, table.tvar_95_share_se)]},
        index=table.source.map(SOURCE_LABELS).rename(None))
    return ("<h2>Where the risk comes from</h2>" + shown.to_html() +
            '<p class="note">Total gain over the term, contract \'base\'; the scenario re-simulated with '
            "the cohort engine, member noise alone first and the other sources switched on in this "
            "order (a share includes the interaction with those before it); standard errors in "
            "brackets.</p>")

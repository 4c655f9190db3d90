"""The tables the command line prints, in one set of units and words.

Money in $ millions with two decimals, probabilities in percent, Monte Carlo
standard errors in brackets, measures in words, and every table names its
horizon (over the term undiscounted, present value, or a year). The
formatting itself lives in ``core/units.py``; this module lays out tables.
"""

from __future__ import annotations

import pandas as pd

from ..core.units import (NOTE_SE, NOTE_TAIL, horizon_label, measure_label, measure_value,
                          money_m, percent)
from .risk import headline

HEADLINE_MEASURES = ("mean", "sd", "p_loss", "var_95", "tvar_95", "var_99_5", "tvar_99_5")
WIDTH = 20


def term_value(path: str, value: float) -> str:
    """A contract term's value in its own unit: dollars with separators, else as given."""
    if value != value:
        return "n/a"
    return f"{value:,.0f}" if path.endswith("_usd") else f"{value:.4g}"


def _cells(row: pd.Series) -> str:
    return "".join(f"{measure_value(k, row[('value', k)], row[('mc_se', k)]):>{WIDTH}}"
                   for k in HEADLINE_MEASURES)


def headline_text(summary: pd.DataFrame, title: str) -> str:
    """The summary a user reads after a run: the base contract by segment (term and
    present value), then every variant in total, in $ millions with standard errors."""
    header = f"{'':<16}" + "".join(f"{measure_label(k):>{WIDTH}}" for k in HEADLINE_MEASURES)
    lines = [title]
    for horizon in ("term", "pv"):
        lines += [f"\nProvider gain (+) / loss (-) {horizon_label(horizon)}, contract 'base', "
                  "$ millions (Monte Carlo standard error):", header]
        table = headline(summary, "base", horizon)
        lines += [f"{seg:<16}" + _cells(row) for seg, row in table.iterrows()]
    variants = list(dict.fromkeys(summary.variant))
    if len(variants) > 1:
        lines += [f"\nAll contract variants, total {horizon_label('term')} (same simulated paths), "
                  "$ millions:", header]
        lines += [f"{v:<16}" + _cells(headline(summary, v, "term").loc["total"]) for v in variants]
    lines.append(f"\n{NOTE_TAIL} {NOTE_SE}")
    return "\n".join(lines)


def compare_text(table: pd.DataFrame, segment: str, horizon: str, base: str) -> str:
    """``analysis.compare.compare``'s table for reading: values and differences in their units."""
    rows = []
    for r in table.itertuples(index=False):
        is_base = r.variant == base
        rows.append({"variant": r.variant, "measure": measure_label(r.measure),
                     "value (se)": measure_value(r.measure, r.value, r.mc_se),
                     f"difference to {base}": "" if is_base else measure_value(r.measure, r.diff),
                     "se, common paths": "" if is_base else measure_value(r.measure, r.diff_se_common),
                     "se, if independent": "" if is_base else
                     measure_value(r.measure, r.diff_se_independent)})
    title = (f"Contract variants, {segment}, provider gain {horizon_label(horizon)}; $ millions, "
             f"probabilities in %. Differences to '{base}' with their standard errors on the "
             "common paths and as if simulated independently:")
    return f"{title}\n{pd.DataFrame(rows).to_string(index=False)}\n{NOTE_TAIL} {NOTE_SE}"


def sweep_text(table: pd.DataFrame, paths: list[str], horizon: str, segment: str) -> str:
    """``analysis.sweep.sweep``'s grid for reading, one row per point."""
    shown = pd.DataFrame({p: [term_value(p, v) for v in table[p]] for p in paths})
    shown["expected gain"] = [money_m(v, s) for v, s in zip(table["mean"], table["mean_se"])]
    shown["standard deviation"] = [money_m(v) for v in table["sd"]]
    shown["chance of a loss"] = [percent(v) for v in table["p_loss"]]
    shown["VaR 95%"] = [money_m(v) for v in table["var_95"]]
    shown["TVaR 95%"] = [money_m(v, s) for v, s in zip(table["tvar_95"], table["tvar_95_se"])]
    shown["on frontier"] = ["yes" if f else "" for f in table["on_frontier"]]
    title = (f"Sweep, {segment}, provider gain {horizon_label(horizon)}; $ millions "
             "(Monte Carlo standard error), probabilities in %:")
    notes = "".join(f"\n{n}" for n in table.attrs.get("notes", []))
    return f"{title}\n{shown.to_string(index=False)}\n{NOTE_TAIL}{notes}"


def tornado_text(table: pd.DataFrame, horizon: str, segment: str) -> str:
    """``analysis.sweep.tornado``'s table for reading, largest swing first."""
    shown = pd.DataFrame({
        "term": table["term"],
        "low": [term_value(t, v) for t, v in zip(table["term"], table["low"])],
        "high": [term_value(t, v) for t, v in zip(table["term"], table["high"])],
        "change at low": [money_m(v, sign=True) for v in table["change_at_low"]],
        "change at high": [money_m(v, sign=True) for v in table["change_at_high"]]})
    base = money_m(table.attrs.get("base_mean", float("nan")))
    return (f"Change in expected gain, {segment}, {horizon_label(horizon)}, $ millions, each term "
            f"moved alone (expected gain under the run's contract: {base}):\n"
            f"{shown.to_string(index=False)}" + "".join(f"\n{n}" for n in table.attrs.get("notes", [])))


def programs_text(table: pd.DataFrame, trials: int) -> str:
    """``analysis.roi.compare_designs``'s table for reading."""
    shown = pd.DataFrame({
        "design": table["design"],
        "program cost": [money_m(v) for v in table["program_cost_usd"]],
        "expected gain": [money_m(v) for v in table["mean_gain_usd"]],
        "change in expected gain": [money_m(v, s, sign=True) for v, s in
                                    zip(table["delta_mean_usd"], table["delta_mean_se"])],
        "change in TVaR 95%": [money_m(v, s, sign=True) for v, s in
                               zip(table["delta_tvar_95_usd"], table["delta_tvar_95_se"])],
        "savings per $ spent": [f"{v:.2f}" for v in table["gross_savings_per_dollar"]],
        "tail reduction per $": [f"{v:.2f}" for v in table["tail_reduction_per_dollar"]]})
    return (f"Program designs, {trials:,} trials, provider gain {horizon_label('term')}, "
            "$ millions; changes to no program on the same paths (Monte Carlo standard error):\n"
            + shown.to_string(index=False).replace(" nan", " n/a"))


def breakeven_text(result, what: str, show, segment: str, horizon: str) -> str:
    """A break-even value (``sweep.Breakeven``) or bracket on stored values (``sweep.GridBreakeven``)."""
    where = f"{segment}, provider gain {horizon_label(horizon)}"
    notes = "".join(f"\n{n}" for n in getattr(result, "notes", ()))
    if not hasattr(result, "points"):
        return (f"{result.term} = {term_value(result.term, result.value)} gives {what} ({where}); "
                f"95% interval from the Monte Carlo error: [{term_value(result.term, result.ci_low)}, "
                f"{term_value(result.term, result.ci_high)}]{notes}")
    lines = [f"{result.term}: {what} ({where}) is met between the stored values "
             f"{term_value(result.term, result.below)} and {term_value(result.term, result.above)}; "
             "at each stored value in the bounds (Monte Carlo standard error):"]
    lines += [f"  {term_value(result.term, v):>12}  {show(s)} ({show(e)})" for v, s, e in result.points]
    return "\n".join(lines) + notes

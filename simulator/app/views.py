"""HTML fragments of the page: cards, differences, the bridge, the variants table.

Each figure is written with its unit and Monte Carlo standard error, and carries
its exact value in ``data-value`` (and ``data-se``) so that tests and scripts
read the numbers, not their rounding.
"""

from __future__ import annotations

import html
import math

import pandas as pd

from ..analysis.bridge import Bridge
from ..core.units import percent, usd_m
from .workbench import CARD_MEASURES

LABELS = dict(CARD_MEASURES)
HORIZONS = {"term": "over the term, undiscounted", "pv": "present value at the start of the term"}
LOSS_NOTE = ("VaR and TVaR are losses (a VaR 95% of $5M: a 5% chance of losing more than $5M); "
             "± is the Monte Carlo standard error.")


def _amount(value: float, probability: bool, signed: bool = False) -> str:
    return percent(value, sign=signed) if probability else usd_m(value, sign=signed)


def _error(se: float, probability: bool) -> str:
    """A Monte Carlo standard error, ``± $2.38M``; ``± n/a`` where too few trials give one."""
    return "± " + _amount(se, probability)


def _num(value: float, se: float, probability: bool, signed: bool = False, cls: str = "num") -> str:
    return (f'<span class="val"><span class="{cls}" data-value="{value!r}" data-se="{se!r}">'
            f'{html.escape(_amount(value, probability, signed))}</span> '
            f'<span class="se">{html.escape(_error(se, probability))}</span></span>')


def cards(table: pd.DataFrame, horizon: str) -> str:
    """One card per segment and the total: the headline measures with their errors."""
    out = []
    for segment, rows in table.groupby("segment", sort=False):
        items = "".join(
            f'<div class="measure" data-measure="{r.measure}"><span class="label">{LABELS[r.measure]}'
            f"</span>{_num(r.value, r.mc_se, r.measure == 'p_loss')}</div>"
            for r in rows.itertuples())
        out.append(f'<div class="card{" total" if segment == "total" else ""}" '
                   f'data-segment="{html.escape(segment)}"><h3>{html.escape(segment)}</h3>{items}</div>')
    return (f'<p class="note">Provider gain (+) or loss (-), {HORIZONS.get(horizon, horizon)}. '
            f"{LOSS_NOTE}</p><div class=\"cards\">{''.join(out)}</div>")


def mean_differences(table: pd.DataFrame) -> str:
    """The change in expected gain against the run's base, per segment, on the common paths."""
    cells = "".join(
        f'<div class="diff" data-segment="{html.escape(r.segment)}"><span class="label">'
        f"{html.escape(r.segment)}</span>{_num(r.diff, r.diff_se_common, False, signed=True)}</div>"
        for r in table.itertuples())
    return f'<div class="diffs">{cells}</div>'


def differences(table: pd.DataFrame, segment: str) -> str:
    """Every headline measure against the base, with errors on the common paths and, for
    contrast, as if the two had been simulated independently."""
    rows = "".join(
        f'<tr data-measure="{r.measure}"><td>{LABELS[r.measure]}</td>'
        f"<td>{_num(r.value, r.mc_se, r.measure == 'p_loss')}</td>"
        f"<td>{_num(r.diff, r.diff_se_common, r.measure == 'p_loss', signed=True)}</td>"
        f"<td>{html.escape(_error(r.diff_se_independent, r.measure == 'p_loss'))}</td></tr>"
        for r in table.itertuples())
    return (f"<table class=\"diff-table\"><caption>{html.escape(segment)}: these terms against the "
            "run's base (VaR and TVaR are losses: a negative difference is less risk)</caption><thead><tr><th>measure</th><th>these terms</th><th>difference "
            "(common paths)</th><th>error if independent</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")


def bridge(b: Bridge, segment: str) -> str:
    """The expected result step by step, as labelled bars to scale."""
    steps = b.steps
    scale = max(steps["mean_usd"].abs().max(), 1.0)
    rows = []
    for r in steps.itertuples():
        width = 100 * abs(r.mean_usd) / scale
        side = "neg" if r.mean_usd < 0 else "pos"
        total = " total" if r.step == "provider_gain" else ""
        rows.append(f'<div class="step{total}" data-step="{r.step}"><span class="label">'
                    f'{html.escape(r.label)}</span><span class="bar-wrap"><span class="bar {side}" '
                    f'style="width:{width:.1f}%"></span></span>'
                    f"{_num(r.mean_usd, r.mc_se_usd, False, signed=True)}</div>")
    budget, cost = b.budget_growth_pct, b.cost_growth_pct
    trend = "" if math.isnan(budget[0]) else (
        f'<p class="note">Budget grows {budget[0]:.2f}% a year (± {budget[1]:.2f}) against allowed '
        f"cost {cost[0]:.2f}% a year (± {cost[1]:.2f}), year 1 to the last year.</p>")
    return (f'<p class="note">{html.escape(segment)}, expected amounts over the term, undiscounted; '
            f"each step's ± is its Monte Carlo standard error.</p>"
            f'<div class="bridge">{"".join(rows)}</div>{trend}')


def saved_comparison(table: pd.DataFrame, segment: str, horizon: str) -> str:
    """Saved variants side by side: each measure's value and its difference to the base."""
    variants = list(dict.fromkeys(table.variant))
    head = "".join(f"<th>{html.escape(v)}</th>" for v in variants)
    body = []
    for measure, rows in table.groupby("measure", sort=False):
        prob = measure == "p_loss"
        cells = "".join(
            f"<td>{_num(r.value, r.mc_se, prob)}"
            + ("" if r.variant == "base" else
               f'<br><small>vs base {_num(r.diff, r.diff_se_common, prob, signed=True)}</small>')
            + "</td>" for r in rows.itertuples())
        body.append(f'<tr data-measure="{measure}"><td>{LABELS[measure]}</td>{cells}</tr>')
    return (f'<table class="variants"><caption>{html.escape(segment)}, {HORIZONS.get(horizon, horizon)}'
            f"</caption><thead><tr><th>measure</th>{head}</tr></thead><tbody>{''.join(body)}"
            "</tbody></table>")


def problems(err_lines: list[tuple[str, str]]) -> str:
    items = "".join(f"<li><code>{html.escape(p or 'terms')}</code>: {html.escape(m)}</li>"
                    for p, m in err_lines)
    return f'<ul class="problems">{items}</ul>'


def chart_captions(segment: str, horizon: str, trials: int) -> dict[str, str]:
    return {"fan_caption": f"Cumulative gain or loss by year, {segment}, these terms ({trials:,} trials)",
            "exceedance_caption": f"Chance of losing at least each amount, {segment}: these terms "
                                  "against the run's base",
            "exceedance_axis": f"Provider loss, {HORIZONS.get(horizon, horizon)}"}

"""Charts of capital: the monthly fan of capital paths and the ruin curve, each a Figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

from .calendar import CashPaths

MILLIONS = FuncFormatter(lambda x, _: f"{'-' if x < 0 else ''}${abs(x) / 1e6:,.0f}M")


def capital_fan_chart(paths: CashPaths, title: str = "") -> Figure:
    """Capital month by month: median, mean and percentile bands, the required minimum and zero."""
    capital = paths.capital_usd
    months = np.arange(capital.shape[1])
    q = np.percentile(capital, [0.5, 5, 25, 50, 75, 95, 99.5], axis=0)
    fig = Figure(figsize=(8.0, 4.8), layout="constrained")
    ax = fig.add_subplot()
    ax.fill_between(months, q[0], q[6], color="tab:green", alpha=0.12, label="0.5th-99.5th percentile")
    ax.fill_between(months, q[1], q[5], color="tab:green", alpha=0.22, label="5th-95th percentile")
    ax.fill_between(months, q[2], q[4], color="tab:green", alpha=0.35, label="25th-75th percentile")
    ax.plot(months, q[3], color="tab:green", lw=2, label="median")
    ax.plot(months, capital.mean(axis=0), color="black", ls="--", lw=1.2, label="mean")
    ax.step(months, paths.required_usd, where="post", color="tab:orange", lw=1.2,
            label="required minimum")
    ax.axhline(0, color="tab:red", lw=1.0, label="ruin (capital below zero)")
    for y in range(1, paths.years + 1):
        ax.axvline(12 * y, color="grey", lw=0.4, alpha=0.5)
    ax.set_xlim(0, months[-1])
    ax.yaxis.set_major_formatter(MILLIONS)
    ax.set_xlabel("Month from the start of the term (grey lines: year ends; after the last, run-off)")
    ax.set_ylabel("Capital (assets less liabilities)")
    ax.set_title(title or f"Capital month by month ({capital.shape[0]:,} trials)")
    ax.legend(loc="lower left", fontsize="small")
    return fig


def ruin_curve_chart(curve: pd.DataFrame, level_pct: float | None = None,
                     needed: dict[str, float] | None = None, title: str = "") -> Figure:
    """Probability of ruin over the term against starting capital, with a 95% band.

    ``curve`` is :func:`~simulator.capital.measures.ruin_curve`'s table; ``needed`` the
    solver's answer (value and interval), drawn at ``level_pct``.
    """
    fig = Figure(figsize=(8.0, 4.8), layout="constrained")
    ax = fig.add_subplot()
    x, p, se = curve.starting_usd.values, curve.p_ruin.values, curve.mc_se.values
    ax.fill_between(x, np.clip(p - 1.96 * se, 0, 1), np.clip(p + 1.96 * se, 0, 1), color="tab:red",
                    alpha=0.2, label="95% interval (Monte Carlo)")
    ax.plot(x, p, color="tab:red", lw=2, label="probability of ruin over the term")
    if level_pct is not None:
        ax.axhline(level_pct / 100, color="grey", ls=":", lw=1, label=f"target {level_pct:g}%")
    if needed is not None:
        ax.axvline(needed["value"], color="black", ls="--", lw=1,
                   label=f"capital needed ${needed['value'] / 1e6:,.1f}M")
        if np.isfinite(needed.get("ci_low", np.nan)):
            ax.axvspan(needed["ci_low"], needed["ci_high"], color="black", alpha=0.08,
                       label="its 95% interval")
    ax.set_ylim(0, max(0.05, float(np.max(p)) * 1.05))
    ax.xaxis.set_major_formatter(MILLIONS)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("Starting capital")
    ax.set_ylabel("Probability that capital falls below zero")
    ax.set_title(title or "Ruin curve")
    ax.legend(loc="upper right", fontsize="small")
    return fig

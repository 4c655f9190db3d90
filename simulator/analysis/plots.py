"""Charts of the provider's risk, one function per chart, each returning a Figure.

Figures are built with matplotlib's object API (no pyplot state), so they
render headless, in notebooks and in reports alike. Amounts are shown in
millions of dollars; gains are positive and losses negative unless a chart
says it plots losses.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

from .risk import risk_measures
from .compare import horizon_gains

MILLIONS = FuncFormatter(lambda x, _: f"{'-' if x < 0 else ''}${abs(x) / 1e6:,.0f}M")
HORIZON_LABEL = {"term": "over the term (undiscounted)", "pv": "present value"}


def _figure(width: float = 8.0, height: float = 4.8) -> tuple[Figure, object]:
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.add_subplot()


def _horizon(h: str) -> str:
    return HORIZON_LABEL.get(str(h), f"in {h}")


FAN_PERCENTILES = (1, 5, 25, 50, 75, 95, 99)


def fan_bands(settlement: xr.Dataset, variant: str = "base", segment: str = "total") -> pd.DataFrame:
    """The fan chart's numbers: percentiles (``p1`` ... ``p99``) and mean of the cumulative
    gain, one row per year; ``attrs["trials"]`` is the number of trials."""
    yearly = settlement["provider_gain_usd"].sel(variant=variant)
    yearly = yearly.sum("segment") if segment == "total" else yearly.sel(segment=segment)
    cumulative = yearly.cumsum("year").transpose("trial", "year").values
    q = np.percentile(cumulative, FAN_PERCENTILES, axis=0)
    table = pd.DataFrame({f"p{p}": q[i] for i, p in enumerate(FAN_PERCENTILES)},
                         index=pd.Index(settlement["year"].values, name="year"))
    table["mean"] = cumulative.mean(axis=0)
    table.attrs["trials"] = cumulative.shape[0]
    return table


def exceedance_points(gain: np.ndarray, max_points: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Losses from the worst down, and the probability that the loss is at least each one.

    With ``max_points``, only the trials at ranks spaced evenly in log probability are
    kept (exact sample points: every one in the far tail, fewer toward the body), enough
    to draw the curve on a log scale.
    """
    loss = np.sort(-np.asarray(gain, float))[::-1]
    p = np.arange(1, loss.size + 1) / loss.size
    if max_points is not None and loss.size > max_points:
        keep = np.unique(np.geomspace(1, loss.size, max_points).round().astype(int)) - 1
        loss, p = loss[keep], p[keep]
    return loss, p


def fan_chart(settlement: xr.Dataset, variant: str = "base", segment: str = "total") -> Figure:
    """Cumulative gain/loss over the term: median, mean and percentile bands by year."""
    bands = fan_bands(settlement, variant, segment)
    years = bands.index.values
    q = bands[[f"p{p}" for p in FAN_PERCENTILES]].values.T
    fig, ax = _figure()
    ax.fill_between(years, q[0], q[6], color="tab:blue", alpha=0.12, label="1st-99th percentile")
    ax.fill_between(years, q[1], q[5], color="tab:blue", alpha=0.22, label="5th-95th percentile")
    ax.fill_between(years, q[2], q[4], color="tab:blue", alpha=0.35, label="25th-75th percentile")
    ax.plot(years, q[3], color="tab:blue", lw=2, label="median")
    ax.plot(years, bands["mean"].values, color="black", ls="--", lw=1.5, label="mean")
    ax.axhline(0, color="grey", lw=0.8)
    ax.yaxis.set_major_formatter(MILLIONS)
    ax.set_xticks(years)
    ax.set_xlabel("Performance year")
    ax.set_ylabel("Cumulative provider gain (+) / loss (-)")
    ax.set_title(f"Cumulative settlement, {segment}, contract '{variant}' "
                 f"({bands.attrs['trials']:,} trials)")
    ax.legend(loc="lower left", fontsize="small")
    return fig


def exceedance_curve(settlement: xr.Dataset, variants: list[str] | None = None, horizon: str = "term",
                     segment: str = "total") -> Figure:
    """Probability that the loss exceeds each amount, one curve per variant."""
    gains = horizon_gains(settlement, horizon, segment)
    fig, ax = _figure()
    for v in variants or list(gains["variant"].values):
        ax.step(*exceedance_points(gains.sel(variant=v).values), where="post", label=v)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
    ax.xaxis.set_major_formatter(MILLIONS)
    ax.set_xlabel(f"Provider loss, {_horizon(horizon)}")
    ax.set_ylabel("Probability the loss is at least this large")
    ax.set_title(f"Loss exceedance, {segment}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def gain_histogram(settlement: xr.Dataset, variant: str = "base", horizon: str = "term",
                   segment: str = "total") -> Figure:
    """Distribution of gain/loss with the mean, VaR and TVaR of the loss marked."""
    g = horizon_gains(settlement, horizon, segment).sel(variant=variant).values
    m = risk_measures(g)
    fig, ax = _figure()
    ax.hist(g, bins=min(80, max(10, g.size // 25)), color="tab:blue", alpha=0.7)
    marks = [("mean gain", m["mean"][0], "black", "--"),
             ("VaR 95% (loss)", -m["var_95"][0], "tab:orange", "-"),
             ("TVaR 95% (loss)", -m["tvar_95"][0], "tab:red", "-"),
             ("VaR 99.5% (loss)", -m["var_99_5"][0], "tab:purple", ":")]
    for label, x, color, style in marks:
        shown = x if label.startswith("mean") else -x
        ax.axvline(x, color=color, ls=style, lw=1.5, label=f"{label}: {MILLIONS(shown)}")
    ax.xaxis.set_major_formatter(MILLIONS)
    ax.set_xlabel(f"Provider gain (+) / loss (-), {_horizon(horizon)}")
    ax.set_ylabel("Number of trials")
    ax.set_title(f"Distribution of the settlement, {segment}, contract '{variant}'")
    ax.legend(fontsize="small")
    return fig


def variant_comparison(settlement: xr.Dataset, variants: list[str] | None = None,
                       horizon: str = "term", segment: str = "total") -> Figure:
    """Each variant's 5th-95th and 25th-75th percentile ranges, mean (with its 95% interval)
    and the negative of TVaR 95% (the mean of the worst 5% of outcomes)."""
    gains = horizon_gains(settlement, horizon, segment)
    names = variants or list(gains["variant"].values)
    fig, ax = _figure(8.0, 2.4 + 0.5 * len(names))
    for i, v in enumerate(names):
        g = gains.sel(variant=v).values
        p5, p25, p75, p95 = np.percentile(g, [5, 25, 75, 95])
        m = risk_measures(g)
        ax.plot([p5, p95], [i, i], color="tab:blue", lw=2, label="5th-95th percentile" if i == 0 else None)
        ax.plot([p25, p75], [i, i], color="tab:blue", lw=7, alpha=0.6,
                label="25th-75th percentile" if i == 0 else None)
        ax.errorbar(m["mean"][0], i, xerr=1.96 * m["mean"][1], fmt="o", color="black", capsize=4,
                    label="mean (95% interval)" if i == 0 else None)
        ax.plot(-m["tvar_95"][0], i, "x", color="tab:red", ms=9, label="mean of worst 5% (-TVaR 95%)"
                if i == 0 else None)
    ax.set_yticks(range(len(names)), names)
    ax.axvline(0, color="grey", lw=0.8)
    ax.xaxis.set_major_formatter(MILLIONS)
    ax.set_xlabel(f"Provider gain (+) / loss (-), {_horizon(horizon)}")
    ax.set_ylabel("Contract variant")
    ax.set_title(f"Contract variants on the same simulated paths, {segment}")
    ax.set_ylim(len(names) - 0.5, -0.5)
    fig.legend(fontsize="small", loc="outside lower center", ncols=4)
    return fig


def sweep_frontier(table: pd.DataFrame) -> Figure:
    """Expected gain against TVaR 95% of the loss over a grid of terms, frontier joined."""
    terms = [c for c in table.columns if c not in {"mean", "mean_se", "sd", "p_loss", "var_95",
                                                   "tvar_95", "tvar_95_se", "on_frontier"}]
    fig, ax = _figure()
    ax.errorbar(table["tvar_95"], table["mean"], xerr=1.96 * table["tvar_95_se"],
                yerr=1.96 * table["mean_se"], fmt="o", color="tab:blue", alpha=0.7,
                label="grid point (95% intervals)")
    front = table[table["on_frontier"]].sort_values("tvar_95")
    ax.plot(front["tvar_95"], front["mean"], color="tab:red", lw=1.5, label="frontier")
    for _, row in table.iterrows():
        ax.annotate(", ".join(f"{row[t]:g}" for t in terms), (row["tvar_95"], row["mean"]),
                    fontsize="x-small", xytext=(3, 3), textcoords="offset points")
    ax.xaxis.set_major_formatter(MILLIONS)
    ax.yaxis.set_major_formatter(MILLIONS)
    ax.set_xlabel("TVaR 95% of the loss (mean of the worst 5% of outcomes)")
    ax.set_ylabel("Expected provider gain")
    ax.set_title("Expected gain against tail risk: " + " x ".join(terms))
    ax.legend(fontsize="small")
    return fig


def tornado_chart(table: pd.DataFrame) -> Figure:
    """Change in expected gain when each term alone moves to its low or high value."""
    fig, ax = _figure(8.0, 1.5 + 0.5 * len(table))
    y = np.arange(len(table))
    ax.barh(y, table["change_at_low"], color="tab:orange", label="term at its low value")
    ax.barh(y, table["change_at_high"], color="tab:blue", alpha=0.8, label="term at its high value")
    labels = [f"{r.term}\n({r.low:g} to {r.high:g})" for r in table.itertuples()]
    ax.set_yticks(y, labels, fontsize="small")
    ax.invert_yaxis()
    ax.axvline(0, color="black", lw=0.8)
    ax.xaxis.set_major_formatter(MILLIONS)
    ax.set_xlabel("Change in expected provider gain")
    ax.set_ylabel("Contract term")
    base = table.attrs.get("base_mean")
    ax.set_title("Sensitivity of expected gain" + (f" (base ${base / 1e6:,.1f}M)" if base is not None else ""))
    ax.legend(fontsize="small")
    return fig

"""The fit report: the extract's statistics beside those of the fitted model, simulated.

The fitted column is not computed from the formulas that fitted the model: the model is
run through the member engine (:func:`simulator.calibration.members.simulate_members`) and
the simulated member-years go through the same statistics as the extract. Each figure
carries a bootstrap standard error over members (members are the independent units).
"""

from __future__ import annotations

import html
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

from ..core.files import replace_file, write_text  # noqa: E402
from ..experience.costs import Severity  # noqa: E402
from ..experience.population import CostModel  # noqa: E402
from .checks import annualised_usd  # noqa: E402
from .estimate import Calibration  # noqa: E402
from .extract import ExtractError  # noqa: E402
from .latent import band_cvs, band_means  # noqa: E402
from .members import simulate_members  # noqa: E402

BOOTSTRAP = 100
SIMULATED_SLOTS = 20_000
STATISTICS = {"top1_pct": "top 1% share of cost", "top5_pct": "top 5% share", "top10_pct":
              "top 10% share", "bottom50_pct": "bottom 50% share", "zero_pct": "zero-cost years",
              "cv": "CV of annual cost", "stay_top1_pct": "top 1% still top 1% next year",
              "stay_top10_pct": "top 10% still top 10% next year"}


def statistics(cost: np.ndarray) -> dict[str, float]:
    """Concentration, zero share, CV and one-year persistence of a members x years matrix of
    annual cost (NaN where a member has no usable year).

    Persistence: of the members in the top p% of a year's cost who are there the next year,
    the share in the top p% of the next year (ranks within each year, ties in order)."""
    flat = np.sort(cost[~np.isnan(cost)])[::-1]
    n, total = len(flat), flat.sum()
    out = {f"top{p}_pct": 100 * flat[: max(1, int(round(n * p / 100)))].sum() / total for p in (1, 5, 10)}
    out["bottom50_pct"] = 100 * flat[n - n // 2:].sum() / total
    out["zero_pct"] = 100 * np.mean(flat == 0)
    out["cv"] = flat.std() / flat.mean()
    rank = np.full(cost.shape, np.nan)
    for t in range(cost.shape[1]):
        seen = ~np.isnan(cost[:, t])
        rank[seen, t] = stats.rankdata(cost[seen, t], method="ordinal") / seen.sum()
    now, nxt = rank[:, :-1].ravel(), rank[:, 1:].ravel()
    both = ~np.isnan(now) & ~np.isnan(nxt)
    for p in (1, 10):
        top = both & (now > 1 - p / 100)
        out[f"stay_top{p}_pct"] = 100 * float(np.mean(nxt[top] > 1 - p / 100)) if top.any() else np.nan
    return out


def bootstrap(cost: np.ndarray, seed: int) -> pd.DataFrame:
    """Each statistic and its bootstrap standard error (resampling members, i.e. rows)."""
    rng = np.random.default_rng(seed)
    draws = [statistics(cost[rng.integers(0, len(cost), len(cost))]) for _ in range(BOOTSTRAP)]
    return pd.DataFrame({"value": pd.Series(statistics(cost)), "se": pd.DataFrame(draws).std()})


def observed_matrix(cal: Calibration) -> np.ndarray:
    """The extract's usable annual costs (annualised as for the fit), members x years."""
    usable = cal.panel.cost_observed.any(axis=0)
    return np.where(cal.panel.cost_observed, cal.panel.cost, np.nan)[:, usable]


def simulated_matrix(model: CostModel, cal: Calibration, seed: int) -> np.ndarray:
    """Member-years of the fitted model over as many years as the extract has usable costs,
    with the book's churn, as a members x years matrix of annual cost."""
    years = int(cal.panel.cost_observed.any(axis=0).sum())
    churn = cal.segment.get("churn", (0.0,))[0]
    sim = simulate_members(model, max(SIMULATED_SLOTS, len(cal.panel.start)), max(years, 2), seed,
                           churn=churn)
    sim["cost"] = annualised_usd(sim)
    return sim.pivot(index="member_id", columns="year", values="cost").to_numpy()


def _lorenz(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c = np.sort(cost)
    share = np.concatenate([[0], np.cumsum(c) / c.sum()])
    return np.linspace(0, 1, len(share)), share


def lorenz_plot(observed: np.ndarray, simulated: np.ndarray, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for cost, label, style in ((observed, "extract", "-"), (simulated, "fitted model, simulated", "--")):
        x, y = _lorenz(cost[~np.isnan(cost)])
        ax.plot(100 * x, 100 * y, style, label=label)
    ax.plot([0, 100], [0, 100], ":", color="grey", lw=0.8, label="equal cost")
    ax.set(xlabel="members ranked by annual cost, % (lowest first)", ylabel="share of total cost, %",
           title="Cost concentration (Lorenz curve)", xlim=(0, 100), ylim=(0, 100))
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)


def _weighted_quantiles(x: np.ndarray, w: np.ndarray, probs: np.ndarray) -> np.ndarray:
    order = np.argsort(x)
    cum = np.cumsum(w[order]) - w[order] / 2
    return np.interp(probs * w.sum(), cum, x[order])


def _qq_panel(ax, fitted: np.ndarray, seen: np.ndarray, title: str) -> None:
    ax.loglog(fitted, seen, ".", ms=3)
    lo, hi = min(fitted.min(), seen.min()), max(fitted.max(), seen.max())
    ax.plot([lo, hi], [lo, hi], ":", color="grey", lw=0.8)
    ax.set_title(title, fontsize=8)
    ax.tick_params(labelsize=7)
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_minor_formatter(NullFormatter())


def qq_plot(cal: Calibration, observed: np.ndarray, simulated: np.ndarray, path: Path) -> None:
    """First, all non-zero costs of the extract against those of the simulated fit (an
    independent check); then per band the posterior-weighted quantiles of the observed
    non-zero costs (what the band's severity was fitted to) against the fitted severity."""
    pos = cal.panel.cost_observed & (cal.panel.cost > 0)
    cost, weight = cal.panel.cost[pos], cal.posterior.band[pos]
    k = weight.shape[1]
    probs = np.linspace(0.01, 0.99, 99)
    fig, axes = plt.subplots(1, k + 1, figsize=(2.5 * (k + 1), 2.9), squeeze=False)
    seen, sim = (m[~np.isnan(m) & (np.nan_to_num(m) > 0)] for m in (observed, simulated))
    _qq_panel(axes[0][0], np.quantile(sim, probs), np.quantile(seen, probs),
              f"all bands: simulated fit\n{len(seen):,} non-zero member-years")
    axes[0][0].set_xlabel("simulated quantile, $", fontsize=8)
    for b, ax in enumerate(axes[0][1:]):
        family = cal.params.family[b]
        fitted = Severity(family, band_means(cal.params)[b], band_cvs(cal.params)[b]).dist.ppf(probs)
        _qq_panel(ax, fitted, _weighted_quantiles(cost, weight[:, b], probs),
                  f"band {b + 1} ({family})\n{weight[:, b].sum():,.0f} non-zero member-years")
        ax.set_xlabel("fitted quantile, $", fontsize=8)
    axes[0][0].set_ylabel("observed quantile, $", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)


def comparison(observed: np.ndarray, simulated: np.ndarray, seed: int) -> pd.DataFrame:
    """Observed and simulated statistics side by side with their standard errors."""
    obs, sim = bootstrap(observed, seed), bootstrap(simulated, seed + 1)
    table = pd.DataFrame({"statistic": [STATISTICS[s] for s in obs.index],
                          "observed": obs.value, "observed_se": obs.se,
                          "fitted": sim.value, "fitted_se": sim.se})
    table["z"] = (table.fitted - table.observed) / np.hypot(table.observed_se, table.fitted_se)
    return table


def write_fit_report(cal: Calibration, model: CostModel, toml_text: str,
                     out: Path, seed: int = 1) -> Path:
    """Write ``lorenz.png``, ``qq.png`` and ``report.html`` into a new folder ``out``."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ExtractError(f"{out}: exists and is not empty; choose a new report folder")
    out.mkdir(parents=True, exist_ok=True)
    observed, simulated = observed_matrix(cal), simulated_matrix(model, cal, seed)
    table = comparison(observed, simulated, seed)
    with replace_file(out, "lorenz.png") as tmp:
        lorenz_plot(observed, simulated, tmp)
    with replace_file(out, "qq.png") as tmp:
        qq_plot(cal, observed, simulated, tmp)
    with replace_file(out, "statistics.csv") as tmp:
        table.to_csv(tmp, index_label="key", float_format="%.6g")
    counts = [int((~np.isnan(m)).sum()) for m in (observed, simulated)]
    write_text(out, "report.html", _page(cal, table, toml_text, *counts))
    return out / "report.html"


def _page(cal: Calibration, table: pd.DataFrame, toml_text: str, n_obs: int, n_sim: int) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(r.statistic)}</td><td>{r.observed:.3g} ({r.observed_se:.2g})</td>"
        f"<td>{r.fitted:.3g} ({r.fitted_se:.2g})</td><td>{r.z:+.1f}</td></tr>"
        for r in table.itertuples())
    checks = "".join(f"<li>{html.escape(f.line().strip())}</li>" for f in cal.findings if f.level != "ok")
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>vbcsim calibration report</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}}
table{{border-collapse:collapse}}td,th{{border-bottom:1px solid #ddd;padding:.3em .8em;text-align:right}}
td:first-child,th:first-child{{text-align:left}}pre{{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:80%}}
img{{max-width:100%}}</style></head><body>
<h1>Calibration report</h1>
<p>{len(cal.panel.start):,} members, {int(cal.panel.present.sum()):,} member-years; {n_obs:,} member-years
with usable costs. <b>Fitted</b> = the calibrated model simulated by the member engine
({n_sim:,} member-years), not the fitting formulas. In brackets: bootstrap standard errors over
members; z = difference over its standard error.</p>
<h2>Data checks (warnings)</h2><ul>{checks or "<li>none</li>"}</ul>
<h2>Observed and fitted</h2>
<table><tr><th>statistic</th><th>extract</th><th>fitted, simulated</th><th>z</th></tr>{rows}</table>
<p>Shares and persistence in percent; costs annualised for partial years (not death years).</p>
<h2>Concentration</h2><img src="lorenz.png" alt="Lorenz curves" style="width:30em">
<h2>Severity</h2><p>Left: quantiles of all non-zero annual costs of the extract against those of
the simulated fit (an independent check). Then, per band: observed quantiles of the non-zero
costs weighted by the posterior probability of the band (what the band's severity was fitted
to) against the fitted distribution's quantiles. Those weights come from the fit itself, so
the per-band plots check the family (lognormal or gamma) rather than the fit as a whole; the
table and the Lorenz curve do that. Points on the diagonal mean agreement.</p>
<img src="qq.png" alt="QQ plots">
<h2>The calibrated cost model</h2><pre>{html.escape(toml_text)}</pre>
</body></html>
"""

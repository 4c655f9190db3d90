"""Where the risk comes from: the variance (and TVaR) of the term gain by source.

The scenario is re-simulated with the fast cohort engine on one seed, first with every
systemic source switched off (member noise alone: members' costs, bands, deaths, churn and
the sampling of quality measures), then switching the sources back on one at a time in the
order of ``SOURCES``. A source's part is the increase of the variance of the base
contract's total gain over the term (and of its TVaR 95% beyond the mean) when it is
switched on, so the parts add up to the whole by construction; with a non-linear contract
(minimum savings rates, caps) a part includes the source's interaction with those before
it. Standard errors by a bootstrap over trials that keeps each trial's configurations
together (they share their members and claims, so the differences are precise).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..core.units import percent
from ..experience.engine import simulate_configurations
from ..settlement.rules import settle
from .risk import tail_measures

if TYPE_CHECKING:
    import xarray as xr

    from ..scenario import Scenario

SOURCES = ("member_noise", "trend_parameter", "trend_shocks", "pricing", "program_effect", "quality")
"""In the order they are switched on; member noise is what remains with all others off."""
SOURCE_LABELS = {"member_noise": "member noise", "trend_parameter": "expected-trend error",
                 "trend_shocks": "trend shocks and events", "pricing": "pricing error",
                 "program_effect": "program effect", "quality": "quality"}
DEFAULT_TRIALS = 400
"""Trials per configuration: the reference case's shares come with standard errors of 0.1 to
3.4 percentage points (a systemic source's variance is itself estimated from these trials; more
trials narrow it as one over their square root), and the decomposition costs less than a
1,000-trial run."""
N_BOOTSTRAP = 200


def _off(scenario: Scenario, source: str) -> dict[str, Any]:
    """The changes that switch ``source`` off (empty if the scenario does not have it)."""
    segs = scenario.segments
    if source == "trend_parameter" and any(s.trend_sd_pct for s in segs.values()):
        return {"segments": {n: {"trend_sd_pct": 0.0} for n in segs}}
    if source == "trend_shocks" and (any(s.trend_shock_sd_pct for s in segs.values())
                                     or scenario.systemic.event is not None):
        return {"segments": {n: {"trend_shock_sd_pct": 0.0} for n in segs}, "systemic": {"event": None}}
    if source == "pricing" and any(s.pricing is not None for s in segs.values()):
        return {"segments": {n: {"pricing": None} for n in segs}}
    if source == "program_effect" and scenario.program is not None:
        return {"program": {"strata": {n: {"effect_sd_pct": 0.0} for n in scenario.program.strata}}}
    if source == "quality" and _quality_moves_money(scenario):
        changes: dict[str, Any] = {"segments": {n: {"quality_score": {"sd_pct_points": 0.0}}
                                                for n, s in segs.items() if s.quality_score is not None}}
        if scenario.quality is not None:
            changes["quality"] = {"measures": {m: {"improvement_sd_pct_points": 0.0}
                                               for m in scenario.quality.measures}}
        return changes if changes["segments"] or "quality" in changes else {}
    return {}


def _quality_moves_money(scenario: Scenario) -> bool:
    return any(c.uses_quality() or any(t.equity is not None for t in c.segments.values())
               for c in scenario.contracts().values())


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for key, value in b.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) \
            else value
    return out


def configurations(scenario: Scenario) -> list[tuple[str, Scenario]]:
    """(source switched on last, scenario) for member noise alone, then each present source."""
    offs = {s: _off(scenario, s) for s in SOURCES[1:]}
    present = [s for s in SOURCES[1:] if offs[s]]
    out = []
    for k in range(len(present) + 1):
        changes: dict[str, Any] = {}
        for source in present[k:]:
            changes = _merge(changes, offs[source])
        out.append((SOURCES[0] if k == 0 else present[k - 1],
                    scenario.with_changes(changes) if changes else scenario))
    return out


def _term_gains(experience: xr.Dataset, scenario: Scenario) -> np.ndarray:
    settled = settle(experience, {"base": scenario.contract}, scenario.valuation.discount_rate_pct,
                     outputs=("provider_gain_usd",))
    return settled.provider_gain_usd.sel(variant="base").sum(["year", "segment"]).values


def _parts(gains: np.ndarray) -> np.ndarray:
    """Increments of variance and of centred TVaR 95% along the configurations: (2, configs)."""
    var = gains.var(axis=0, ddof=1)
    tvar = tail_measures(gains - gains.mean(axis=0), 95.0)["tvar_95"][0]
    return np.diff(np.stack([var, tvar]), axis=1, prepend=0.0)


def configuration_gains(scenario: Scenario, trials: int = DEFAULT_TRIALS, jobs: int = 1
                        ) -> tuple[list[str], np.ndarray]:
    """The sources in the order they are switched on, and the base contract's term gains of
    each configuration, (trials, configurations). The configurations' member counts and
    claims are simulated once (:func:`simulator.experience.engine.simulate_configurations`)."""
    configs = configurations(scenario)
    runs = [sc.with_run(trials=trials, engine="cohort") for _, sc in configs]
    gains = [_term_gains(experience, sc) for experience, sc in zip(simulate_configurations(runs, jobs), runs)]
    return [name for name, _ in configs], np.column_stack(gains)


def risk_sources(scenario: Scenario, trials: int = DEFAULT_TRIALS, jobs: int = 1,
                 seed: int = 0) -> pd.DataFrame:
    """Part of the term gain's variance and of its TVaR 95% (beyond the mean) due to each source.

    Returns
    -------
    DataFrame
        See :func:`decompose`.
    """
    return decompose(*configuration_gains(scenario, trials, jobs), seed=seed)


def decompose(sources: list[str], gains: np.ndarray, seed: int = 0) -> pd.DataFrame:
    """The decomposition of the term gains of the configurations ``gains`` (trials, sources).

    Returns
    -------
    DataFrame
        One row per source present: ``source``, ``variance_usd2``, ``variance_se``,
        ``variance_share``, ``variance_share_se``, ``tvar_95_usd``, ``tvar_95_se``,
        ``tvar_95_share``, ``tvar_95_share_se``; ``attrs["trials"]`` and ``attrs["total"]``
        (variance and its standard error on these trials).
    """
    trials = gains.shape[0]
    point = _parts(gains)
    rng = np.random.default_rng(seed)
    boot = np.stack([_parts(gains[rng.integers(0, trials, trials)]) for _ in range(N_BOOTSTRAP)])
    with np.errstate(invalid="ignore", divide="ignore"):  # NaN shares when a gain never varies
        shares = point / point.sum(axis=1, keepdims=True)
        boot_shares = boot / boot.sum(axis=2, keepdims=True)
    se, share_se = boot.std(axis=0, ddof=1), boot_shares.std(axis=0, ddof=1)
    table = pd.DataFrame({
        "source": sources,
        "variance_usd2": point[0], "variance_se": se[0],
        "variance_share": shares[0], "variance_share_se": share_se[0],
        "tvar_95_usd": point[1], "tvar_95_se": se[1],
        "tvar_95_share": shares[1], "tvar_95_share_se": share_se[1]})
    totals = boot.sum(axis=2)
    table.attrs.update(trials=trials, total_variance=(float(point[0].sum()), float(totals[:, 0].std(ddof=1))),
                       total_tvar_95=(float(point[1].sum()), float(totals[:, 1].std(ddof=1))))
    return table


def summary_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The decomposition as rows of ``summary.csv`` (base contract, total, term)."""
    rows = []
    for _, r in table.iterrows():
        rows += [("variance_share_" + r.source, r.variance_share, r.variance_share_se),
                 ("tvar_95_share_" + r.source, r.tvar_95_share, r.tvar_95_share_se)]
    total, total_se = table.attrs["total_variance"]
    rows.append(("variance_sources_total", total, total_se))
    frame = pd.DataFrame(rows, columns=["measure", "value", "mc_se"])
    frame.insert(0, "horizon", "term")
    frame.insert(0, "segment", "total")
    frame.insert(0, "variant", "base")
    return frame


def sources_from_summary(summary: pd.DataFrame) -> pd.DataFrame:
    """The decomposition back from ``summary.csv`` rows: one row per source with its shares of
    the variance and of TVaR 95% and their standard errors (empty if the run has none)."""
    rows = summary[(summary.variant == "base") & (summary.segment == "total") & (summary.horizon == "term")]
    out = []
    for source in SOURCES:
        var = rows[rows.measure == f"variance_share_{source}"]
        tvar = rows[rows.measure == f"tvar_95_share_{source}"]
        if len(var):
            out.append((source, var.value.iloc[0], var.mc_se.iloc[0], tvar.value.iloc[0], tvar.mc_se.iloc[0]))
    return pd.DataFrame(out, columns=["source", "variance_share", "variance_share_se", "tvar_95_share",
                                      "tvar_95_share_se"])


def format_sources(summary: pd.DataFrame) -> str:
    """The decomposition of a run's summary as a few lines for the terminal ('' if none)."""
    table = sources_from_summary(summary)
    if table.empty:
        return ""
    lines = ["\nWhere the risk comes from: shares of the variance and of the TVaR95 (beyond the mean) "
             "of the total gain over the term, contract 'base' (cohort engine, sources switched on "
             "in this order; standard error):",
             f"{'':<24}{'variance':>18}{'TVaR95':>18}"]
    for _, r in table.iterrows():
        lines.append(f"{SOURCE_LABELS[r.source]:<24}{percent(r.variance_share, r.variance_share_se):>18}"
                     f"{percent(r.tvar_95_share, r.tvar_95_share_se):>18}")
    return "\n".join(lines)


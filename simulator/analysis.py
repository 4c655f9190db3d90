"""Stage 3: risk measures of the provider's gain, each with its Monte Carlo error.

Gains are positive, losses negative; VaR and TVaR are stated as losses
(a 95% VaR of 5e6 means a 5% chance of losing more than $5M). Standard
errors:

- mean: sd / sqrt(n); sd: delta method with the fourth central moment;
- probabilities: sqrt(p (1 - p) / n);
- percentiles and VaR: half the distance between the order statistics that
  bound a 95% distribution-free confidence interval, divided by 1.96;
- TVaR: the asymptotic variance of the tail-mean estimator,
  (Var[L | L >= VaR] + a (TVaR - VaR)^2) / (n (1 - a))  (Manistre and
  Hancock, North American Actuarial Journal 9(2), 2005).

Where the trials are too few for an error to mean anything (the confidence
interval of a percentile runs off the sample, or a tail holds fewer than
``MIN_TAIL`` trials) the standard error is NaN: more trials are needed.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import xarray as xr

PERCENTILES = (1.0, 5.0, 50.0, 95.0, 99.0, 99.5)
TAIL_LEVELS = (95.0, 99.5)
Z95 = 1.959963984540054
MIN_TAIL = 10


def percentile(x: np.ndarray, pct: float) -> tuple[float, float]:
    """Sample percentile of ``x`` and its standard error (order-statistic interval)."""
    xs = np.sort(x)
    n = xs.size
    p = pct / 100
    half = Z95 * math.sqrt(n * p * (1 - p))
    lo, hi = math.floor(n * p - half) - 1, math.ceil(n * p + half) - 1
    se = float(xs[hi] - xs[lo]) / (2 * Z95) if 0 <= lo and hi <= n - 1 else math.nan
    return float(np.quantile(xs, p)), se


def tail_measures(gain: np.ndarray, level_pct: float) -> dict[str, tuple[float, float]]:
    """VaR and TVaR of the loss (= -gain) at ``level_pct``, with standard errors."""
    n = gain.size
    a = level_pct / 100
    q, q_se = percentile(gain, 100 - level_pct)
    var = -q
    tail = -np.sort(gain)[: max(1, math.ceil(n * (1 - a)))]
    tvar = float(tail.mean())
    tvar_se = math.nan
    if tail.size >= MIN_TAIL:
        tvar_se = math.sqrt((float(tail.var()) + a * (tvar - var) ** 2) / (n * (1 - a)))
    label = f"{level_pct:g}".replace(".", "_")
    return {f"var_{label}": (var, q_se), f"tvar_{label}": (tvar, tvar_se)}


def risk_measures(gain: np.ndarray) -> dict[str, tuple[float, float]]:
    """All summary measures of one sample of gains: ``name -> (value, standard error)``."""
    gain = np.asarray(gain, float)
    n = gain.size
    mean, sd = float(gain.mean()), float(gain.std(ddof=1)) if n > 1 else 0.0
    m4 = float(np.mean((gain - mean) ** 4))
    sd_se = math.sqrt(max(m4 - sd**4, 0.0) / (4 * sd**2 * n)) if sd > 0 else 0.0
    p_loss = float(np.mean(gain < 0))
    out = {"mean": (mean, sd / math.sqrt(n)), "sd": (sd, sd_se),
           "p_loss": (p_loss, math.sqrt(p_loss * (1 - p_loss) / n))}
    for pct in PERCENTILES:
        out[f"p{pct:g}".replace(".", "_")] = percentile(gain, pct)
    for level in TAIL_LEVELS:
        out.update(tail_measures(gain, level))
    return out


def gain_horizons(settlement: xr.Dataset) -> xr.DataArray:
    """Provider gain by horizon: each year, the whole term (undiscounted), and present value;
    by segment and in total. Dims (variant, trial, horizon, segment)."""
    yearly = settlement["provider_gain_usd"]
    parts = [yearly.assign_coords(year=[str(y) for y in yearly["year"].values]).rename(year="horizon"),
             yearly.sum("year").expand_dims(horizon=["term"]),
             settlement["pv_gain_usd"].expand_dims(horizon=["pv"])]
    by_segment = xr.concat(parts, dim="horizon").transpose("variant", "trial", "horizon", "segment")
    total = by_segment.sum("segment").expand_dims(segment=["total"], axis=-1)
    return xr.concat([by_segment, total], dim="segment")


def summarize(settlement: xr.Dataset) -> pd.DataFrame:
    """Tidy table of every risk measure: variant, segment, horizon, measure, value, mc_se."""
    gains = gain_horizons(settlement)
    rows = []
    for v in gains["variant"].values:
        for s in gains["segment"].values:
            for h in gains["horizon"].values:
                sample = gains.sel(variant=v, segment=s, horizon=h).values
                for name, (value, se) in risk_measures(sample).items():
                    rows.append((v, s, h, name, value, se))
    return pd.DataFrame(rows, columns=["variant", "segment", "horizon", "measure", "value", "mc_se"])


def headline(summary: pd.DataFrame, variant: str, horizon: str = "term") -> pd.DataFrame:
    """One row per segment of the key measures for a horizon, values with standard errors."""
    keep = ["mean", "sd", "p_loss", "p5", "p95", "var_95", "tvar_95", "var_99_5", "tvar_99_5"]
    sub = summary[(summary.variant == variant) & (summary.horizon == horizon)
                  & summary.measure.isin(keep)]
    value = sub.pivot(index="segment", columns="measure", values="value")[keep]
    se = sub.pivot(index="segment", columns="measure", values="mc_se")[keep]
    order = [s for s in dict.fromkeys(summary.segment)]
    return pd.concat({"value": value, "mc_se": se}, axis=1).loc[order]

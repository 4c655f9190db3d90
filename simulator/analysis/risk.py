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

from ..core import arrays as large
from ..core.errors import SettlementError

PERCENTILES = (1.0, 5.0, 50.0, 95.0, 99.0, 99.5)
TAIL_LEVELS = (95.0, 99.5)
Z95 = 1.959963984540054
MIN_TAIL = 10
BLOCK_VALUES = 1 << 18  # values per block of rows (2 MB): a block's temporaries stay in cache


def _quantile_of_sorted(xs: np.ndarray, p: float) -> np.ndarray:
    """``np.quantile(xs, p, axis=-1)`` (linear method) for ``xs`` sorted along the last axis."""
    position = p * (xs.shape[-1] - 1)
    lo = math.floor(position)
    hi = min(lo + 1, xs.shape[-1] - 1)
    return xs[..., lo] + (position - lo) * (xs[..., hi] - xs[..., lo])


def percentile(xs: np.ndarray, pct: float) -> tuple[np.ndarray, np.ndarray]:
    """Sample percentile of each row of ``xs`` (sorted along the last axis, the trials) and
    its standard error."""
    n = xs.shape[-1]
    p = pct / 100
    half = Z95 * math.sqrt(n * p * (1 - p))
    lo, hi = math.floor(n * p - half) - 1, math.ceil(n * p + half) - 1
    value = _quantile_of_sorted(xs, p)
    if 0 <= lo and hi <= n - 1:
        se = (xs[..., hi] - xs[..., lo]) / (2 * Z95)
    else:
        se = np.full(np.shape(value), math.nan)
    return value, se


def _mean_and_deviations(rows: np.ndarray, deviations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of each row (``rows`` C-contiguous) and, in ``deviations``, each trial's squared
    deviation from it."""
    mean = rows.sum(axis=-1) / rows.shape[-1]
    np.subtract(rows, mean[:, None], out=deviations)
    np.multiply(deviations, deviations, out=deviations)
    return mean, deviations


def _sorted_tail_measures(xs: np.ndarray, level_pct: float) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """VaR and TVaR of the loss (= -gain) at ``level_pct`` of each row of ``xs`` (gains
    sorted along the last axis), with standard errors."""
    n = xs.shape[-1]
    a = level_pct / 100
    q, q_se = percentile(xs, 100 - level_pct)
    var = -q
    tail = -xs[:, : max(1, math.ceil(n * (1 - a)))]
    tvar, squares = _mean_and_deviations(tail, np.empty_like(tail))
    tvar_se = np.full(np.shape(tvar), math.nan)
    if tail.shape[-1] >= MIN_TAIL:
        tail_var = squares.sum(axis=-1) / tail.shape[-1]
        tvar_se = np.sqrt((tail_var + a * (tvar - var) ** 2) / (n * (1 - a)))
    label = f"{level_pct:g}".replace(".", "_")
    return {f"var_{label}": (var, q_se), f"tvar_{label}": (tvar, tvar_se)}


def _block_measures(block: np.ndarray, deviations: np.ndarray,
                    percentiles: tuple[float, ...], tail_levels: tuple[float, ...],
                    loss_thresholds_usd: tuple[float, ...]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every measure of each row of ``block`` (rows of trials; sorted in place)."""
    n = block.shape[-1]
    mean, squares = _mean_and_deviations(block, deviations)
    sd = np.sqrt(squares.sum(axis=-1) / (n - 1)) if n > 1 else np.zeros_like(mean)
    np.multiply(squares, squares, out=squares)
    m4 = squares.sum(axis=-1) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        sd_se = np.where(sd > 0, np.sqrt(np.maximum(m4 - sd**4, 0.0) / (4 * sd**2 * n)), 0.0)
    p_loss = np.count_nonzero(block < 0, axis=-1) / n
    out = {"mean": (mean, sd / math.sqrt(n)), "sd": (sd, sd_se),
           "p_loss": (p_loss, np.sqrt(p_loss * (1 - p_loss) / n))}
    for x in loss_thresholds_usd:
        p = np.count_nonzero(block < -x, axis=-1) / n
        out[f"p_loss_over_{x:.0f}"] = (p, np.sqrt(p * (1 - p) / n))
    block.sort(axis=-1)
    for pct in percentiles:
        out[f"p{pct:g}".replace(".", "_")] = percentile(block, pct)
    for level in tail_levels:
        out.update(_sorted_tail_measures(block, level))
    return out


def column_measures(rows: np.ndarray, percentiles: tuple[float, ...] = PERCENTILES,
                    tail_levels: tuple[float, ...] = TAIL_LEVELS,
                    loss_thresholds_usd: tuple[float, ...] = ()) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Summary measures of each row of ``rows`` (k, n): ``name -> (value, standard error)``,
    arrays of k.

    The rows are copied a cache-sized block at a time (any layout in, no full-size
    temporaries), summed along their contiguous trials (numpy's pairwise sum: a row's
    measures are the same bits alone or in any block) and sorted once for every percentile
    and tail.
    """
    k, n = rows.shape
    per_block = max(1, BLOCK_VALUES // max(n, 1))
    block = np.empty((min(per_block, k), n))
    deviations = np.empty_like(block)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for start in range(0, k, per_block):
        stop = min(start + per_block, k)
        b = stop - start
        block[:b] = rows[start:stop]
        got = _block_measures(block[:b], deviations[:b], percentiles, tail_levels,
                              loss_thresholds_usd)
        for name, (value, se) in got.items():
            if name not in out:
                out[name] = (np.empty(k), np.empty(k))
            out[name][0][start:stop], out[name][1][start:stop] = value, se
    return out


def tail_measures(gain: np.ndarray, level_pct: float) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """VaR and TVaR of the loss (= -gain) at ``level_pct`` along the trial axis (0), with
    standard errors."""
    out = risk_measures(gain, percentiles=(), tail_levels=(level_pct,))
    return {k: v for k, v in out.items() if k.startswith(("var_", "tvar_"))}


def risk_measures(gain: np.ndarray, percentiles: tuple[float, ...] = PERCENTILES,
                  tail_levels: tuple[float, ...] = TAIL_LEVELS,
                  loss_thresholds_usd: tuple[float, ...] = ()) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Summary measures of gains along the trial axis (0): ``name -> (value, standard error)``.

    Parameters
    ----------
    gain
        A 1-D sample (scalars out) or an (n, k) array (k values per measure).
    percentiles, tail_levels
        Percentiles of the gain (``p5``) and levels of VaR/TVaR of the loss (``var_95``).
    loss_thresholds_usd
        For each X, ``p_loss_over_X``: the probability of losing more than X.
    """
    gain = np.asarray(gain, float)
    rows = gain[None, :] if gain.ndim == 1 else gain.T
    out = column_measures(rows, percentiles, tail_levels, loss_thresholds_usd)
    if gain.ndim == 1:
        return {k: (float(v[0]), float(e[0])) for k, (v, e) in out.items()}
    return out


def _nansum(values: np.ndarray, axis: int) -> np.ndarray:
    """Sum treating NaN as 0 (as xarray's ``sum`` does), on the layout given: summed as they
    are, and only if a sum is NaN summed again with NaN as 0 (no NaN search otherwise)."""
    total = values.sum(axis=axis)
    if np.isnan(total).any():
        total = np.where(np.isnan(values), 0.0, values).sum(axis=axis)
    return total


def _fill_horizons(yearly: np.ndarray, pv: np.ndarray, out: np.ndarray) -> None:
    """One variant's gains by horizon into ``out`` (segments + 1, years + 2, trials): each year,
    the term (undiscounted) and the present value, by segment and in total, from its
    ``yearly`` (segments, trials, years) and ``pv`` (segments, trials) gains."""
    n_segments, _, n_years = yearly.shape
    by_segment = out[:n_segments]
    by_segment[:, :n_years] = yearly.transpose(0, 2, 1)
    by_segment[:, n_years] = _nansum(yearly, axis=-1)
    by_segment[:, n_years + 1] = pv
    out[n_segments] = _nansum(by_segment, axis=0)


def _gains_by_variant(settlement: xr.Dataset) -> tuple[np.ndarray, np.ndarray, dict[str, list]]:
    """The yearly (variant, segment, trial, year) and present-value (variant, segment, trial)
    gains, and the coordinates of their horizons (variant, trial, horizon, segment)."""
    yearly = settlement["provider_gain_usd"].transpose("variant", "segment", "trial", "year")
    pv = settlement["pv_gain_usd"].transpose("variant", "segment", "trial")
    coords = {"variant": yearly["variant"].values, "trial": yearly["trial"].values,
              "horizon": [str(y) for y in yearly["year"].values] + ["term", "pv"],
              "segment": [*map(str, yearly["segment"].values), "total"]}
    return yearly.values, pv.values, coords


def gain_horizons(settlement: xr.Dataset) -> xr.DataArray:
    """Provider gain by horizon: each year, the whole term (undiscounted), and present value;
    by segment and in total. Dims (variant, trial, horizon, segment), laid out as
    (variant, segment, horizon, trial): each measure's sample is contiguous."""
    yearly, pv, coords = _gains_by_variant(settlement)
    n_variants, n_segments, n_trials, n_years = yearly.shape
    values = large.empty((n_variants, n_segments + 1, n_years + 2, n_trials))
    for v in range(n_variants):
        _fill_horizons(yearly[v], pv[v], values[v])
    out = xr.DataArray(values, dims=("variant", "segment", "horizon", "trial"), coords=coords,
                       name="provider_gain_usd", attrs=settlement["provider_gain_usd"].attrs)
    return out.transpose("variant", "trial", "horizon", "segment")


def check_no_nan(settlement: xr.Dataset) -> None:
    """Refuse a settlement with NaN gains: a sum or mean must never skip a trial silently."""
    for name in ("provider_gain_usd", "pv_gain_usd"):
        bad = settlement[name].isnull()
        if bool(bad.any()):
            where = bad.any([d for d in bad.dims if d not in ("variant", "segment")])
            first = {d: str(where[d].values[i]) for d, i in zip(where.dims, np.argwhere(where.values)[0])}
            trials = int(bad.any([d for d in bad.dims if d != "trial"]).sum())
            raise SettlementError(f"{name} is NaN in {trials} trial(s) (first: "
                                  f"{', '.join(f'{d} {v}' for d, v in first.items())}): the terms "
                                  "cannot be settled on this experience; no summary is made")


def replicate_mean_se(gain: np.ndarray, replicate_trials: int) -> np.ndarray:
    """Standard error of the mean along axis 0 from the means of consecutive replicates of
    ``replicate_trials`` trials (randomised quasi-Monte Carlo: trials within a replicate are
    not independent, replicates are). NaN with fewer than two whole replicates."""
    r = gain.shape[0] // replicate_trials
    if r < 2:
        return np.full(gain.shape[1:], math.nan)
    means = gain[: r * replicate_trials].reshape(r, replicate_trials, *gain.shape[1:]).mean(axis=1)
    return means.std(axis=0, ddof=1) / math.sqrt(r)


def summarize(settlement: xr.Dataset, replicate_trials: int | None = None) -> pd.DataFrame:
    """Tidy table of every risk measure: variant, segment, horizon, measure, value, mc_se.

    With ``replicate_trials`` (a quasi-Monte Carlo run), the mean's standard error comes
    from the replicates' means (:func:`replicate_mean_se`).
    """
    check_no_nan(settlement)
    yearly, pv, coords = _gains_by_variant(settlement)
    labels = pd.MultiIndex.from_product([coords[d] for d in ("variant", "segment", "horizon")],
                                        names=["variant", "segment", "horizon"]).to_frame(index=False)
    # one variant's horizons at a time: a few MB, where every variant's would be hundreds
    horizons = np.empty((len(coords["segment"]), len(coords["horizon"]), yearly.shape[2]))
    rows = horizons.reshape(-1, yearly.shape[2])
    parts: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for v in range(yearly.shape[0]):
        _fill_horizons(yearly[v], pv[v], horizons)
        of_variant = column_measures(rows)
        if replicate_trials:  # trials on axis 0, C order: the replicate means sum as before
            of_variant["mean"] = (of_variant["mean"][0],
                                  replicate_mean_se(np.ascontiguousarray(rows.T), replicate_trials))
        for name, value_and_se in of_variant.items():
            parts.setdefault(name, []).append(value_and_se)
    measures = {name: (np.concatenate([value for value, _ in got]), np.concatenate([se for _, se in got]))
                for name, got in parts.items()}
    names = list(measures)
    table = labels.loc[labels.index.repeat(len(names))].reset_index(drop=True)
    table["measure"] = np.tile(names, len(labels))
    table["value"] = np.stack([measures[m][0] for m in names], axis=1).ravel()
    table["mc_se"] = np.stack([measures[m][1] for m in names], axis=1).ravel()
    equity = equity_summary(settlement)
    return pd.concat([table, equity], ignore_index=True) if len(equity) else table


def equity_summary(settlement: xr.Dataset, n_bootstrap: int = 200, seed: int = 0) -> pd.DataFrame:
    """Equity incentive by variant and segment: each year's expected payment and disparity
    per measure; over the term, the expected payment on measured and on true rates, and the
    share of the payment's variance due to sampling noise,
    Var(measured - true) / (Var(true) + Var(measured - true)), and beside it the noise
    payment: the expected payment had no group's true rate changed (measured with the same
    noise, baseline included); all with standard errors (the share's by a bootstrap over
    trials)."""
    if "equity_payment_usd" not in settlement or not settlement["equity_payment_usd"].any():
        return pd.DataFrame(columns=["variant", "segment", "horizon", "measure", "value", "mc_se"])
    measured = settlement["equity_payment_usd"].sum("year")
    true = settlement["equity_payment_true_rates_usd"].sum("year")
    rng = np.random.default_rng(seed)
    rows = []
    for v in settlement["variant"].values:
        for s in settlement["segment"].values:
            obs, tru = measured.sel(variant=v, segment=s).values, true.sel(variant=v, segment=s).values
            if not obs.any() and not tru.any():
                continue
            n = obs.size
            share = _noise_share(obs, tru)
            boot = [_noise_share(obs[i], tru[i]) for i in rng.integers(0, n, (n_bootstrap, n))]
            yearly = settlement["equity_payment_usd"].sel(variant=v, segment=s)
            for year in settlement["year"].values:
                paid = yearly.sel(year=year).values
                rows.append((v, s, str(year), "equity_payment_mean", paid.mean(),
                             paid.std(ddof=1) / math.sqrt(n)))
                for m in settlement["measure"].values:
                    d = settlement["disparity"].sel(variant=v, segment=s, year=year, measure=m).values
                    d = d[np.isfinite(d)]
                    if d.size:
                        rows.append((v, s, str(year), f"disparity_{m}_mean", d.mean(),
                                     d.std(ddof=1) / math.sqrt(d.size) if d.size > 1 else math.nan))
            rows += [(v, s, "term", "equity_payment_mean", obs.mean(), obs.std(ddof=1) / math.sqrt(n)),
                     (v, s, "term", "equity_payment_true_rates_mean", tru.mean(),
                      tru.std(ddof=1) / math.sqrt(n)),
                     (v, s, "term", "equity_noise_share", share, float(np.nanstd(boot, ddof=1)))]
            if "equity_payment_no_change_usd" in settlement:
                null = settlement["equity_payment_no_change_usd"].sel(variant=v, segment=s).sum("year").values
                if np.isfinite(null).all():
                    rows.append((v, s, "term", "equity_noise_payment_mean", null.mean(),
                                 null.std(ddof=1) / math.sqrt(n)))
    return pd.DataFrame(rows, columns=["variant", "segment", "horizon", "measure", "value", "mc_se"])


def _noise_share(measured: np.ndarray, true: np.ndarray) -> float:
    noise, signal = np.var(measured - true), np.var(true)
    return float(noise / (noise + signal)) if noise + signal > 0 else math.nan


def headline(summary: pd.DataFrame, variant: str, horizon: str = "term") -> pd.DataFrame:
    """One row per segment of the key measures for a horizon, values with standard errors."""
    keep = ["mean", "sd", "p_loss", "p5", "p95", "var_95", "tvar_95", "var_99_5", "tvar_99_5"]
    sub = summary[(summary.variant == variant) & (summary.horizon == horizon)
                  & summary.measure.isin(keep)]
    value = sub.pivot(index="segment", columns="measure", values="value")[keep]
    se = sub.pivot(index="segment", columns="measure", values="mc_se")[keep]
    order = [s for s in dict.fromkeys(summary.segment)]
    return pd.concat({"value": value, "mc_se": se}, axis=1).loc[order]

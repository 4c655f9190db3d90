"""Contract variants side by side, with the Monte Carlo error of each difference.

Variants are settled on the same simulated paths, so the difference of a
measure between two variants is estimated far more precisely than each
measure alone (common random numbers). The table shows both errors of a
difference: on the common paths (paired: exact for the mean, a paired
bootstrap over trials for the other measures) and as if the two variants
had been simulated independently (root sum of squares of their own errors).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from .risk import gain_horizons, risk_measures

COMPARE_MEASURES = ("mean", "sd", "p_loss", "p5", "var_95", "tvar_95", "var_99_5", "tvar_99_5")


def check_view(years: list, segments: list, horizon: str, segment: str) -> None:
    """Refuse an unknown horizon or segment with one line saying what there is.

    Raises
    ------
    ValueError
        ``horizon`` is not ``term``, ``pv`` or one of ``years``, or ``segment`` is
        not one of ``segments`` or ``total``.
    """
    horizons = ["term", "pv", *(str(y) for y in years)]
    if str(horizon) not in horizons:
        raise ValueError(f"unknown horizon {horizon!r}: use term (undiscounted), pv (present value) "
                         f"or a year {horizons[2]}-{horizons[-1]}")
    if segment not in [*segments, "total"]:
        raise ValueError(f"unknown segment {segment!r}: use one of {', '.join(segments)} or total")


def horizon_gains(settlement: xr.Dataset, horizon: str = "term", segment: str = "total") -> xr.DataArray:
    """Provider gains of every variant for one horizon and segment, dims (trial, variant)."""
    check_view(list(settlement["year"].values), [str(s) for s in settlement["segment"].values],
               horizon, segment)
    return gain_horizons(settlement).sel(horizon=str(horizon), segment=segment).transpose("trial", "variant")


def compare(settlement: xr.Dataset, variants: list[str] | None = None, base: str = "base",
            horizon: str = "term", segment: str = "total", measures: tuple[str, ...] = COMPARE_MEASURES,
            n_bootstrap: int = 200, seed: int = 0) -> pd.DataFrame:
    """Risk measures of each variant and their differences to ``base``.

    Returns
    -------
    DataFrame
        One row per (variant, measure): ``value``, ``mc_se``, ``diff`` (variant - base),
        ``diff_se_common`` (on the common paths) and ``diff_se_independent``.
    """
    gains = horizon_gains(settlement, horizon, segment)
    names = list(gains["variant"].values)
    variants = variants or names
    for v in [*variants, base]:
        if v not in names:
            raise KeyError(f"no variant '{v}' in this run (have {names})")
    order = list(dict.fromkeys([base, *variants]))
    g = gains.sel(variant=order).values
    own = risk_measures(g)
    # the mean's paired error is exact, so a table of means needs no resampling
    boot = _paired_bootstrap(g, tuple(m for m in measures if m != "mean"), n_bootstrap, seed)
    rows = []
    for j, v in enumerate(order):
        for m in measures:
            value, se = own[m][0][j], own[m][1][j]
            diff = value - own[m][0][0]
            if m == "mean":
                paired = np.std(g[:, j] - g[:, 0], ddof=1) / np.sqrt(len(g))
            else:
                paired = np.std(boot[m][:, j] - boot[m][:, 0], ddof=1)
            rows.append((v, m, value, se, diff, paired, np.hypot(se, own[m][1][0]) if j else 0.0))
    return pd.DataFrame(rows, columns=["variant", "measure", "value", "mc_se", "diff",
                                       "diff_se_common", "diff_se_independent"])


def _paired_bootstrap(g: np.ndarray, measures: tuple[str, ...], n: int, seed: int
                      ) -> dict[str, np.ndarray]:
    """Each measure over bootstrap resamples of trials, the same resample for every variant."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[np.ndarray]] = {m: [] for m in measures}
    if not measures:
        return {}
    for _ in range(n):
        sample = risk_measures(g[rng.integers(0, len(g), len(g))])
        for m in measures:
            out[m].append(sample[m][0])
    return {m: np.array(v) for m, v in out.items()}

"""The blocked, vectorised risk measures equal a straightforward per-column computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr

from simulator.analysis import risk
from simulator.analysis.risk import (MIN_TAIL, PERCENTILES, TAIL_LEVELS, Z95, column_measures,
                                     gain_horizons, replicate_mean_se, risk_measures, summarize)


def reference_measures(x: np.ndarray) -> dict[str, tuple[float, float]]:
    """Every measure of one column, textbook style: its own sort, plain sums."""
    n = x.size
    xs = np.sort(x)
    mean = math.fsum(x) / n
    dev2 = (x - mean) ** 2
    sd = math.sqrt(math.fsum(dev2) / (n - 1))
    m4 = math.fsum(dev2**2) / n
    out = {"mean": (mean, sd / math.sqrt(n)),
           "sd": (sd, math.sqrt(max(m4 - sd**4, 0.0) / (4 * sd**2 * n)))}
    p = float(np.mean(x < 0))
    out["p_loss"] = (p, math.sqrt(p * (1 - p) / n))

    def pct(q: float) -> tuple[float, float]:
        value = float(np.quantile(x, q, method="linear"))
        half = Z95 * math.sqrt(n * q * (1 - q))
        lo, hi = math.floor(n * q - half) - 1, math.ceil(n * q + half) - 1
        se = (xs[hi] - xs[lo]) / (2 * Z95) if 0 <= lo and hi <= n - 1 else math.nan
        return value, se

    for q in PERCENTILES:
        out[f"p{q:g}".replace(".", "_")] = pct(q / 100)
    for level in TAIL_LEVELS:
        a = level / 100
        var, var_se = pct(1 - a)
        tail = -xs[: max(1, math.ceil(n * (1 - a)))]
        tvar = math.fsum(tail) / tail.size
        tail_var = math.fsum((tail - tvar) ** 2) / tail.size
        se = math.sqrt((tail_var + a * (tvar + var) ** 2) / (n * (1 - a)))
        label = f"{level:g}".replace(".", "_")
        out[f"var_{label}"] = (-var, var_se)
        out[f"tvar_{label}"] = (tvar, se if tail.size >= MIN_TAIL else math.nan)
    return out


@pytest.mark.parametrize("n", [997, 4_000])
def test_vectorised_measures_equal_the_per_column_reference(n, monkeypatch):
    # blocks of a few columns, so several blocks and a ragged last one are exercised
    monkeypatch.setattr(risk, "BLOCK_VALUES", 3 * n + 5)
    rng = np.random.default_rng(7)
    gains = np.column_stack([rng.normal(1e6, 4e6, n), -rng.lognormal(12, 1.5, n),
                             np.where(rng.random(n) < 0.4, 0.0, rng.normal(0, 1e5, n)),
                             rng.standard_t(3, n) * 1e6, rng.normal(0, 1, n), rng.uniform(-1, 2, n),
                             rng.normal(5e5, 1e3, n)])
    got = risk_measures(gains)
    for j in range(gains.shape[1]):
        want = reference_measures(gains[:, j])
        assert set(got) == set(want)
        for name, (value, se) in want.items():
            # sums in another order (fsum here): equal to rounding, 1e-12 relative; order
            # statistics and probabilities exactly
            assert got[name][0][j] == pytest.approx(value, rel=1e-12, abs=1e-12 * abs(value)), name
            assert got[name][1][j] == pytest.approx(se, rel=1e-12, nan_ok=True), name


@pytest.mark.parametrize("n", [5_000, 20_000])  # 20,000: longer than numpy's 8,192-value buffer
@pytest.mark.parametrize("rows_per_block", [1, 4, 6])
def test_a_column_alone_and_among_others_gives_the_same_bits(n, rows_per_block, monkeypatch):
    gains = np.random.default_rng(3).lognormal(0, 2, (n, 6)) - 3
    alone = [risk_measures(gains[:, j]) for j in range(gains.shape[1])]
    monkeypatch.setattr(risk, "BLOCK_VALUES", rows_per_block * n)  # 4: a ragged last block
    together = column_measures(np.asfortranarray(gains.T))  # any layout in
    for j, measures in enumerate(alone):
        for name, (value, se) in measures.items():
            assert together[name][0][j] == value and np.array_equal(together[name][1][j], se,
                                                                    equal_nan=True), name


def settlement_like(n_variants=3, n_segments=3, n_trials=800, n_years=9, seed=1, nan=False
                    ) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    dims = ("variant", "segment", "trial", "year")
    gain = rng.normal(0, 1e6, (n_variants, n_segments, n_trials, n_years))
    if nan:
        gain[0, 1, 5, 2] = np.nan  # NaN counts as 0 in the term and the total (as xarray sums)
    pv = rng.normal(0, 1e6, (n_variants, n_segments, n_trials))
    ds = xr.Dataset({"provider_gain_usd": (dims, gain), "pv_gain_usd": (dims[:3], pv)},
                    coords={"variant": [f"v{i}" for i in range(n_variants)],
                            "segment": [f"s{i}" for i in range(n_segments)],
                            "trial": np.arange(n_trials), "year": np.arange(2025, 2025 + n_years)})
    return ds.transpose("variant", "trial", "year", "segment")


def test_gain_horizons_are_each_year_the_term_and_pv_by_segment_and_in_total():
    ds = settlement_like(nan=True)
    g = gain_horizons(ds)
    yearly = ds["provider_gain_usd"]
    assert list(g["horizon"].values) == [str(y) for y in yearly["year"].values] + ["term", "pv"]
    assert list(g["segment"].values) == ["s0", "s1", "s2", "total"]
    np.testing.assert_array_equal(g.sel(horizon="2027", segment="s0"), yearly.sel(year=2027, segment="s0"))
    np.testing.assert_allclose(g.sel(horizon="term", segment="s1"),
                               np.nansum(yearly.sel(segment="s1"), axis=-1), rtol=1e-13)
    np.testing.assert_array_equal(g.sel(horizon="pv", segment="s2"), ds["pv_gain_usd"].sel(segment="s2"))
    np.testing.assert_allclose(g.sel(segment="total", horizon="pv"),
                               ds["pv_gain_usd"].sum("segment").transpose("variant", "trial"), rtol=1e-13)
    # only the NaN year itself stays NaN: the term and the total count it as 0 (as xarray sums)
    assert np.isfinite(g.sel(horizon="term")).all() and int(np.isnan(g).sum()) == 1


def test_summary_rows_are_the_measures_of_each_variant_segment_and_horizon():
    ds = settlement_like()
    table = summarize(ds).set_index(["variant", "segment", "horizon", "measure"])
    g = gain_horizons(ds)
    for v, s, h in [("v0", "s0", "2025"), ("v2", "total", "term"), ("v1", "s2", "pv")]:
        want = reference_measures(g.sel(variant=v, segment=s, horizon=h).values)
        for name, (value, se) in want.items():
            row = table.loc[(v, s, h, name)]
            assert row["value"] == pytest.approx(value, rel=1e-12, abs=1e-3), name
            assert row["mc_se"] == pytest.approx(se, rel=1e-12, nan_ok=True), name


@pytest.mark.parametrize("replicate_trials", [None, 100])
def test_summary_is_every_measure_of_the_gains_by_horizon_bit_for_bit(replicate_trials):
    ds = settlement_like(n_trials=1_000)
    table = summarize(ds, replicate_trials).set_index(["variant", "segment", "horizon", "measure"])
    g = gain_horizons(ds).transpose("variant", "segment", "horizon", "trial")
    rows = g.values.reshape(-1, g.sizes["trial"])
    want = column_measures(rows)
    if replicate_trials:
        want["mean"] = (want["mean"][0], replicate_mean_se(np.ascontiguousarray(rows.T), replicate_trials))
    labels = [(v, s, h) for v in g["variant"].values for s in g["segment"].values for h in g["horizon"].values]
    for i, label in enumerate(labels):
        for name, (value, se) in want.items():
            row = table.loc[(*label, name)]
            assert row["value"] == value[i] and np.array_equal(row["mc_se"], se[i], equal_nan=True), name

"""``summary.xlsx``: the run's results as an actuary uses them in Excel.

Numbers are stored as numbers with number formats ($ millions with two
decimals, probabilities as percentages), units are in the headers, every
sheet has one header row, frozen panes and a filter. Sheets: ``Summary``
(every risk measure with its standard error per variant, segment and
horizon), ``Differences`` (variants against the base on the same paths),
``Trials`` (each trial's gain per variant and segment, for pivots), ``Equity``
when the run has an equity incentive, and ``Run`` (scenario, seed, trials,
engine, versions).
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from openpyxl import Workbook
from openpyxl.utils import get_column_letter

from .risk import gain_horizons
from ..core.units import USD_PER_MILLION, horizon_label, is_probability, measure_label

EXCEL_MAX_ROWS = 1_048_576
MONEY_FORMAT = "#,##0.00;-#,##0.00"
PERCENT_FORMAT = "0.0%"
SUMMARY_MEASURES = ("mean", "sd", "p_loss", "p1", "p5", "p50", "p95", "p99", "p99_5",
                    "var_95", "tvar_95", "var_99_5", "tvar_99_5")


def _sheet(book: Workbook, title: str, header: list[str], rows: list[list[Any]],
           formats: dict[int, str | list[str]], width: int = 14) -> None:
    """One table: a header row, ``rows`` below, frozen and filtered; number formats by
    column (0-based), one for the column or a list of one per row."""
    ws = book.create_sheet(title)
    ws.append(header)
    for row in rows:
        ws.append([None if isinstance(v, float) and np.isnan(v) else v for v in row])
        for cell in ws[ws.max_row]:
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"   # text from a scenario is never a formula
    for col, fmt in formats.items():
        for i, cell in enumerate(ws.iter_rows(min_row=2, min_col=col + 1, max_col=col + 1)):
            cell[0].number_format = fmt if isinstance(fmt, str) else fmt[i]
    for i, name in enumerate(header, start=1):
        ws.column_dimensions[get_column_letter(i)].width = max(width, min(len(str(name)) + 2, 40))
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = ws.dimensions


def _summary_rows(summary: pd.DataFrame) -> tuple[list[str], list[list[Any]], dict[int, str]]:
    risk = summary[summary.measure.isin(SUMMARY_MEASURES)]
    wide = risk.set_index(["variant", "segment", "horizon", "measure"])[["value", "mc_se"]].unstack()
    keys = risk[["variant", "segment", "horizon"]].drop_duplicates().itertuples(index=False, name=None)
    wide = wide.loc[list(keys)]                    # the summary's order, not sorted
    header, formats = ["variant", "segment", "horizon"], {}
    for m in SUMMARY_MEASURES:
        unit = "%" if is_probability(m) else "$M"
        for kind, label in (("value", measure_label(m)), ("mc_se", f"{measure_label(m)}, standard error")):
            formats[len(header)] = PERCENT_FORMAT if unit == "%" else MONEY_FORMAT
            header.append(f"{label} ({unit})")
    rows = []
    for (variant, segment, horizon), row in wide.iterrows():
        cells = []
        for m in SUMMARY_MEASURES:
            scale = 1.0 if is_probability(m) else USD_PER_MILLION
            cells += [float(row[("value", m)]) / scale, float(row[("mc_se", m)]) / scale]
        rows.append([variant, segment, horizon_label(horizon), *cells])
    return header, rows, formats


def _in_unit(measure: str, *values: float) -> tuple[str, str, list[float]]:
    """A measure's unit, number format and values in that unit (probabilities stay fractions)."""
    if is_probability(measure):
        return "%", PERCENT_FORMAT, list(values)
    if measure.startswith("disparity"):
        return "rate", "0.0000", list(values)
    return "$M", MONEY_FORMAT, [v / USD_PER_MILLION for v in values]


def _difference_rows(comparison: pd.DataFrame) -> tuple[list[list[Any]], list[str]]:
    rows, formats = [], []
    for r in comparison.itertuples(index=False):
        unit, fmt, values = _in_unit(r.measure, r.value, r.mc_se, r.diff, r.diff_se_common,
                                     r.diff_se_independent)
        rows.append([r.variant, measure_label(r.measure), unit, *values])
        formats.append(fmt)
    return rows, formats


def _equity_rows(equity: pd.DataFrame) -> tuple[list[list[Any]], list[str]]:
    rows, formats = [], []
    for r in equity.itertuples(index=False):
        unit, fmt, values = _in_unit(r.measure, r.value, r.mc_se)
        rows.append([r.variant, r.segment, horizon_label(r.horizon), measure_label(r.measure), unit,
                     *values])
        formats.append(fmt)
    return rows, formats


def _trial_rows(settlement: xr.Dataset) -> list[list[Any]]:
    gains = gain_horizons(settlement).sel(horizon=["term", "pv"]) / USD_PER_MILLION
    values = gains.transpose("variant", "segment", "trial", "horizon").values
    rows = []
    for i, variant in enumerate(gains["variant"].values):
        for j, segment in enumerate(gains["segment"].values):
            for k, trial in enumerate(gains["trial"].values):
                rows.append([int(trial), str(variant), str(segment),
                             float(values[i, j, k, 0]), float(values[i, j, k, 1])])
    return rows


def _run_rows(scenario, manifest: dict[str, Any]) -> list[list[Any]]:
    rows = [["scenario", scenario.name], ["scenario file", manifest["scenario"].get("file", "")],
            ["scenario sha256", manifest["scenario"]["sha256"]], ["seed", manifest["seed"]],
            ["trials", manifest["trials"]], ["engine", manifest.get("engine", "")],
            ["trials per task", manifest.get("trials_per_block", "")],
            ["discount rate (% a year)", scenario.valuation.discount_rate_pct],
            ["created (UTC)", manifest["created_utc"]], ["command", manifest.get("command", "")],
            ["platform", manifest.get("platform", "")], ["processor", _processor(manifest)]]
    rows += [[f"version: {name}", version] for name, version in manifest["versions"].items()]
    rows.append(["timings (s)", json.dumps(manifest.get("timings_s", {}))])
    if "trials sheet" in manifest:
        rows.append(["trials sheet", manifest["trials sheet"]])
    return rows


def _processor(manifest: dict[str, Any]) -> str:
    """The processor of the run (manifests of runs made before 4 December 2026 do not name it)."""
    cpu = manifest.get("processor")
    if not cpu:
        return "not recorded"
    return f"{cpu['model']}; vector instructions: {', '.join(cpu['vector_extensions']) or 'unknown'}"


def workbook_bytes(summary: pd.DataFrame, settlement: xr.Dataset, comparison: pd.DataFrame | None,
                   scenario, manifest: dict[str, Any]) -> bytes:
    """The workbook of a run as ``.xlsx`` bytes (written by the caller, without following links)."""
    book = Workbook()
    book.remove(book.active)
    header, rows, formats = _summary_rows(summary)
    _sheet(book, "Summary", header, rows, formats)
    if comparison is not None:
        rows, formats = _difference_rows(comparison)
        _sheet(book, "Differences", ["variant", "measure", "unit", "value", "standard error",
                                     "difference to base", "standard error, same paths",
                                     "standard error, if independent"],
               rows, {c: formats for c in range(3, 8)})
    n_trial_rows = int(np.prod([settlement.sizes[d] for d in ("variant", "trial")])
                       * (settlement.sizes["segment"] + 1))
    if n_trial_rows < EXCEL_MAX_ROWS:
        _sheet(book, "Trials", ["trial", "variant", "segment", "gain over the term, undiscounted ($M)",
                                "gain, present value ($M)"], _trial_rows(settlement),
               {3: MONEY_FORMAT, 4: MONEY_FORMAT}, width=12)
    else:
        manifest = manifest | {"trials sheet": f"left out: {n_trial_rows:,} rows exceed Excel's "
                               f"{EXCEL_MAX_ROWS:,}; settlement.nc holds every trial"}
    equity = summary[summary.measure.str.startswith(("equity", "disparity"))]
    if len(equity):
        rows, formats = _equity_rows(equity)
        _sheet(book, "Equity", ["variant", "segment", "horizon", "measure", "unit", "value",
                                "standard error"], rows, {5: formats, 6: formats})
    _sheet(book, "Run", ["item", "value"], _run_rows(scenario, manifest), {}, width=24)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()

"""What ``vbcsim calibrate`` and ``vbcsim members`` do (the CLI only parses arguments)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Callable

import pandas as pd

from ..experience.population import CostModel
from ..scenario import load_scenario
from .checks import run_checks
from .estimate import Calibration, calibrate
from .extract import ExtractError, parse_columns, read_extract
from .latent import MAX_ITERATIONS, band_cvs, band_means
from .members import simulate_members, write_members
from .to_toml import calibration_toml


def model_name(text: str) -> str:
    """A valid cost-model name from a file stem: lower case, letters, digits and _."""
    name = re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_")
    name = name if name[:1].isalpha() else f"m_{name}"
    return name[:32]


def _prior(text: str | None) -> tuple[str, CostModel] | None:
    if text is None:
        return None
    path, sep, model = text.rpartition(":")
    if not sep:
        raise ExtractError(f"--prior: expected FILE.toml:MODEL, got {text!r}")
    models = load_scenario(Path(path)).cost_models
    if model not in models:
        raise ExtractError(f"--prior: {path} has no cost model {model!r}; it has {', '.join(models)}")
    return f"{Path(path).name}:{model}", models[model]


def _one_segment(frame: pd.DataFrame, segment: str | None, echo: Callable[[str], None]) -> pd.DataFrame:
    source = frame.attrs.get("source", "<extract>")
    if segment is None:
        if "segment" in frame and frame.segment.nunique() > 1:
            raise ExtractError(f"{source}: segment: {frame.segment.nunique()} segments "
                               f"({', '.join(sorted(frame.segment.unique())[:5])}); choose one with --segment")
        return frame
    if "segment" not in frame:
        raise ExtractError(f"{source}: --segment {segment}: the extract has no segment column")
    kept = frame[frame.segment == segment]
    if kept.empty:
        raise ExtractError(f"{source}: segment: no row of segment {segment!r}; the extract has "
                           f"{', '.join(sorted(frame.segment.unique())[:5])}")
    echo(f"segment {segment}: {len(kept):,} of {len(frame):,} member-years (the others are other segments)")
    kept.attrs = dict(frame.attrs)
    return kept


def run_calibrate(extract: Path, out: Path, name: str | None = None, segment: str | None = None,
                  bands: int = 5, edges: list[float] | None = None, columns: str | None = None,
                  prior: str | None = None, report: Path | None = None,
                  echo: Callable[[str], None] = print) -> Calibration:
    """Read, check, fit, write the TOML (and the report); refuse to replace any file."""
    out = Path(out)
    if out.exists():
        raise ExtractError(f"{out}: already exists; vbcsim does not overwrite a file it did not create")
    if report is not None and Path(report).exists() and any(Path(report).iterdir()):
        raise ExtractError(f"{report}: exists and is not empty; choose a new report folder")
    frame = _one_segment(read_extract(extract, parse_columns(columns)), segment, echo)
    checked = run_checks(frame, echo)
    name = name or model_name(Path(extract).stem)
    cal = calibrate(checked, bands, edges, _prior(prior))
    text = calibration_toml(cal, name, Path(extract).name)
    with open(out, "x") as handle:
        handle.write(text)
    echo(summary(cal))
    echo(f"cost model: {out} ([cost_models.{name}])")
    if report is not None:
        from .report import write_fit_report

        model = CostModel.model_validate(tomllib.loads(text)["cost_models"][name])
        echo(f"report: {write_fit_report(cal, model, text, Path(report))}")
    return cal


def summary(cal: Calibration) -> str:
    """The fitted bands and segment figures as a few lines of text."""
    p, se = cal.params, cal.se
    lines = [f"Fitted {len(p.zero)} latent bands ({cal.iterations} EM iterations); standard errors in brackets:",
             f"{'band':<6}{'mean $':>18}{'CV':>16}{'zero %':>14}{'death %':>14}{'family':>11}{'Z row':>7}"]
    for k in range(len(p.zero)):
        lines.append(f"{k + 1:<6}{f'{band_means(p)[k]:,.0f} ({se.mean_usd[k]:,.0f})':>18}"
                     f"{f'{band_cvs(p)[k]:.2f} ({se.cv[k]:.2f})':>16}"
                     f"{f'{100 * p.zero[k]:.1f} ({100 * se.zero[k]:.1f})':>14}"
                     f"{f'{100 * p.death[k]:.1f} ({100 * se.death[k]:.1f})':>14}"
                     f"{p.family[k]:>11}{cal.credibility[k]:>7.2f}")
    if cal.iterations >= MAX_ITERATIONS:
        lines.append(f"WARNING: EM stopped at its limit of {MAX_ITERATIONS} iterations, the likelihood "
                     "still rising slowly: usable, but not the exact maximum (fewer --bands converge faster)")
    seg = cal.segment
    if "churn" in seg:
        lines.append(f"churn {100 * seg['churn'][0]:.1f}% ({100 * seg['churn'][1]:.1f})")
    if "trend" in seg:
        lines.append(f"cost trend {100 * seg['trend'][0]:+.1f}% a year ({100 * seg['trend'][1]:.1f}), "
                     f"{seg['trend'][2][0]}-{seg['trend'][2][-1]}")
    return "\n".join(lines)


def run_members(scenario_path: Path, segment: str, members: int, years: int, seed: int, out: Path,
                churn: bool = False) -> pd.DataFrame:
    """Simulated member-years of a scenario segment's cost model, written to a new CSV file."""
    scenario = load_scenario(scenario_path)
    if segment not in scenario.segments:
        raise ExtractError(f"{scenario_path}: segments: no segment {segment!r}; the scenario has "
                           f"{', '.join(scenario.segments)}")
    seg = scenario.segments[segment]
    frame = simulate_members(scenario.cost_models[seg.cost_model], members, years, seed,
                             cost_factor=seg.cost_factor, churn=seg.churn_pct / 100 if churn else 0.0,
                             first_year=scenario.term.first_year, segment=segment)
    write_members(frame, out)
    return frame


def parse_edges(text: str | None) -> list[float] | None:
    """``1000,5000,20000`` as band edges in dollars."""
    if not text:
        return None
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise ExtractError(f"--edges: expected dollar amounts separated by commas, got {text!r}") from None


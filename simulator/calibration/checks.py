"""Data checks of a claims extract before any fit (ASOP No. 23, Data Quality).

Each check is a rule: a name, what it counts, whether a hit is a warning (the data are
used, in the way the message says) or a refusal (the fit cannot go on, for the reason
given). Every rule prints its count, hit or not, so the user sees what was looked at;
no row is dropped silently. :func:`run_checks` returns the extract with the columns
the fit uses: ``annual_usd`` (the cost annualised for banding) and ``cost_ok`` (the
year's costs are usable, i.e. not from a year flagged as incompletely run out).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np
import pandas as pd

from .extract import ExtractError

IMPLAUSIBLE_ANNUAL_USD = 5_000_000
"""Annualised cost above which a member-year is flagged (kept): illustrative; US annual
claimants above $5M are a few per million members, so each one deserves a look."""

MAX_AGE = 115
RUNOUT_DEPARTURE = 0.20
"""A year whose cost per member-year departs from its neighbours' by more than 20% (several
years of typical medical trend) and by more than RUNOUT_Z standard errors is flagged as
incompletely run out (illustrative threshold)."""
RUNOUT_Z = 4.0
MIN_MEMBERS = 100
"""Below this a fit is refused: a handful of members per band (illustrative)."""
FEW_MEMBERS = 1000
"""Below this the fit is made but leans on the prior (a warning; illustrative)."""


@dataclass(frozen=True)
class Finding:
    """The outcome of one rule: how many rows (or members, or years) it hit, and what it means."""

    rule: str
    count: int
    level: Literal["ok", "warning", "refused"]
    message: str

    def line(self) -> str:
        tag = {"ok": "ok     ", "warning": "WARNING", "refused": "REFUSED"}[self.level]
        return f"  {tag} {self.rule}: {self.count:,}" + (f" - {self.message}" if self.level != "ok" else "")


@dataclass(frozen=True)
class Rule:
    """A data check: ``count`` gives the number of hits and a detail for the message."""

    name: str
    level: Literal["warning", "refused"]
    reason: str
    count: Callable[[pd.DataFrame], tuple[int, str]]

    def apply(self, frame: pd.DataFrame) -> Finding:
        n, detail = self.count(frame)
        if n == 0:
            return Finding(self.name, 0, "ok", "")
        return Finding(self.name, n, self.level, f"{detail}{'; ' if detail else ''}{self.reason}")


def _rows(mask: pd.Series, frame: pd.DataFrame) -> tuple[int, str]:
    n = int(mask.sum())
    first = frame.loc[mask].head(3)
    shown = ", ".join(f"{m}/{y:g}" for m, y in zip(first.member_id, first.year))
    return n, f"e.g. member/year {shown}" if n else ""


def _column(name: str, test: Callable[[pd.Series], pd.Series]) -> Callable[[pd.DataFrame], tuple[int, str]]:
    def count(frame: pd.DataFrame) -> tuple[int, str]:
        if name not in frame:
            return 0, ""
        return _rows(test(frame[name]), frame)
    return count


def _gaps(frame: pd.DataFrame) -> tuple[int, str]:
    span = frame.groupby("member_id").year.agg(["min", "max", "count"])
    gappy = span["max"] - span["min"] + 1 > span["count"]
    return int(gappy.sum()), "members absent in a year between their first and last"


def _after_death(frame: pd.DataFrame) -> tuple[int, str]:
    if "died" not in frame:
        return 0, ""
    death_year = frame.loc[frame.died == 1].groupby("member_id").year.min()
    later = frame.member_id.map(death_year)
    return _rows(later.notna() & (frame.year > later), frame)


def _members(frame: pd.DataFrame, below: int) -> tuple[int, str]:
    n = frame.member_id.nunique()
    return (n, f"{n:,} distinct members, fewer than {below:,}") if n < below else (0, "")


def annualised_usd(frame: pd.DataFrame) -> pd.Series:
    """Cost x 12 / months for partial years, except a death year, which keeps its cost (in
    the model a death year's cost is a full draw of the band's severity)."""
    died = frame["died"] == 1 if "died" in frame else pd.Series(False, index=frame.index)
    return frame.allowed_usd.where(died, frame.allowed_usd * 12 / frame.months)


RULES: tuple[Rule, ...] = (
    Rule("missing member_id", "refused", "every row needs the member it belongs to",
         lambda f: _rows(f.member_id == "", f)),
    Rule("duplicate (member, year) rows", "refused", "cannot tell which row is right: combine "
         "or remove them", lambda f: _rows(f.duplicated(["member_id", "year"], keep=False), f)),
    Rule("missing cost", "refused", "a missing cost is not a zero: fill it or remove the row",
         _column("allowed_usd", lambda s: s.isna())),
    Rule("negative cost", "refused", "net reversals within the member-year first",
         _column("allowed_usd", lambda s: s < 0)),
    Rule("months outside 1-12 (or not whole)", "refused", "months is the member's months of "
         "eligibility in that year", _column("months", lambda s: ~s.isin(range(1, 13)))),
    Rule("year missing or not whole", "refused", "year is a calendar year",
         _column("year", lambda s: s.isna() | (s != s.round()))),
    Rule("died not 0/1", "refused", "died is 1 in the year of death, else 0",
         _column("died", lambda s: ~s.isin([0, 1]))),
    Rule("weight missing or not positive", "refused", "weights are positive sampling weights",
         _column("weight", lambda s: ~(s > 0))),
    Rule("rows after the year of death", "refused", "a member cannot appear after dying",
         _after_death),
    Rule("too few members", "refused", "too few members for a stable fit",
         lambda f: _members(f, MIN_MEMBERS)),
    Rule("members with gaps", "warning", "missing years are treated as unobserved (no "
         "transition is counted across a gap)", _gaps),
    Rule(f"annualised cost above ${IMPLAUSIBLE_ANNUAL_USD:,}", "warning", "kept: check they "
         "are not data errors", lambda f: _rows(annualised_usd(f) > IMPLAUSIBLE_ANNUAL_USD, f)),
    Rule(f"age outside 0-{MAX_AGE}", "warning", "kept (age is not used by the fit)",
         _column("age", lambda s: (s < 0) | (s > MAX_AGE))),
    Rule("partial-year exposure (months < 12)", "warning", "cost annualised (x 12/months) "
         "for banding and severity, except death years; exposure kept as is for the trend",
         lambda f: _rows(f.months < 12, f)),
    Rule("small book", "warning", "the fit leans on the prior (see the credibility weights)",
         lambda f: _members(f, FEW_MEMBERS) if f.member_id.nunique() >= MIN_MEMBERS else (0, "")),
)


def year_costs(frame: pd.DataFrame) -> pd.DataFrame:
    """Cost per member-year of exposure by calendar year with its standard error (a ratio
    estimator: sum of cost over sum of exposure, weighted)."""
    w = frame["weight"] if "weight" in frame else pd.Series(1.0, index=frame.index)
    rows = []
    for year, g in frame.groupby("year"):
        wg = w.loc[g.index].to_numpy()
        cost, exposure = g.allowed_usd.to_numpy(), g.months.to_numpy() / 12
        ratio = np.sum(wg * cost) / np.sum(wg * exposure)
        resid = wg * (cost - ratio * exposure)
        se = np.sqrt(len(g) / max(len(g) - 1, 1) * np.sum(resid**2)) / np.sum(wg * exposure)
        rows.append((int(year), ratio, se, len(g), float(np.sum(wg * exposure))))
    return pd.DataFrame(rows, columns=["year", "cost_per_member_year_usd", "se_usd",
                                       "member_years", "exposure_years"]).set_index("year")


def incomplete_years(costs: pd.DataFrame) -> list[tuple[int, float, float]]:
    """Years whose cost departs sharply from their neighbours', worst first, each removed
    before the next is looked for: ``(year, departure as a fraction, z)``."""
    flagged = []
    kept = costs.copy()
    while len(kept) >= 2:
        level = np.log(kept.cost_per_member_year_usd.to_numpy())
        se = kept.se_usd.to_numpy() / kept.cost_per_member_year_usd.to_numpy()
        worst = None
        for i in range(len(kept)):
            near = [j for j in (i - 1, i + 1) if 0 <= j < len(kept)]
            gap = level[i] - np.mean(level[near])
            z = gap / np.sqrt(se[i] ** 2 + np.mean(se[near] ** 2) / len(near))
            if abs(np.expm1(gap)) > RUNOUT_DEPARTURE and abs(z) > RUNOUT_Z:
                if worst is None or abs(gap) > abs(worst[1]):
                    worst = (int(kept.index[i]), gap, z)
        if worst is None:
            break
        flagged.append((worst[0], float(np.expm1(worst[1])), float(worst[2])))
        kept = kept.drop(index=worst[0])
    return flagged


def run_checks(frame: pd.DataFrame, echo: Callable[[str], None] = print) -> pd.DataFrame:
    """Apply every rule, print its count, refuse if any rule refuses; flag incomplete years.

    Returns
    -------
    DataFrame
        The extract with ``annual_usd`` and ``cost_ok`` added; ``attrs['findings']`` holds
        the findings and ``attrs['incomplete_years']`` the flagged years.
    """
    source = frame.attrs.get("source", "<extract>")
    echo(f"Data checks of {source} ({len(frame):,} member-years, "
         f"{frame.member_id.nunique():,} members):")
    findings = [rule.apply(frame) for rule in RULES]
    for f in findings:
        echo(f.line())
    refused = [f for f in findings if f.level == "refused"]
    if refused:
        raise ExtractError("\n".join(f"{source}: {f.rule}: {f.count:,} - {f.message}" for f in refused))
    out = frame.copy()
    out.attrs = dict(frame.attrs)
    out["year"] = out.year.astype(int)
    out["annual_usd"] = annualised_usd(out)
    flagged = incomplete_years(year_costs(out))
    for year, departure, z in flagged:
        finding = Finding(f"year {year} departs from its neighbours", int((out.year == year).sum()),
                          "warning", f"cost per member-year {departure:+.0%} (z = {z:.1f}): "
                          "incomplete run-out? Its costs are left out of the fit (bands, "
                          "severity, zero share, trend); its membership and deaths are kept")
        findings.append(finding)
        echo(finding.line())
    if not flagged:
        echo("  ok      years departing sharply from their neighbours (incomplete run-out): 0")
    out["cost_ok"] = ~out.year.isin([y for y, _, _ in flagged])
    out.attrs.update(findings=findings, incomplete_years=[y for y, _, _ in flagged])
    return out

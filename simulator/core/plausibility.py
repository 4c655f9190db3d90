"""Plausibility warnings: legal values that are almost certainly a unit slip.

A field ending in ``_pct`` is in percent, so ``churn_pct = 0.2`` is a legal
0.2% but almost always a fraction typed for 20%. Which fields are checked, and
over which range a value is suspicious, is declared once in :data:`DECLARATIONS`;
:func:`plausibility_warnings` walks a scenario or contract file's content (as
parsed, before defaults are filled in) and reports every suspicious value with
its dotted path. ``vbcsim validate`` and ``vbcsim run`` print them; ``--strict``
makes them errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Suspicious:
    """Values of ``fields`` strictly between ``low`` and ``high`` are probably a unit slip."""

    fields: frozenset[str]
    low: float
    high: float
    expected: str

    def message(self, field: str, value: float) -> str:
        return (f"{value:g} looks like a fraction typed for a percent: {field} is {self.expected} "
                f"(did you mean {100 * value:g}?)")


SHARES = frozenset({
    "churn_pct", "surplus_share_pct", "deficit_share_pct", "share_pct", "coinsurance_pct",
    "weight_pct", "prior_year_weights_pct", "engagement_pct", "accuracy_pct", "eligible_pct",
    "baseline_rate_pct", "mean_pct", "gate_pct", "sliding_scale_below_pct", "min_score_pct",
    "withhold_full_score_pct", "floor_pct", "cap_pct", "attachment_pct", "effect_mean_pct"})
"""Shares, rates and scores that are whole percents in practice: 0 < value < 1 is a slip."""

ANNUAL_RATES = frozenset({"cost_trend_pct", "budget_trend_pct", "premium_trend_pct",
                          "withhold_pct", "bonus_pct"})
"""Yearly trends and budget percentages of a few percent: 0 < value < 0.2 is a slip
(0.036 for 3.6%); a genuine trend below 0.2% a year is rare enough to be worth a question."""

DECLARATIONS = (
    Suspicious(SHARES, 0.0, 1.0, "in percent (20 means 20%)"),
    Suspicious(ANNUAL_RATES, 0.0, 0.2, "in percent a year (3.6 means 3.6%)"),
)


def plausibility_warnings(data: Any, path: str = "") -> list[tuple[str, str]]:
    """``(dotted field path, message)`` for each suspicious value in ``data``."""
    out = []
    if isinstance(data, dict):
        for key, value in data.items():
            where = f"{path}.{key}" if path else str(key)
            rules = [d for d in DECLARATIONS if key in d.fields]
            for rule in rules:
                out += [(p, rule.message(key, v)) for p, v in _numbers(value, where)
                        if rule.low < v < rule.high]
            if not rules:
                out += plausibility_warnings(value, where)
    elif isinstance(data, list):
        for i, value in enumerate(data):
            out += plausibility_warnings(value, f"{path}.{i}")
    return out


def _numbers(value: Any, path: str) -> Iterator[tuple[str, float]]:
    """Every number under ``value`` (a number, or lists/tables of them) with its path."""
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        yield path, float(value)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _numbers(v, f"{path}.{i}")
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _numbers(v, f"{path}.{k}")

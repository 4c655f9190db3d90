"""Shared pieces of the typed input models: strict base class, percent type, error paths."""

from __future__ import annotations

import copy
import re
from typing import Any, Annotated

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

Percent = Annotated[float, Field(ge=0.0, le=100.0)]
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]


def _check_trend(value: float | list[float]) -> float | list[float]:
    for t in (value if isinstance(value, list) else [value]):
        if not -50 < t < 100:
            raise ValueError(f"expected trend(s) between -50 and 100 percent, got {t}")
    return value


TrendPct = Annotated[float | list[float], AfterValidator(_check_trend)]
"""Annual trend in percent: one number for every year, or one per year of the term."""


def per_year_fraction(value: float | list[float], years: int) -> np.ndarray:
    """A :data:`TrendPct` as fractions, one per year of the term."""
    pct = np.asarray(value, float) if isinstance(value, list) else np.full(years, value, float)
    return pct / 100.0


def check_per_year(value: float | list[float], years: int, path: str) -> None:
    """Raise ``ValueError`` naming ``path`` if a per-year list has the wrong length."""
    if isinstance(value, list) and len(value) != years:
        raise ValueError(f"{path}: expected one number or {years} (one per year), got {len(value)}")


class StrictModel(BaseModel):
    """Input model that rejects unknown keys, NaN/inf and silent type coercion."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True,
                              defer_build=True)


_LEADING_PATH = re.compile(r"^([a-z_][a-z0-9_]*(?:\.[a-z0-9_*]+)*): (.*)$", re.S)


def check_sums_to_100(weights_pct: list[float], field: str) -> None:
    """Raise ``ValueError`` naming ``field`` unless the percent weights sum to 100."""
    if abs(sum(weights_pct) - 100) > 1e-9:
        raise ValueError(f"{field}: must sum to 100, sums to {sum(weights_pct):g}")


def validation_problems(err: ValidationError) -> list[tuple[str, str]]:
    """``(dotted field path, message)`` for each problem in a pydantic error.

    Cross-field checks raise ``ValueError("some.path: what is wrong")``; the path
    they name is appended to the location of the model that raised them.
    """
    problems = []
    for e in err.errors(include_url=False):
        path = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        named = _LEADING_PATH.match(msg) if e["type"] == "value_error" else None
        if named:
            path = f"{path}.{named.group(1)}" if path else named.group(1)
            msg = named.group(2)
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check its spelling and where it sits)"
        elif e["type"] == "missing":
            msg = "required key is missing"
        elif "input" in e and not isinstance(e["input"], (dict, list)):
            msg = f"{msg}; got {e['input']!r}"
        problems.append((path, msg))
    return problems


def deep_merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` merged in, recursively for nested tables."""
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out

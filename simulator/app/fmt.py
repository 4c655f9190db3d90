"""How the page writes money and probabilities (one place, to swap for the project's formatter)."""

from __future__ import annotations

import math


def money(value_usd: float, signed: bool = False) -> str:
    """Dollars as $ millions with two decimals: ``-$115.75M`` (``+`` shown when ``signed``)."""
    if math.isnan(value_usd):
        return "n/a"
    sign = "-" if value_usd < 0 else "+" if signed and value_usd > 0 else ""
    return f"{sign}${abs(value_usd) / 1e6:,.2f}M"


def percent(fraction: float, signed: bool = False) -> str:
    """A probability as a percent with one decimal: ``86.6%``."""
    if math.isnan(fraction):
        return "n/a"
    return f"{fraction:+.1%}" if signed else f"{fraction:.1%}"


def amount(value: float, is_probability: bool, signed: bool = False) -> str:
    return percent(value, signed) if is_probability else money(value, signed)


def error(se: float, is_probability: bool) -> str:
    """A Monte Carlo standard error, ``± $2.38M``; ``n/a`` where too few trials give one."""
    return "± n/a" if math.isnan(se) else "± " + amount(se, is_probability)

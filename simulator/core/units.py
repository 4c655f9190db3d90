"""The one way vbcsim writes money, probabilities, measures and horizons for a reader.

Every table a user reads (the CLI's, the report's, the workbook's headers)
goes through these functions, so a figure looks the same wherever it
appears: money in $ millions with two decimals, probabilities in percent,
a Monte Carlo standard error in brackets after its value (``n/a`` where the
trials are too few for one), measures and horizons named in words.
"""

from __future__ import annotations

import argparse
import math
import re

USD_PER_MILLION = 1e6

#: Measure codes (as in ``summary.csv``) and the words a reader sees.
MEASURE_WORDS = {
    "mean": "expected gain",
    "sd": "standard deviation",
    "p_loss": "chance of a loss",
    "p1": "1st percentile",
    "p5": "5th percentile",
    "p50": "median",
    "p95": "95th percentile",
    "p99": "99th percentile",
    "p99_5": "99.5th percentile",
    "var_95": "VaR 95%",
    "tvar_95": "TVaR 95%",
    "var_99_5": "VaR 99.5%",
    "tvar_99_5": "TVaR 99.5%",
    "equity_payment_mean": "expected equity payment",
    "equity_payment_true_rates_mean": "expected equity payment on true rates",
    "equity_noise_share": "share of equity payment variance from sampling noise",
}

#: Horizon codes and the words a reader sees.
HORIZON_WORDS = {"term": "over the term, undiscounted", "pv": "present value"}

NOTE_TAIL = ("VaR and TVaR are losses: a VaR 95% of 5.00 means a 5% chance of losing more "
             "than $5.00M.")
NOTE_SE = "Figures in brackets are Monte Carlo standard errors; n/a: too few trials for one."


def _missing(x: float | None) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def money_m(usd: float, se: float | None = None, sign: bool = False) -> str:
    """``usd`` in $ millions with two decimals, its standard error in brackets if given.

    >>> money_m(-59_370_000, 1_350_000)
    '-59.37 (1.35)'
    """
    fmt = "{:+,.2f}" if sign else "{:,.2f}"
    text = "n/a" if _missing(usd) else fmt.format(usd / USD_PER_MILLION)
    if se is None:
        return text
    return f"{text} ({'n/a' if _missing(se) else f'{se / USD_PER_MILLION:,.2f}'})"


def usd_m(usd: float, sign: bool = False) -> str:
    """An amount in words-ready form, sign first: ``-$50.00M``, ``$2.50M`` (``+$2.50M`` with
    ``sign``)."""
    if _missing(usd):
        return "n/a"
    first = "-" if usd < 0 else "+" if sign and usd > 0 else ""
    return f"{first}${abs(usd) / USD_PER_MILLION:,.2f}M"


def percent(p: float, se: float | None = None, digits: int = 1, sign: bool = False) -> str:
    """A probability ``p`` (0-1) in percent, its standard error in brackets if given.

    >>> percent(0.84, 0.008)
    '84.0% (0.8%)'
    """
    text = "n/a" if _missing(p) else f"{100 * p:{'+' if sign else ''}.{digits}f}%"
    if se is None:
        return text
    return f"{text} ({'n/a' if _missing(se) else f'{100 * se:.{digits}f}%'})"


def is_probability(measure: str) -> bool:
    """Whether a measure code is a probability or share (shown in percent), not money."""
    return measure.startswith("p_loss") or measure.endswith("_share")


def measure_value(measure: str, value: float, se: float | None = None) -> str:
    """A measure's value in its unit: percent for probabilities, else $ millions."""
    return percent(value, se) if is_probability(measure) else money_m(value, se)


def measure_label(measure: str) -> str:
    """Words for a measure code: ``p_loss`` -> ``chance of a loss``; unknown codes pass through.

    ``p_loss_over_X`` reads ``chance of losing more than $xM``.
    """
    if measure in MEASURE_WORDS:
        return MEASURE_WORDS[measure]
    over = re.fullmatch(r"p_loss_over_(\d+)", measure)
    if over:
        return f"chance of losing more than {usd_m(float(over.group(1)))}"
    disparity = re.fullmatch(r"disparity_(.+)_mean", measure)
    if disparity:
        return f"expected disparity, {disparity.group(1)}"
    return measure.replace("_", " ")


def measure_unit(measure: str) -> str:
    """The unit a measure is shown in: ``%`` or ``$M``."""
    return "%" if is_probability(measure) else "$M"


def horizon_label(horizon: str) -> str:
    """Words for a horizon: ``term``, ``pv`` or a year (``in 2021``)."""
    return HORIZON_WORDS.get(str(horizon), f"in {horizon}")


def gain_title(horizon: str, what: str = "Provider gain (+) / loss (-)") -> str:
    """The title line of a money table: what, horizon in words, unit, and the bracket note."""
    return f"{what} {horizon_label(horizon)}, $ millions (Monte Carlo standard error)"


_MONEY = re.compile(r"^\s*(?P<sign>[-+]?)\s*\$?\s*(?P<number>[0-9][0-9,]*\.?[0-9]*|\.[0-9]+)"
                    r"\s*(?P<unit>[a-zA-Z$]*)\s*$")
_MONEY_UNITS = {"": USD_PER_MILLION, "m": USD_PER_MILLION, "$m": USD_PER_MILLION,
                "musd": USD_PER_MILLION, "k": 1e3, "b": 1e9, "usd": 1.0, "$": 1.0}


def parse_money_usd(text: str) -> float:
    """Read a money argument: a plain number is $ millions; ``k``, ``M``, ``B`` or ``usd`` say otherwise.

    ``-50`` and ``-50M`` are -$50,000,000; ``250k`` is $250,000; ``1500usd`` is $1,500.
    Raises ``argparse.ArgumentTypeError`` (a one-line message) on anything else.
    """
    match = _MONEY.match(str(text))
    unit = match.group("unit").lower() if match else None
    if match is None or unit not in _MONEY_UNITS:
        raise argparse.ArgumentTypeError(
            f"expected an amount in $ millions (e.g. -50 or 2.5), or with a unit "
            f"(250k, 50M, 1B, 1500usd); got {text!r}")
    value = float(match.group("number").replace(",", "")) * _MONEY_UNITS[unit]
    return -value if match.group("sign") == "-" else value


def parse_probability(text: str) -> float:
    """Read a probability: ``0.05`` or ``5%``. Raises ``argparse.ArgumentTypeError`` if not in [0, 1]."""
    raw = str(text).strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a probability such as 0.05 or 5%, got {text!r}")
    return value

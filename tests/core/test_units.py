"""The one formatter of money, probabilities, measures and horizons."""

import argparse
import math

import pytest

from simulator.core.units import (horizon_label, measure_label, measure_value, money_m, usd_m,
                                  parse_money_usd, parse_probability, percent)


def test_money_in_millions_with_two_decimals_and_error_in_brackets():
    assert money_m(-59_370_000, 1_350_000) == "-59.37 (1.35)"
    assert money_m(-115_750_000) == "-115.75"
    assert money_m(1_234_567_890) == "1,234.57"
    assert money_m(5e6, math.nan) == "5.00 (n/a)"
    assert money_m(2e6, sign=True) == "+2.00"


def test_percent_with_error():
    assert percent(0.84, 0.008) == "84.0% (0.8%)"
    assert percent(0.0, math.nan) == "0.0% (n/a)"


def test_measures_in_words_and_their_units():
    assert measure_label("mean") == "expected gain"
    assert measure_label("p_loss") == "chance of a loss"
    assert measure_label("var_99_5") == "VaR 99.5%"
    assert measure_label("p_loss_over_50000000") == "chance of losing more than $50.00M"
    assert usd_m(-50e6) == "-$50.00M" and usd_m(2.5e6) == "$2.50M"
    assert measure_value("p_loss", 0.882, 0.01) == "88.2% (1.0%)"
    assert measure_value("var_95", 7.677e7, 1e6) == "76.77 (1.00)"


def test_horizons_in_words():
    assert horizon_label("term") == "over the term, undiscounted"
    assert horizon_label("pv") == "present value"
    assert horizon_label("2021") == "in 2021"


@pytest.mark.parametrize("text, usd", [("-50", -50e6), ("-50M", -50e6), ("2.5", 2.5e6),
                                       ("$250k", 250e3), ("1B", 1e9), ("1500usd", 1500.0),
                                       ("-1,000", -1e9)])
def test_money_arguments_are_millions_unless_a_unit_says_otherwise(text, usd):
    assert parse_money_usd(text) == pytest.approx(usd)


@pytest.mark.parametrize("text", ["", "abc", "50 euros", "5e", "--5"])
def test_bad_money_arguments_are_refused(text):
    with pytest.raises(argparse.ArgumentTypeError, match="millions"):
        parse_money_usd(text)


def test_probability_arguments():
    assert parse_probability("0.05") == 0.05
    assert parse_probability("5%") == pytest.approx(0.05)
    for bad in ("5", "-0.1", "x%"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_probability(bad)

"""Capital, cash and survival of the provider under the contract (the ``[capital]`` table).

Entry points:

- :class:`simulator.capital.terms.CapitalTerms`: the ``[capital]`` table (starting capital,
  required minimum, return on cash, hurdle rate, cash timing, financing sources);
- :func:`simulator.capital.stored.load_capital`: a separate capital file for a stored run;
- :func:`simulator.capital.stored.yearly_items`: one variant's settlement items for the calendar;
- :func:`simulator.capital.calendar.cash_paths`: the monthly cash calendar per trial (cash,
  claims liability, receivables, financing balances, capital);
- :func:`simulator.capital.measures.capital_measures`, :func:`~simulator.capital.measures.solve_capital`,
  :func:`~simulator.capital.measures.ruin_curve`: ruin and breach probabilities, the capital
  needed for a ruin level, drawdown, financing and return on risk capital, with Monte Carlo errors;
- :func:`simulator.capital.stored.capital_summary`: all of that for every contract variant;
- :mod:`simulator.capital.plots`: ``capital_fan_chart`` and ``ruin_curve_chart``.

Nothing is imported here, so that :mod:`simulator.scenario` can import the terms without
pulling in the rest.
"""

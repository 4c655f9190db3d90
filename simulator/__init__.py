"""vbcsim: Monte Carlo pricing of a provider's risk under a value-based (global budget) contract.

Three stages, each a function of the one before:

1. experience: :func:`simulator.engine.simulate_experience` (member or cohort engine);
2. settlement: :func:`simulator.settlement.settle` (every contract variant on the same paths);
3. analysis: :func:`simulator.analysis.summarize`, :mod:`simulator.compare`,
   :mod:`simulator.sweep`, :mod:`simulator.plots`, :mod:`simulator.report`.

Scenarios are loaded with :func:`simulator.scenario.load_scenario`; a whole run into a
results folder is :func:`simulator.run.run_scenario`.
"""

from importlib import metadata

try:
    __version__ = metadata.version("vbcsim")
except metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0+unknown"

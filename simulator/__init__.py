"""vbcsim: Monte Carlo pricing of a provider's risk under a value-based (global budget) contract.

Three stages, each a subpackage, each a function of the one before:

1. :mod:`simulator.experience`: ``engine.simulate_experience`` (member or cohort engine);
2. :mod:`simulator.settlement`: ``rules.settle`` (every contract variant on the same paths);
3. :mod:`simulator.analysis`: ``risk.summarize``, ``compare``, ``sweep``, ``plots``, ``report``.

:mod:`simulator.core` holds what all stages share. On top, :mod:`simulator.scenario` assembles
the stages' input models from a scenario file, :mod:`simulator.run` runs the pipeline into a
results folder (:mod:`simulator.rundir`) and :mod:`simulator.cli` is the ``vbcsim`` command.
Imports run one way, down this list (``tests/test_layout.py``).
"""



def __getattr__(name: str) -> str:
    """``__version__``, looked up on first use (importlib.metadata is slow to import)."""
    if name != "__version__":
        raise AttributeError(f"module 'simulator' has no attribute {name!r}")
    from importlib import metadata

    try:
        return metadata.version("vbcsim")
    except metadata.PackageNotFoundError:  # running from a source tree
        return "0+unknown"

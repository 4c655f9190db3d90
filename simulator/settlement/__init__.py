"""Stage 2, settlement: the contract terms (:mod:`.contract`, :mod:`.equity`) and the rules
that apply them to an experience dataset, :func:`simulator.settlement.rules.settle`."""

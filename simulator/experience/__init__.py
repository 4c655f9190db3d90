"""Stage 1, experience: members' costs simulated trial by trial, kept as aggregates.

Entry point: :func:`simulator.experience.engine.simulate_experience` (member or cohort engine),
returning the experience dataset of :mod:`.dataset`. What the stage reads from a scenario is
the protocol :class:`.inputs.ExperienceInputs`, so no module here imports the scenario.
"""

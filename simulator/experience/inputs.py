"""What stage 1 reads from a scenario, as a protocol.

:class:`simulator.scenario.Scenario` satisfies it, so the experience modules name the inputs
they use without importing the scenario module (which assembles this stage's input models
and so sits above it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np

    from .measures import QualityModel
    from .population import CostModel, Segment, Systemic
    from .programs import Program


class RunInputs(Protocol):
    trials: int
    seed: int
    trials_per_block: int
    engine: str
    backend: str


class TermInputs(Protocol):
    years: int
    first_year: int
    base_years: int

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> TermInputs: ...


class ExperienceInputs(Protocol):
    """The scenario as the experience stage sees it."""

    name: str
    run: RunInputs
    term: TermInputs
    segments: Mapping[str, Segment]
    cost_models: Mapping[str, CostModel]
    systemic: Systemic
    quality: QualityModel | None
    program: Program | None

    @property
    def years(self) -> list[int]: ...

    def cost_trend(self, segment: str) -> np.ndarray: ...

    def stop_loss_attachments(self) -> list[float]: ...

    def measured_segments(self) -> list[str]: ...

    def model_copy(self, *, update: dict[str, Any] | None = None,
                   deep: bool = False) -> ExperienceInputs: ...

"""The member engine's compiled kernel against the model written out plainly, draw by draw.

The reference below follows the member engine's description (:mod:`simulator.experience.
member_engine`) in plain Python on numpy's own generators of the same streams: uniforms are
``Generator.random()`` (the top 53 bits of an SFC64 output, as the kernel's), categories are
``searchsorted`` on the cumulative probabilities, and the severity stream is stepped by the
kernel's exact normal and gamma samplers (tested against scipy in ``test_jit_random.py``).
Whatever the kernel's speed-ups (streams in registers, branch-free draws), a chunk must come
out as this reference: counts exactly, costs to the single-precision exponential.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulator.experience.costs import CostTables
from simulator.experience.jit_random import gamma, normal, stream_states
from simulator.experience.member_engine import (_DEATH_PROB, _IS_GAMMA, _LEAVE_PROB, _LOG_SCALE, _SCALE,
                                                _SCORE, _SHAPE, _SIGMA, _ZERO_PROB, PURPOSES, ChunkModel,
                                                ChunkTotals, ProgramInTrial, simulate_chunk)
from simulator.experience.population import CostModel
from simulator.experience.streams import Purpose, stream
from conftest import reference_dict

SEED, TRIAL, SEGMENT, CHUNK = 97, 4, 1, 0
YEARS = 4


def _words(stream) -> tuple[np.uint64, ...]:
    """A stream's four words as numpy's uint64 (Python ints would not type as one tuple)."""
    return tuple(np.uint64(w) for w in stream)


def _pick(cut: np.ndarray, u: float) -> int:
    return int(np.searchsorted(cut[:-1], u, side="right"))


class _Reference:
    """One chunk of the member model, member by member, year by year."""

    def __init__(self, model: ChunkModel):
        self.m = model
        self.rng = {p: stream(SEED, TRIAL, p, SEGMENT, CHUNK) for p in PURPOSES}
        self.severity = _words(self.rng[Purpose.SEVERITY].bit_generator.state["state"]["state"])

    def u(self, purpose: Purpose) -> float:
        return float(self.rng[purpose].random())

    def year_end(self, b: int) -> tuple[bool, bool, float]:
        u, p = self.u(Purpose.DEATH), self.m.band[b, _DEATH_PROB]
        if u < p:  # dies; month of death floor(12 u / p) + 1, exposure lost after it
            return True, True, 11.0 - math.floor(12.0 * u / p)
        return False, u < self.m.band[b, _LEAVE_PROB], 0.0

    def cost(self, b: int, y: int) -> float:
        m = self.m
        paid = self.u(Purpose.ZERO_COST) >= m.band[b, _ZERO_PROB]
        if m.band[b, _IS_GAMMA] > 0:
            severity, g = gamma(self.severity, m.band[b, _SHAPE])
            self.severity = _words(severity)
            return paid * math.exp(m.log_level[y]) * m.band[b, _SCALE] * g
        severity, z = normal(self.severity)
        self.severity = _words(severity)
        log_cost = np.float32(m.band[b, _LOG_SCALE] + m.log_level[y] + m.band[b, _SIGMA] * z)
        return paid * float(np.float32(math.exp(float(log_cost))))  # exp in single precision

    def run(self, members: int) -> ChunkTotals:
        m, out = self.m, ChunkTotals.zeros(self.m)
        groups = m.group_cut.size > 0
        band = [_pick(m.initial_cut, self.u(Purpose.INITIAL_BAND)) for _ in range(members)]
        group = [_pick(m.group_cut, self.u(Purpose.GROUP)) if groups else 0 for _ in range(members)]
        # (the kernel draws a member's group right after its band: separate streams, same draws)
        leaves = [self.year_end(b)[1] for b in band]
        for y in range(m.log_level.size):
            for i in range(members):
                prior, new = band[i], leaves[i]
                if new:
                    b, score = _pick(m.entrant_cut, self.u(Purpose.ENTRY)), m.entrant_score
                    if groups:
                        group[i] = _pick(m.group_cut, self.u(Purpose.GROUP))
                else:
                    b, score = _pick(m.transition_cut[prior], self.u(Purpose.TRANSITION)), m.band[prior, _SCORE]
                cost = self.cost(b, y)
                if m.effects.shape[1] and not new:
                    outcome = _pick(m.program_cut[y, prior], self.u(Purpose.STRATIFY))
                    if outcome:  # 2s + 1: flagged into stratum s and engaged; 2s + 2: not engaged
                        stratum = (outcome - 1) // 2
                        out.flagged[y, stratum] += 1
                        if outcome % 2 == 1:
                            out.engaged[y, stratum] += 1
                            cost *= 1.0 - m.effects[y, stratum]
                died, leaves[i], lost = self.year_end(b)
                out.totals[y] += [12.0 - lost, score * (12.0 - lost), cost, died, leaves[i]]
                above = cost > m.attachments
                out.excess[y] += np.where(above, cost - m.attachments, 0.0)
                out.claimants[y] += above
                if groups:
                    out.groups[y, group[i]] += 1
                band[i] = b
        return out


def _model(cost_model: str, program: bool, groups: bool, gamma_band: bool) -> ChunkModel:
    data = reference_dict()["cost_models"][cost_model]
    if gamma_band:
        data["bands"][2]["severity"] = "gamma"
    tables = CostTables.from_model(CostModel.model_validate(data))
    levels = 1.036 ** np.arange(1, YEARS + 1) * 1.4  # a trial's cost level, high: more claimants
    plan = None
    if program:
        plan = ProgramInTrial(np.array([-1, -1, 2, 1, 0], np.int16), 0.7, np.full((YEARS, 3), 0.45),
                              np.tile([0.10, 0.06, 0.03], (YEARS, 1)))
    return ChunkModel.build(tables, 0.2, levels, np.array([50_000.0, 100_000.0, 250_000.0]),
                            np.array([0.6, 0.3, 0.1]) if groups else None, plan)


@pytest.mark.parametrize("cost_model, program, groups, gamma_band", [
    ("commercial", True, False, False), ("medicare", False, True, True), ("medicare", True, True, True)])
def test_a_chunk_is_the_model_drawn_member_by_member(cost_model, program, groups, gamma_band):
    model, members = _model(cost_model, program, groups, gamma_band), 3000
    ours = simulate_chunk(model, members, stream_states(SEED, TRIAL, PURPOSES, SEGMENT, CHUNK))
    ref = _Reference(model).run(members)
    assert ref.claimants[:, -1].sum() > 0 and (not program or ref.engaged.sum() > 0)  # all paths run
    assert cost_model == "commercial" or ref.totals[:, 3].min() > 0  # deaths (Medicare's bands)
    np.testing.assert_array_equal(ours.claimants, ref.claimants)
    np.testing.assert_array_equal(ours.flagged, ref.flagged)
    np.testing.assert_array_equal(ours.engaged, ref.engaged)
    np.testing.assert_array_equal(ours.groups, ref.groups)
    np.testing.assert_array_equal(ours.totals[:, 3:], ref.totals[:, 3:])   # deaths, leavers
    np.testing.assert_allclose(ours.totals[:, :2], ref.totals[:, :2], rtol=1e-12)  # (score) months
    # costs: the math libraries' single-precision exponentials may differ in the last bit
    np.testing.assert_allclose(ours.totals[:, 2], ref.totals[:, 2], rtol=1e-7)
    np.testing.assert_allclose(ours.excess, ref.excess, rtol=1e-6)


def test_the_reference_can_tell_a_wrong_kernel():
    """The comparison can fail: entrants' bands drawn from another purpose's stream change the
    chunk's costs beyond the tolerance."""
    model, members = _model("commercial", True, False, False), 500
    ours = simulate_chunk(model, members, stream_states(SEED, TRIAL, PURPOSES, SEGMENT, CHUNK))
    wrong = _Reference(model)
    wrong.rng[Purpose.ENTRY] = stream(SEED, TRIAL, Purpose.TRANSITION, SEGMENT, CHUNK)
    assert not np.allclose(ours.totals[:, 2], wrong.run(members).totals[:, 2], rtol=1e-7, atol=0)

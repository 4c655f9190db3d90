"""The member engine's compiled kernel against the model written out plainly, draw by draw.

The reference below follows the member engine's description (:mod:`simulator.experience.
member_engine`) in plain Python on numpy's own generators: each purpose's chunk stream
spawns its lane streams as SFC64 seeds itself (three of the stream's words, a counter of
one, twelve steps), a batch's words are the lanes' outputs step by step, uniforms are the
top 53 bits of a word (as ``Generator.random()``), categories are ``searchsorted`` on the
cumulative probabilities, costs are ``math.exp`` of the kernel's exact normal (or its gamma),
tested against scipy in ``test_jit_random.py``. Whatever the kernel's speed-ups (integer
thresholds, vector loops, an exponential written as a polynomial), a chunk must come out as
this reference: counts exactly, costs to the last few bits.
"""

from __future__ import annotations

import math
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from simulator.experience.costs import CostTables
from simulator.experience.jit_random import gamma, normal_from_word, stream_states
from simulator.experience.member_engine import (_DEATH_PROB, _IS_GAMMA, _LEAVE_PROB, _LOG_SCALE, _SCALE,
                                                _SCORE, _SHAPE, _SIGMA, _ZERO_PROB, BATCH, LANES, PURPOSES,
                                                ChunkModel, ChunkTotals, ProgramInTrial, simulate_chunk)
from simulator.experience.population import CostModel
from simulator.experience.streams import Purpose, stream
from conftest import SCENARIO_FILES, reference_dict

SEED, TRIAL, SEGMENT, CHUNK = 97, 4, 1, 0
YEARS = 4


def _words(state) -> tuple[np.uint64, ...]:
    """A stream's four words as numpy's uint64 (Python ints would not type as one tuple)."""
    return tuple(np.uint64(w) for w in state)


class _Lanes:
    """The lane streams one purpose's chunk stream spawns."""

    def __init__(self, parent: np.random.Generator):
        seeds = parent.bit_generator.random_raw(3 * LANES)
        self.lanes = []
        for lane in range(LANES):
            bits = np.random.SFC64(0)
            bits.state = {"bit_generator": "SFC64", "has_uint32": 0, "uinteger": 0,
                          "state": {"state": np.array([*seeds[3 * lane:3 * lane + 3], 1], np.uint64)}}
            bits.random_raw(12)
            self.lanes.append(bits)

    def words(self, members: int) -> np.ndarray:
        """The words of one batch of ``members``: every lane steps ``ceil(members / LANES)``
        times; word ``s * LANES + l`` is lane ``l``'s at step ``s``. The unused ones are dropped."""
        steps = -(-members // LANES)
        return np.stack([lane.random_raw(steps) for lane in self.lanes], axis=1).ravel()[:members]

    def uniforms(self, members: int) -> np.ndarray:
        return (self.words(members) >> np.uint64(11)).astype(float) * 2.0**-53


class _Reference:
    """One chunk of the member model, cell by cell, year by year."""

    def __init__(self, model: ChunkModel):
        self.m = model
        parents = {p: stream(SEED, TRIAL, p, SEGMENT, CHUNK) for p in PURPOSES}
        self.lanes = {p: _Lanes(g) for p, g in parents.items()}
        self.spare = _words(parents[Purpose.SEVERITY].bit_generator.state["state"]["state"])

    def split(self, purpose: Purpose, members: int, cut: np.ndarray) -> np.ndarray:
        """How many of ``members`` fall in each category, a uniform each, batch by batch."""
        counts = np.zeros(cut.size, np.int64)
        for start in range(0, members, BATCH):
            u = self.lanes[purpose].uniforms(min(BATCH, members - start))
            counts += np.bincount(np.searchsorted(cut[:-1], u, side="right"), minlength=cut.size)
        return counts

    def severity(self, b: int, y: int, word: np.uint64) -> float:
        m = self.m
        if m.band[b, _IS_GAMMA] > 0:
            spare, g = gamma(self.spare, m.band[b, _SHAPE])
            self.spare = _words(spare)
            return math.exp(m.log_level[y]) * m.band[b, _SCALE] * g
        spare, z = normal_from_word(self.spare, word)
        self.spare = _words(spare)
        return math.exp(m.band[b, _LOG_SCALE] + m.log_level[y] + m.band[b, _SIGMA] * z)

    def run(self, members: int) -> ChunkTotals:
        m, out = self.m, ChunkTotals.zeros(self.m)
        bands, groups = m.band.shape[0], max(m.group_cut.size, 1)
        program = m.effects.shape[1] > 0
        by_band = self.split(Purpose.INITIAL_BAND, members, m.initial_cut)
        stay = np.zeros((groups, bands), np.int64)
        leavers = 0
        for b in range(bands):
            stay[:, b] = self.split(Purpose.GROUP, by_band[b], m.group_cut) if m.group_cut.size else by_band[b]
            for g in range(groups):
                leave, stay[g, b] = self.split(Purpose.DEATH, stay[g, b], np.array([m.band[b, _LEAVE_PROB], 1.0]))
                leavers += leave
        for y in range(m.log_level.size):
            cell = np.zeros((groups, bands + 1, bands, m.program_cut.shape[2] if program else 1), np.int64)
            for g in range(groups):
                for p in range(bands):
                    to = self.split(Purpose.TRANSITION, stay[g, p], m.transition_cut[p])
                    for b in range(bands):
                        cell[g, p, b] = (self.split(Purpose.STRATIFY, to[b], m.program_cut[y, p])
                                         if program else to[b])
            to = self.split(Purpose.ENTRY, leavers, m.entrant_cut)
            for b in range(bands):
                cell[:, bands, b, 0] = self.split(Purpose.GROUP, to[b], m.group_cut) if m.group_cut.size else to[b]
            stay[:], leavers = 0, 0
            for g, p, b in np.ndindex(groups, bands + 1, bands):
                counts = cell[g, p, b]
                score = m.entrant_score if p == bands else m.band[p, _SCORE]
                outcome = np.repeat(np.arange(counts.size), counts)  # the cell's members in order
                for start in range(0, counts.sum(), BATCH):
                    n = min(BATCH, counts.sum() - start)
                    words = (self.lanes[Purpose.SEVERITY].words(n) if m.band[b, _IS_GAMMA] == 0
                             else np.zeros(n, np.uint64))
                    cost = np.array([self.severity(b, y, w) for w in words])
                    cost *= self.lanes[Purpose.ZERO_COST].uniforms(n) >= m.band[b, _ZERO_PROB]
                    for i, o in enumerate(outcome[start:start + n]):
                        if o % 2 == 1:  # 2s + 1: flagged into stratum s and engaged
                            cost[i] *= 1.0 - m.effects[y, (o - 1) // 2]
                    u = self.lanes[Purpose.DEATH].uniforms(n)
                    died, left = u < m.band[b, _DEATH_PROB], u < m.band[b, _LEAVE_PROB]
                    lost = (11.0 - np.minimum(np.floor(12.0 * u[died] / m.band[b, _DEATH_PROB]), 11)).sum()
                    out.totals[y] += [12.0 * n - lost, score * (12.0 * n - lost), cost.sum(),
                                      died.sum(), left.sum()]
                    above = cost[:, None] > m.attachments
                    out.excess[y] += np.where(above, cost[:, None] - m.attachments, 0.0).sum(axis=0)
                    out.claimants[y] += above.sum(axis=0)
                    stay[g, b] += n - left.sum()
                    leavers += left.sum()
                if m.group_cut.size:
                    out.groups[y, g] += counts.sum()
                for o in range(1, counts.size):
                    out.flagged[y, (o - 1) // 2] += counts[o]
                    out.engaged[y, (o - 1) // 2] += counts[o] if o % 2 == 1 else 0
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
    _assert_same(ours, ref)


@pytest.mark.parametrize("members, attachments", [(0, True), (17, True), (513, True), (2000, False)])
def test_chunks_of_any_size_and_no_stop_loss_are_the_model_too(members, attachments):
    """A chunk of no member, of less than one step of the lanes, of one member more than a
    batch, and a chunk without stop-loss layers."""
    model = _model("commercial", True, False, False)
    if not attachments:
        model = replace(model, attachments=np.zeros(0))
    ours = simulate_chunk(model, members, stream_states(SEED, TRIAL, PURPOSES, SEGMENT, CHUNK))
    ref = _Reference(model).run(members)
    assert members == 0 or ref.totals[:, 2].min() > 0
    _assert_same(ours, ref)


def _assert_same(ours: ChunkTotals, ref: ChunkTotals) -> None:
    np.testing.assert_array_equal(ours.claimants, ref.claimants)
    np.testing.assert_array_equal(ours.flagged, ref.flagged)
    np.testing.assert_array_equal(ours.engaged, ref.engaged)
    np.testing.assert_array_equal(ours.groups, ref.groups)
    np.testing.assert_array_equal(ours.totals[:, 3:], ref.totals[:, 3:])   # deaths, leavers
    np.testing.assert_allclose(ours.totals[:, :2], ref.totals[:, :2], rtol=1e-12)  # (score) months
    # costs: the kernel's exponential is a polynomial (3e-14), its sums in another order
    np.testing.assert_allclose(ours.totals[:, 2], ref.totals[:, 2], rtol=1e-12)
    np.testing.assert_allclose(ours.excess, ref.excess, rtol=1e-12)


def test_the_reference_can_tell_a_wrong_kernel():
    """The comparison can fail: entrants' bands drawn from another purpose's stream change the
    chunk's costs beyond the tolerance."""
    model, members = _model("commercial", True, False, False), 500
    ours = simulate_chunk(model, members, stream_states(SEED, TRIAL, PURPOSES, SEGMENT, CHUNK))
    wrong = _Reference(model)
    wrong.lanes[Purpose.ENTRY] = _Lanes(stream(SEED, TRIAL, Purpose.TRANSITION, SEGMENT, CHUNK))
    assert not np.allclose(ours.totals[:, 2], wrong.run(members).totals[:, 2], rtol=1e-12, atol=0)


def test_a_program_without_effect_leaves_every_cost_draw_where_it_was():
    """Common random numbers: switching a program on moves members between outcome classes
    within their cells, never the cost, year-end or band draws. With effects of zero every
    total, the stop-loss excess and the claimant counts are those of no program, bit for bit."""
    tables = CostTables.from_model(CostModel.model_validate(reference_dict()["cost_models"]["commercial"]))
    levels = 1.036 ** np.arange(1, YEARS + 1) * 1.4
    attachments = np.array([50_000.0, 100_000.0, 250_000.0])
    without = ChunkModel.build(tables, 0.2, levels, attachments)
    plan = ProgramInTrial(np.array([-1, -1, 2, 1, 0], np.int16), 0.7, np.full((YEARS, 3), 0.45),
                          np.zeros((YEARS, 3)))
    with_program = ChunkModel.build(tables, 0.2, levels, attachments, None, plan)
    off, on = (simulate_chunk(m, 5000, stream_states(SEED, TRIAL, PURPOSES, SEGMENT, CHUNK))
               for m in (without, with_program))
    assert on.engaged.sum() > 0
    np.testing.assert_array_equal(on.totals, off.totals)
    np.testing.assert_array_equal(on.excess, off.excess)
    np.testing.assert_array_equal(on.claimants, off.claimants)


def test_a_chunk_model_whose_program_does_not_match_its_years_is_refused():
    """The kernel does not check bounds: a model whose outcomes do not match its strata or
    years is refused before it runs."""
    model = _model("commercial", True, False, False)
    state = stream_states(SEED, TRIAL, PURPOSES, SEGMENT, CHUNK)
    for wrong in (replace(model, effects=np.zeros((YEARS, 2))), replace(model, log_level=np.zeros(YEARS + 1)),
                  replace(model, program_cut=model.program_cut[:-1])):
        with pytest.raises(ValueError, match="must cover the same years"):
            simulate_chunk(wrong, 10, state)


def test_the_kernel_loaded_before_workers_fork_is_the_one_a_run_calls():
    """Forked workers inherit the kernel their helper loads (:func:`load_engine`) only if it
    is compiled for the argument types a run passes: in a fresh process, the warm-up leaves
    one compiled signature and simulating the shipped scenarios adds none."""
    code = ("import sys\n"
            "from simulator.experience import member_engine\n"
            "from simulator.experience.engine import load_engine, simulate_block\n"
            "from simulator.scenario import load_scenario\n"
            "load_engine('member')\n"
            "warmed = len(member_engine._kernel.signatures)\n"
            "for path in sys.argv[1:]:\n"
            "    simulate_block(load_scenario(path).with_run(trials=1, engine='member'), range(1))\n"
            "print(warmed, len(member_engine._kernel.signatures))\n")
    files = [str(p) for p in SCENARIO_FILES]
    out = subprocess.run([sys.executable, "-c", code, *files], capture_output=True, text=True,
                         timeout=300)  # (a machine's first run compiles the kernel: half a minute)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "1"]

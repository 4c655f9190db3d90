"""Data checks (each counted, a warning or a refusal; nothing dropped) and the member export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulator.calibration.checks import run_checks
from simulator.calibration.extract import ExtractError, parse_columns, read_extract
from simulator.calibration.members import simulate_members, write_members
from simulator.cli import main
from simulator.scenario import load_scenario

REFERENCE = Path(__file__).resolve().parents[2] / "scenarios" / "reference_global_budget.toml"


def _book(members: int = 300, years=(2020, 2021, 2022), seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [(f"m{i}", y, float(rng.lognormal(8, 1)), 12, 0) for i in range(members) for y in years]
    frame = pd.DataFrame(rows, columns=["member_id", "year", "allowed_usd", "months", "died"])
    frame.attrs["source"] = "book.csv"
    return frame


def test_bad_rows_are_refused_with_their_counts():
    book = _book()
    book.loc[0, "allowed_usd"] = -5.0
    book.loc[[1, 2], "months"] = 13
    book.loc[5, "member_id"] = ""
    book = pd.concat([book, book.iloc[[10]]], ignore_index=True)
    book.attrs["source"] = "book.csv"
    lines = []
    with pytest.raises(ExtractError) as err:
        run_checks(book, echo=lines.append)
    message = str(err.value)
    assert "negative cost: 1" in message and "months outside 1-12 (or not whole): 2" in message
    assert "duplicate (member, year) rows: 2" in message and "missing member_id: 1" in message
    assert any(line.strip().startswith("ok      missing cost: 0") for line in lines)


def test_warnings_keep_every_row_and_flag_an_incomplete_year():
    book = _book()
    book.loc[book.year == 2022, "allowed_usd"] *= 0.5  # run-out missing
    book.loc[book.member_id == "m3", "months"] = 6
    book = book[~((book.member_id == "m4") & (book.year == 2021))]  # a gap
    book.attrs["source"] = "book.csv"
    lines = []
    checked = run_checks(book, echo=lines.append)
    assert len(checked) == len(book)
    assert checked.attrs["incomplete_years"] == [2022]
    assert not checked.cost_ok[checked.year == 2022].any()
    text = "\n".join(lines)
    assert "members with gaps: 1" in text and "partial-year exposure (months < 12): 3" in text
    assert "WARNING small book: 300" in text
    m3 = checked[checked.member_id == "m3"]
    assert np.allclose(m3.annual_usd, 2 * m3.allowed_usd)  # annualised, raw cost kept


def test_columns_are_renamed_and_types_checked(tmp_path):
    book = _book(20).rename(columns={"allowed_usd": "PAID", "member_id": "ID"})
    book.to_csv(tmp_path / "x.csv", index=False)
    frame = read_extract(tmp_path / "x.csv", parse_columns("PAID=allowed_usd,ID=member_id"))
    assert list(frame.columns[:4]) == ["member_id", "year", "allowed_usd", "months"]
    with pytest.raises(ExtractError, match="missing column"):
        read_extract(tmp_path / "x.csv")
    with pytest.raises(ExtractError, match="--columns"):
        parse_columns("PAID=cost")


def test_member_export_is_reproducible_and_consistent(tmp_path):
    model = load_scenario(REFERENCE).cost_models["medicare"]
    one = simulate_members(model, 2000, 3, seed=4)
    assert one.equals(simulate_members(model, 2000, 3, seed=4))
    assert not one.allowed_usd.equals(simulate_members(model, 2000, 3, seed=5).allowed_usd)
    assert not one.duplicated(["member_id", "year"]).any()
    died = one[one.died == 1]
    assert died.months.between(1, 12).all() and (one[one.died == 0].months == 12).all()
    after = one.merge(died[["member_id", "year"]], on="member_id", suffixes=("", "_death"))
    assert (after.year <= after.year_death).all()  # nobody appears after dying
    # without churn the only leavers are the dead, each replaced by one entrant
    assert one.member_id.nunique() == 2000 + (died.year < 3).sum()
    write_members(one, tmp_path / "m.csv")
    with pytest.raises(ExtractError, match="already exists"):
        write_members(one, tmp_path / "m.csv")


def test_members_command_writes_the_extract_format_and_never_overwrites(tmp_path, capsys):
    out = tmp_path / "members.csv"
    args = ["members", str(REFERENCE), "--segment", "ppo", "--members", "500", "--years", "2",
            "--seed", "9", "--out", str(out)]
    assert main(args) == 0
    frame = read_extract(out)
    assert len(frame) == 1000 and set(frame.year) == {2019, 2020}
    before = out.read_bytes()
    assert main(args) == 2
    assert out.read_bytes() == before
    assert "already exists" in capsys.readouterr().err


def test_a_weight_counts_as_that_many_members():
    """Weights are frequency weights: weight 2 fits exactly as the book written twice."""
    from simulator.calibration.estimate import calibrate

    book = simulate_members(load_scenario(REFERENCE).cost_models["medicare"], 300, 3, seed=2)
    book.attrs["source"] = "book.csv"
    twice = pd.concat([book, book.assign(member_id=book.member_id + "b")], ignore_index=True)
    twice.attrs["source"] = "twice.csv"
    weighted = book.assign(weight=2.0)
    weighted.attrs["source"] = "weighted.csv"
    quiet = dict(echo=lambda line: None)
    fits = [calibrate(run_checks(f, **quiet), bands=2, edges_usd=[8000.0]) for f in (twice, weighted)]
    assert np.allclose(fits[0].params.transition, fits[1].params.transition, atol=1e-8)
    assert np.allclose(fits[0].params.shape, fits[1].params.shape, rtol=1e-8)
    assert np.allclose(fits[0].se.mean_usd, fits[1].se.mean_usd, rtol=1e-6)


def test_parquet_is_read_or_refused_with_a_clear_line(tmp_path):
    path = tmp_path / "x.parquet"
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        path.write_bytes(b"PAR1")
        with pytest.raises(ExtractError, match="needs pyarrow"):
            read_extract(path)
        return
    _book(10).to_parquet(path)
    assert len(read_extract(path)) == 30


def test_calibrate_command_picks_a_segment_and_never_overwrites(tmp_path, capsys):
    book = pd.concat([_book(150).assign(segment="hmo"), _book(150, seed=2).assign(segment="ppo")])
    book.to_csv(tmp_path / "book.csv", index=False)
    out = tmp_path / "fit.toml"
    assert main(["calibrate", str(tmp_path / "book.csv"), "--out", str(out)]) == 2
    assert "choose one with --segment" in capsys.readouterr().err and not out.exists()
    assert main(["calibrate", str(tmp_path / "book.csv"), "--out", str(out), "--segment", "ppo",
                 "--bands", "2", "--prior", f"{REFERENCE}:commercial"]) == 0
    printed = capsys.readouterr().out
    assert "segment ppo: 450 of 900 member-years" in printed and "too few members: 0" in printed
    assert "[cost_models.book]" in out.read_text()
    before = out.read_bytes()
    assert main(["calibrate", str(tmp_path / "book.csv"), "--out", str(out), "--segment", "ppo"]) == 2
    assert out.read_bytes() == before and "already exists" in capsys.readouterr().err

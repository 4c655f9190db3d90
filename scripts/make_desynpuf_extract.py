"""Derive the small DE-SynPUF claims extract shipped in ``tests/data/`` (run by hand).

``python scripts/make_desynpuf_extract.py SOURCE_DIR tests/data/desynpuf_extract.csv``
where SOURCE_DIR holds the CMS DE-SynPUF beneficiary summary files of sample 1,
``ben_2008_s1.csv``, ``ben_2009_s1.csv``, ``ben_2010_s1.csv`` (the ``*_Beneficiary_Summary_
File_Sample_1`` files of CMS, public domain). Not used at run or test time: the tests read
only the extract this writes. Every step that changes or leaves out a row is counted and
printed (and recorded in ``tests/data/README.md``).

Derivation, per beneficiary and year:
- members: the first MEMBERS beneficiary IDs in sorted order among all three years (the
  IDs are hashes, so this is a sample unrelated to cost);
- ``allowed_usd``: inpatient + outpatient + carrier, each Medicare reimbursement +
  beneficiary responsibility + primary-payer amount (the allowed amount); a net negative
  sum (reversals) is set to 0;
- ``months``: fee-for-service months, min(Part A months, Part B months) - HMO months,
  at least 0; member-years with no fee-for-service month are left out (no FFS claims);
- ``died``: 1 if the death date falls in that year; rows after the year of death left out;
- ``group``: race code (1 white, 2 black, 3 other, 5 hispanic); ``age``: year - birth year;
  ``segment``: ``medicare``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

MEMBERS = 3000
RACE = {"1": "white", "2": "black", "3": "other", "5": "hispanic"}
COST = [f"{kind}_{part}" for part in ("IP", "OP", "CAR") for kind in ("MEDREIMB", "BENRES", "PPPYMT")]


def one_year(source: Path, year: int) -> pd.DataFrame:
    raw = pd.read_csv(source / f"ben_{year}_s1.csv", dtype=str)
    months = lambda c: raw[c].astype(int)  # noqa: E731
    cost = raw[COST].astype(float).sum(axis=1)
    return pd.DataFrame({
        "member_id": raw.DESYNPUF_ID, "year": year, "allowed_usd": cost.round(2),
        "months": (months("BENE_HI_CVRAGE_TOT_MONS").clip(upper=months("BENE_SMI_CVRAGE_TOT_MONS"))
                   - months("BENE_HMO_CVRAGE_TOT_MONS")).clip(lower=0),
        "died": raw.BENE_DEATH_DT.fillna("").str[:4].eq(str(year)).astype(int),
        "death_year": pd.to_numeric(raw.BENE_DEATH_DT.str[:4]),
        "age": year - raw.BENE_BIRTH_DT.str[:4].astype(int),
        "group": raw.BENE_RACE_CD.map(RACE), "segment": "medicare"})


def main(source: Path, out: Path) -> None:
    frame = pd.concat([one_year(source, y) for y in (2008, 2009, 2010)], ignore_index=True)
    keep = sorted(frame.member_id.unique())[:MEMBERS]
    frame = frame[frame.member_id.isin(keep)]
    print(f"{len(frame):,} member-years of {frame.member_id.nunique():,} members")
    negative = frame.allowed_usd < 0
    print(f"net negative cost set to 0: {negative.sum()}")
    frame.loc[negative, "allowed_usd"] = 0.0
    first_death = frame.groupby("member_id").death_year.min()
    after = frame.year > frame.member_id.map(first_death).fillna(9999)
    print(f"rows after the year of death left out: {after.sum()}")
    no_ffs = frame.months == 0
    print(f"member-years with no fee-for-service month left out: {(no_ffs & ~after).sum()}")
    frame = frame[~after & ~no_ffs].drop(columns="death_year")
    frame = frame.sort_values(["member_id", "year"])
    frame.to_csv(out, index=False)
    print(f"wrote {out}: {len(frame):,} member-years of {frame.member_id.nunique():,} members")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))

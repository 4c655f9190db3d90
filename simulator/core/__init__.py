"""Foundations every stage shares: typed-input building blocks (:mod:`.inputs`), the
project's error types (:mod:`.errors`), the progress bar (:mod:`.progress`), the one
formatter of money, percents and measure words (:mod:`.units`) and writing a file without
following links (:mod:`.nofollow`)."""

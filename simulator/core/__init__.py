"""Foundations every stage shares: typed-input building blocks (:mod:`.inputs`), the
project's error types (:mod:`.errors`), reading a TOML file (:mod:`.toml`), overrides of a
scenario's fields (:mod:`.overrides`), plausibility warnings (:mod:`.plausibility`), the
machine's free memory and disk (:mod:`.resources`), the progress bar (:mod:`.progress`), the
one formatter of money, percents and measure words (:mod:`.units`) and writing a file
safely inside a folder, never through a link (:mod:`.files`)."""

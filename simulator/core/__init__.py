"""Foundations every stage shares: typed-input building blocks (:mod:`.inputs`), the
project's error types (:mod:`.errors`) and the progress line (:mod:`.progress`)."""

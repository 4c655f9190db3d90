"""A progress line with an ETA on standard error, for runs longer than a few seconds."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Report ``done/total`` units of work with elapsed time and ETA.

    Stays silent for the first ``quiet_seconds``; redraws one line on a
    terminal, prints a line per 10% elsewhere (logs, CI).
    """

    def __init__(self, total: int, label: str, enabled: bool = True, stream: TextIO | None = None,
                 quiet_seconds: float = 2.0):
        self.total, self.label, self.enabled = max(total, 1), label, enabled
        self.stream = stream or sys.stderr
        self.quiet_seconds = quiet_seconds
        self.start = time.perf_counter()
        self.done = 0
        self._last_decile = -1
        self._shown = False
        self._tty = self.stream.isatty()

    def advance(self, units: int) -> None:
        self.done += units
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        if elapsed < self.quiet_seconds and self.done < self.total:
            return
        frac = self.done / self.total
        eta = elapsed * (1 - frac) / frac if frac > 0 else float("nan")
        line = (f"{self.label}: {100 * frac:5.1f}% ({self.done}/{self.total}) "
                f"{elapsed:6.1f} s elapsed, ETA {eta:6.1f} s")
        if self._tty:
            self.stream.write("\r" + line)
            self._shown = True
        elif int(frac * 10) > self._last_decile:
            self._last_decile = int(frac * 10)
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self._shown:
            self.stream.write("\n")
            self.stream.flush()

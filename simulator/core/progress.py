"""Progress a user can trust: a bar with a rate-based ETA (tqdm), and named phases with their times.

A one-off cost (compiling the engine's kernel, the discrete-event program
model) is reported as its own phase, so the bar's ETA is measured on the
steady work alone instead of being extrapolated from a slow first block.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from tqdm import tqdm


class Progress:
    """Report ``done/total`` units of work with elapsed time and ETA on standard error.

    The ETA is measured from the first unit finished after the bar started, not
    from the start: workers that start up, load the kernel or build the program
    model before their first block would otherwise inflate it many times over.

    Parameters
    ----------
    total, label
        Units of work (e.g. trials) and what they are.
    enabled
        False: silent.
    initial
        Units already done before this bar started (resumed work): shown in the
        count, left out of the rate and so of the ETA.
    quiet_seconds
        Nothing is shown for a command that finishes sooner.
    preamble
        What happens before the first results (start-up costs): said at once, and
        followed by the seconds it took when the first results come.
    """

    def __init__(self, total: int, label: str, enabled: bool = True, stream: TextIO | None = None,
                 quiet_seconds: float = 2.0, initial: int = 0, unit: str = "trials",
                 preamble: str | None = None):
        stream = stream or sys.stderr
        tty = stream.isatty()
        self._preamble = None
        if enabled and preamble:
            stream.write(f"{label}: {preamble}... ")
            stream.flush()
            self._preamble = (stream, time.perf_counter())
        self._bar = tqdm(total=max(total, 1), initial=initial, desc=label,
                         file=stream if tty else _Lines(stream),
                         disable=not enabled, delay=quiet_seconds, leave=True, ascii=not tty,
                         mininterval=0.5 if tty else 10.0, postfix="ETA after the first results",
                         bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} " + unit
                                    + " [{elapsed} elapsed{postfix}]")
        self._first: tuple[float, int] | None = None

    def advance(self, units: int) -> None:
        """``units`` more are done."""
        now = time.perf_counter()
        if self._first is None:
            self._first = (now, self._bar.n + units)
            self._end_preamble(now)
        self._bar.set_postfix_str(self.eta_text(now, self._bar.n + units), refresh=False)
        self._bar.update(units)

    def eta_text(self, now: float, done: int) -> str:
        """``ETA 12 s`` from the rate since the first result (or a word that it is coming)."""
        t0, n0 = self._first
        if done >= self._bar.total:
            return "done"
        if done <= n0 or now - t0 < 1.0:
            return "ETA after the first results"
        remaining = (self._bar.total - done) * (now - t0) / (done - n0)
        return f"ETA {tqdm.format_interval(remaining)}"

    def _end_preamble(self, now: float) -> None:
        if self._preamble is not None:
            stream, start = self._preamble
            stream.write(f"first results after {now - start:.1f} s\n")
            stream.flush()
            self._preamble = None

    def close(self) -> None:
        self._end_preamble(time.perf_counter())
        self._bar.close()


class _Lines:
    """A stream for logs: each redraw of the bar becomes one line (no carriage returns)."""

    def __init__(self, stream: TextIO):
        self.stream, self.last = stream, ""

    def write(self, text: str) -> None:
        line = text.replace("\r", "").rstrip()
        if line and line != self.last:
            self.stream.write(line + "\n")
            self.last = line

    def flush(self) -> None:
        self.stream.flush()


@contextmanager
def phase(label: str, enabled: bool = True, stream: TextIO | None = None) -> Iterator[None]:
    """Say a step has started (``label...``) and, when it ends, how long it took."""
    stream = stream or sys.stderr
    start = time.perf_counter()
    if enabled:
        stream.write(f"{label}... ")
        stream.flush()
    try:
        yield
    finally:
        if enabled:
            stream.write(f"{time.perf_counter() - start:.1f} s\n")
            stream.flush()

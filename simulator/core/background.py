"""A call run on a daemon thread while the caller goes on, its result collected later."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class Background:
    """``call()`` started now on a daemon thread (``threaded``), or run when its result is
    asked for. A daemon thread never holds up the end of an interrupted process."""

    def __init__(self, call: Callable[[], Any], threaded: bool = True):
        self._call, self._value, self._error = call, None, None
        self._thread = threading.Thread(target=self._run, name="vbcsim-background", daemon=True) \
            if threaded else None
        if self._thread is not None:
            self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._call()
        except BaseException as err:  # noqa: BLE001 - handed to the caller by result()
            self._error = err

    def result(self) -> Any:
        """The call's value (its exception raised here, in the caller's thread)."""
        if self._thread is None:
            return self._call()
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value

"""A call run in the background: its value or its exception reach the caller."""

import threading

import pytest

from simulator.core.background import Background


def test_threaded_call_runs_while_the_caller_goes_on_and_returns_its_value():
    release = threading.Event()

    def call():
        release.wait(5)
        return threading.current_thread().name

    job = Background(call)
    release.set()  # the caller went on: the call was waiting for it
    assert job.result() == "vbcsim-background"


def test_an_exception_in_the_background_is_raised_in_the_caller():
    def call():
        raise ValueError("bad block")

    with pytest.raises(ValueError, match="bad block"):
        Background(call).result()


def test_unthreaded_call_runs_when_its_result_is_asked_for():
    ran = []
    job = Background(lambda: ran.append(threading.current_thread().name) or 7, threaded=False)
    assert ran == []
    assert job.result() == 7 and ran == [threading.current_thread().name]

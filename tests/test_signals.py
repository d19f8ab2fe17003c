"""SIGTERM and SIGINT ask for a stop; they do not kill a run halfway through a post."""

from __future__ import annotations

import os
import signal
import time

import pytest

from crossposter.signals import StopRequest, stop_on_signals


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_inside_the_block_requests_a_stop_instead_of_killing(number):
    with stop_on_signals() as stop:
        os.kill(os.getpid(), number)
        assert stop.wait(5)
    assert stop.reason == signal.Signals(number).name


def test_the_handlers_in_place_before_are_back_afterwards():
    before = signal.getsignal(signal.SIGTERM)
    with stop_on_signals():
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_second_sigint_interrupts_as_usual():
    with pytest.raises(KeyboardInterrupt), stop_on_signals() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.wait(5)
        signal.raise_signal(signal.SIGINT)
        # Python runs a handler at its next check, not inside raise_signal: give it
        # that chance here, inside the block (sleep is interrupted by the exception).
        for _ in range(500):
            time.sleep(0.01)


def test_the_first_reason_is_kept():
    stop = StopRequest()
    stop.request("SIGTERM")
    stop.request("SIGINT")
    assert stop.is_set()
    assert stop.reason == "SIGTERM"

"""derive.alarm: the time limit of a proof attempt and of a submission (SIGALRM, main thread)."""

import signal
import time

import pytest

from derive.alarm import alarm


class Late(BaseException):
    pass


class Outer(BaseException):
    pass


def test_it_rings_again_when_its_first_exception_is_lost():
    """An exception raised inside a ``__del__`` or weakref callback is dropped by Python; the alarm
    must ring again, or a proof runs on (a CI run hung in SymPy for minutes). Once the block is
    left, it rings no more."""
    lost = 0
    give_up = time.monotonic() + 5
    with pytest.raises(Late):
        with alarm(0.05, Late):
            while time.monotonic() < give_up:
                try:
                    sum(range(1000))
                except Late:
                    if lost:
                        raise
                    lost += 1  # the first one dropped, as Python drops one raised in __del__
    assert lost == 1
    time.sleep(0.3)  # no alarm after the block: this would raise Late
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


@pytest.mark.parametrize("hook", [
    "gc callback", "unraisable hook", "unraisable hook through functools.partial",
])
def test_it_never_raises_inside_a_gc_callback_or_the_unraisable_hook(hook, monkeypatch):
    """Raised there, the exception is dropped (a gc callback) or breaks the host: pytest 9.2 failed
    a test when the second ring interrupted its unraisable hook reporting the first. The alarm
    waits for the hook to return, then rings in the block's own code."""
    import functools
    import gc
    import sys

    def slow(*args):
        end = time.monotonic() + 0.3
        while time.monotonic() < end:
            sum(range(1000))

    def unraisable(u, extra=None):
        slow()

    dropped = []
    callbacks = []  # added to the collector's own list (not an attribute to replace)
    started = time.monotonic()
    if hook == "gc callback":
        monkeypatch.setattr(sys, "unraisablehook", lambda u: dropped.append(u.exc_type))
        callbacks.append(lambda phase, info: phase == "start" and slow())
    else:
        monkeypatch.setattr(sys, "unraisablehook",
                            functools.partial(unraisable, extra=1) if "partial" in hook else unraisable)
    gc.callbacks.extend(callbacks)
    try:
        with pytest.raises(Late):
            with alarm(0.05, Late):
                if hook == "gc callback":
                    gc.collect()  # its callback runs past the time
                else:
                    sys.unraisablehook(None)  # as Python calls it for an exception it drops
                after_hook = time.monotonic() - started
                while time.monotonic() < started + 5:
                    sum(range(1000))  # the block's own code: interrupted within a ring
    finally:
        for callback in callbacks:
            gc.callbacks.remove(callback)
    assert dropped == [] and after_hook >= 0.3
    assert time.monotonic() - started < 1.0


def test_an_inner_alarm_gives_the_outer_one_back():
    """The grader's per-submission limit holds across the prover's own alarm inside it."""
    started = time.monotonic()
    with pytest.raises(Outer):
        with alarm(0.3, Outer):
            with alarm(5, Late):
                time.sleep(0.05)
            while time.monotonic() < started + 5:
                sum(range(1000))
    assert 0.25 < time.monotonic() - started < 1.5
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


@pytest.mark.parametrize("seconds", [0.0, -1.0, 1e-9, 1e-6, 5e-6])
def test_a_limit_up_before_the_block_starts_still_ends_it_cleanly(seconds):
    """A proof may be given the few µs left of its equation's time: the alarm rings at once, and
    leaves no timer or handler behind (it used to ring on, every 0.1 s, after the block)."""
    handler = signal.getsignal(signal.SIGALRM)
    for _ in range(50):
        try:
            with alarm(seconds, Late):
                while True:
                    sum(range(100))
        except Late:
            pass
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
        assert signal.getsignal(signal.SIGALRM) is handler
    time.sleep(0.25)  # nothing rings after the blocks


def test_an_outer_alarm_survives_an_inner_one_that_is_up_at_once():
    started = time.monotonic()
    with pytest.raises(Outer):
        with alarm(0.3, Outer):
            for _ in range(50):
                try:
                    with alarm(1e-6, Late):
                        while True:
                            sum(range(100))
                except Late:
                    pass
            while time.monotonic() < started + 5:
                sum(range(1000))
    assert time.monotonic() - started < 1.5

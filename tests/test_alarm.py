"""derive.alarm: the time limit of a proof attempt and of a submission (SIGALRM, main thread)."""

import signal
import time

import pytest
import sympy as sp

from derive.alarm import alarm, package_dirs


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


def test_with_only_in_it_raises_in_that_code_only():
    """The prover's alarm names SymPy's code: this test's own loop (standing for a garbage-collection
    callback or a test runner's hook, where pytest 9.2 failed a test) runs on past the time, and the
    first SymPy call after it is interrupted."""
    started = time.monotonic()
    x = sp.Symbol("x")
    with pytest.raises(Late):
        with alarm(0.05, Late, only_in=package_dirs(sp)):
            while time.monotonic() < started + 0.4:
                sum(range(1000))  # not SymPy: never interrupted
            outside = time.monotonic() - started
            while time.monotonic() < started + 5:
                sp.expand((x + 1) ** 30)  # SymPy: interrupted within a ring or two
    assert outside >= 0.4
    assert time.monotonic() - started < 1.5


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


def test_the_code_directories_are_where_frames_say_their_code_is():
    """``only_in`` compares frame file names: the prover's directories must be their prefixes."""
    from derive import alarm as module
    from derive.checking import proof

    assert sp.expand.__code__.co_filename.startswith(package_dirs(sp))
    assert module.available.__code__.co_filename.startswith(module.DERIVE_CODE)
    assert proof.Prover.prove.__code__.co_filename.startswith(proof._PROOF_CODE)
    assert not pytest.main.__code__.co_filename.startswith(proof._PROOF_CODE)


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

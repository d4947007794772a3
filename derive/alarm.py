"""Time limits in the main thread: ``alarm(seconds, error)`` raises ``error`` in the block it guards
once ``seconds`` have passed, by SIGALRM, and restores any timer and handler already set (an alarm
nests inside another: the outer one's remaining time is set again when the inner block is left).

Two rules make the limit hold:

- It rings again every ``RING_AGAIN`` seconds until the block is left. An exception raised while
  Python runs a ``__del__``, a weakref or a garbage-collection callback is printed and dropped;
  a one-shot alarm lost that way let a proof run on in SymPy for minutes (seen in CI).
- It does not raise while a garbage-collection callback or ``sys.unraisablehook`` runs (anywhere
  on the stack), and waits for the next ring. The exception would be dropped there, or break the
  host: pytest 9.2 failed a test with "Failed to process unraisable exception" when the second
  ring interrupted its hook reporting the first, dropped in its garbage-collection callback.

Without ``setitimer`` (Windows) or outside the main thread the block runs without a limit;
``available()`` says which.
"""

from __future__ import annotations

import functools
import gc
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

RING_AGAIN = 0.1  # seconds between rings once the time is up


def available() -> bool:
    """Whether a block can be interrupted here: SIGALRM timers, in the main thread."""
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def _code(hook: object) -> object:
    """The code object a hook runs (through ``functools.partial``, as pytest's hook is)."""
    while isinstance(hook, functools.partial):
        hook = hook.func
    return getattr(hook, "__code__", None)


def _in_a_hook(frame: FrameType | None) -> bool:
    """Whether a garbage-collection callback or the unraisable-exception hook is running."""
    hooks = {_code(hook) for hook in (sys.unraisablehook, *gc.callbacks)}
    hooks.discard(None)
    while frame is not None:
        if frame.f_code in hooks:
            return True
        frame = frame.f_back
    return False


@contextmanager
def alarm(seconds: float, error: type[BaseException]) -> Iterator[None]:
    """Raise ``error`` in this block after ``seconds``, and every ``RING_AGAIN`` s after that until
    the block is left (not inside a garbage-collection callback or the unraisable hook)."""
    if not available():
        yield
        return
    armed = [True]

    def ring(signum: int, frame: FrameType | None) -> None:
        if not armed[0]:  # the block is being left
            return
        if not _in_a_hook(frame):
            raise error

    # SIGALRM is held back while the alarm is set, and let through inside the try: a limit so
    # short that it is up before the block starts rings there, and the finally still restores
    # the handler and any outer timer (else the alarm would ring on after the block, for ever).
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    previous = signal.signal(signal.SIGALRM, ring)
    started = time.monotonic()
    # A limit of 0 or less is up at once (0 would switch the timer off).
    old_delay, old_interval = signal.setitimer(signal.ITIMER_REAL, max(seconds, 1e-6), RING_AGAIN)
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        yield
    finally:
        armed[0] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if old_delay:
            remaining = max(old_delay - (time.monotonic() - started), 1e-3)
            signal.setitimer(signal.ITIMER_REAL, remaining, old_interval)

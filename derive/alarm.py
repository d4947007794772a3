"""Time limits in the main thread: ``alarm(seconds, error)`` raises ``error`` in the block it guards
once ``seconds`` have passed, by SIGALRM, and restores any timer and handler already set (an alarm
nests inside another: the outer one's remaining time is set again when the inner block is left).

Two rules make the limit hold:

- It rings again every ``RING_AGAIN`` seconds until the block is left. An exception raised while
  Python runs a ``__del__``, a weakref or a garbage-collection callback is printed and dropped;
  a one-shot alarm lost that way let a proof run on in SymPy for minutes (seen in CI).
- With ``only_in``, it raises only while a frame of those packages' code is running, and waits
  for the next ring otherwise. The prover's alarm names SymPy, mpmath and derive, so it never
  raises inside the import machinery, a garbage-collection callback or a test runner's hooks,
  where the exception is dropped or breaks the host (pytest 9.2 failed a test with "Failed to
  process unraisable exception" when the second ring interrupted its report of the first).

Without ``setitimer`` (Windows) or outside the main thread the block runs without a limit;
``available()`` says which.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType, ModuleType

RING_AGAIN = 0.1  # seconds between rings once the time is up
DERIVE_CODE = os.path.dirname(__file__) + os.sep  # this package's frames (as co_filename has them)


def available() -> bool:
    """Whether a block can be interrupted here: SIGALRM timers, in the main thread."""
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def package_dirs(*packages: ModuleType) -> tuple[str, ...]:
    """The directories of ``packages`` as frame file names start (``.../sympy/``)."""
    return tuple(os.path.dirname(p.__file__ or "") + os.sep for p in packages)


@contextmanager
def alarm(seconds: float, error: type[BaseException], only_in: tuple[str, ...] | None = None
          ) -> Iterator[None]:
    """Raise ``error`` in this block after ``seconds``, and every ``RING_AGAIN`` s after that until
    the block is left; with ``only_in`` (``package_dirs``), only in a frame of that code."""
    if not available():
        yield
        return
    armed = [True]

    def ring(signum: int, frame: FrameType | None) -> None:
        if not armed[0]:  # the block is being left
            return
        if only_in is None or frame is not None and frame.f_code.co_filename.startswith(only_in):
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

"""Ctrl-C and SIGTERM end a command cleanly, whichever thread takes the signal."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _forward_to_main(
    wakeup: int, stopping: threading.Event, handler: Callable[[int, Any], None]
) -> None:
    """Make sure the main thread runs the handler of a signal another thread took.

    A signal sent to the process may be taken by any thread that does not
    block it (a library's thread pool, Dask's event loop); Python then runs
    its handler only when the main thread next runs Python code, which a main
    thread waiting on a read never does. Each handled signal's number comes
    through the wakeup fd; if the main thread has not begun stopping shortly
    after, the signal is sent to the main thread itself, whose read then ends.
    Only while `handler` is the signal's handler: a command that installs its
    own (serve's server) counts a second signal as a forced stop.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # never take one here
    main = threading.main_thread().ident
    with open(wakeup, "rb", buffering=0, closefd=True) as pipe:
        for received in iter(lambda: pipe.read(64), b""):
            _forward(received, main, stopping, handler)


def _forward(
    received: bytes,
    main: int | None,
    stopping: threading.Event,
    handler: Callable[[int, Any], None],
) -> None:
    for number in received:
        if number not in STOP_SIGNALS or signal.getsignal(number) is not handler:
            continue
        if not stopping.wait(0.05) and main is not None:
            with contextlib.suppress(OSError, ValueError):
                signal.pthread_kill(main, number)


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Ctrl-C and SIGTERM end a command (exit 130): cleanup runs, nothing
    partial is left. The first one starts the stop; more while it runs change
    nothing, so cleanup is never cut short."""
    stopping = threading.Event()

    def stop(_signal: int, _frame: object) -> None:
        if not stopping.is_set():
            stopping.set()
            raise KeyboardInterrupt

    try:
        previous = {number: signal.signal(number, stop) for number in STOP_SIGNALS}
    except ValueError:  # not the main thread (a test runner's worker): nothing to install
        yield
        return
    reading, writing = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    os.set_blocking(reading, True)
    previous_wakeup = signal.set_wakeup_fd(writing, warn_on_full_buffer=False)
    threading.Thread(
        target=_forward_to_main,
        args=(reading, stopping, stop),
        name="policykb-signals",
        daemon=True,
    ).start()
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous_wakeup)
        for number, handler in previous.items():
            signal.signal(number, handler)
        os.close(writing)  # the forwarder reads the end of its pipe and returns

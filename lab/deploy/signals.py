"""Teardown that signals cannot cut short.

While a run undoes what it built, SIGINT and SIGTERM are deferred: the first one is noted
(and raised as KeyboardInterrupt once the undoing is done); any further one only sets
HURRY, which ends the teardown's waits for programs to exit gracefully (they get SIGKILL
at once). Undoing is never skipped.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import TracebackType

HURRY = threading.Event()  # set by a second signal during teardown: stop waiting, kill
SIGNALS = (signal.SIGINT, signal.SIGTERM)

_depth = 0  # nested deferrals: only the outermost one installs and restores the handlers


class deferred_signals:
    """`with deferred_signals(say):` runs its block to the end whatever SIGINT/SIGTERM arrive.

    Outside the main thread (where Python cannot catch signals) it does nothing.
    """

    def __init__(self, say: Callable[[str], None] | None = None) -> None:
        self.say = say or (lambda text: None)
        self.received: list[int] = []
        self._previous: dict[int, object] = {}

    def _handler(self, signum: int, frame: object) -> None:
        self.received.append(signum)
        if len(self.received) == 1:
            self.say(
                f"{signal.Signals(signum).name} received: finishing the teardown first "
                "(send it again to stop waiting for programs to exit)"
            )
        elif not HURRY.is_set():
            HURRY.set()
            self.say(f"{signal.Signals(signum).name} again: killing instead of waiting; the teardown goes on")

    def __enter__(self) -> deferred_signals:
        global _depth
        if threading.current_thread() is threading.main_thread():
            _depth += 1
            if _depth == 1:
                self._previous = {sig: signal.signal(sig, self._handler) for sig in SIGNALS}
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        global _depth
        if threading.current_thread() is not threading.main_thread():
            return
        _depth -= 1
        if _depth == 0:
            for sig, handler in self._previous.items():
                signal.signal(sig, handler)  # type: ignore[arg-type]
            HURRY.clear()
        if self.received and exc_type is None:
            raise KeyboardInterrupt(f"signal {self.received[0]} (deferred until the teardown was done)")

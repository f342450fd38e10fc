"""Background jobs: a generator run in a QThread, its items delivered to the GUI thread as signals.

A job is ``job(should_stop) -> Iterable``; each item it yields becomes ``Job.produced``. The
worker checks the stop flag between items, so :meth:`Job.cancel` takes effect within one item
(one animated frame). Exceptions become ``failed(message)`` with the traceback in the log file.
:class:`JobRunner` runs a tab's jobs one at a time and reports how each ended; the window's
:class:`JobGate` decides whether a job may start: one per tab, and one that runs a model in the
whole application.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable, Iterable

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from usanimator_app.core.errors import UserInputError

JobFunction = Callable[[Callable[[], bool]], Iterable[object]]
log = logging.getLogger(__name__)
JOB_WORDS = {"model": "Loading a model…", "run": "Animating…", "export": "Exporting…", "predict": "Predicting landmarks…",
             "track": "Tracking…", "make": "Making study clips…", "copy": "Copying study clips…",
             "load": "Loading a clip…", "train": "Training…"}  # a job kind in words
# They run a model: one at a time in the application ("train": the Train tab's trainer subprocess, on the same cores).
MODEL_JOBS = frozenset({"model", "run", "predict", "track", "make", "train"})


class Cancelled(Exception):
    """Raised by a job that noticed ``should_stop()`` and must not finish its output."""


def describe_error(exc: BaseException) -> str:
    """One line for a dialog: the UserInputError message, or the kind of failure."""
    if isinstance(exc, UserInputError):
        return str(exc)
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return "Out of memory. Try fewer frames (Max frames), the CPU device or a smaller model."
    first_line = (str(exc).strip().splitlines() or [""])[0][:300]
    return f"Unexpected error: {type(exc).__name__}: {first_line} (details in the log file)"


class _Worker(QObject):
    produced = Signal(object)
    finished = Signal()
    failed = Signal(str)
    cancelled = Signal()
    done = Signal()

    def __init__(self, job: JobFunction, stop: threading.Event, name: str):
        super().__init__()
        self._job = job
        self._stop = stop
        self._name = name

    @Slot()
    def run(self) -> None:
        items = None
        try:
            items = iter(self._job(self._stop.is_set))
            for item in items:
                self.produced.emit(item)
                if self._stop.is_set():
                    break
            outcome = self.cancelled if self._stop.is_set() else self.finished
            if hasattr(items, "close"):
                items.close()
            outcome.emit()
        except Exception as exc:  # the worker boundary: every failure reaches the GUI as a message
            if self._stop.is_set() or isinstance(exc, Cancelled):
                log.info("%s cancelled (%s)", self._name, type(exc).__name__)
                self.cancelled.emit()
            else:
                log.error("%s failed", self._name, exc_info=not isinstance(exc, UserInputError))
                self.failed.emit(describe_error(exc))
        finally:
            self.done.emit()


class Job(QObject):
    """One background job in its own QThread. Signals arrive in the thread that created the Job."""

    produced = Signal(object)
    finished = Signal()
    failed = Signal(str)
    cancelled = Signal()
    ended = Signal()  # after finished / failed / cancelled, once the thread has stopped

    def __init__(self, job: JobFunction, name: str, parent: QObject | None = None):
        super().__init__(parent)
        self.name = name
        self._stop = threading.Event()
        self._thread = QThread(self)
        self._thread.setObjectName(name)
        self._worker = _Worker(job, self._stop, name)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        self._worker.produced.connect(self.produced)
        self._worker.finished.connect(self.finished)
        self._worker.failed.connect(self.failed)
        self._worker.cancelled.connect(self.cancelled)
        # Direct: quit() is thread-safe, and a queued call would wait for the GUI thread, which
        # may itself be blocked in wait().
        self._worker.done.connect(self._thread.quit, Qt.ConnectionType.DirectConnection)
        self._thread.finished.connect(self._on_thread_finished)

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        """Ask the job to stop; thread-safe, returns at once."""
        self._stop.set()

    def wait(self, milliseconds: int = 30000) -> bool:
        """Block until the thread has stopped (for shutdown); True when it did."""
        return self._thread.wait(milliseconds)

    @Slot()
    def _on_thread_finished(self) -> None:
        # QThread.finished is sent from the thread just before it exits: wait that last moment
        # out, so that whoever deletes this Job on ``ended`` never destroys a running QThread.
        self._thread.wait()
        self.ended.emit()


class JobGate:
    """The window's one say on whether a job may start: a tab runs one job at a time, and the
    application one job that runs a model (two would share the same few cores). A refused job is
    said in words through ``tell``."""

    def __init__(self, tell: Callable[[str], None]):
        self._tell = tell
        self._running: dict[JobRunner, str] = {}  # runner -> the kind of its running job

    def refusal(self, runner: JobRunner, kind: str) -> str:
        """Why ``runner`` may not start a ``kind`` job now ('' when it may)."""
        for other, running in self._running.items():
            if other is runner or (kind in MODEL_JOBS and running in MODEL_JOBS):
                return f"Another job is running ({JOB_WORDS.get(running, running)}): wait for it or stop it first."
        return ""

    def admit(self, runner: JobRunner, kind: str) -> bool:
        """True when ``runner`` may start a ``kind`` job now; else the user is told why."""
        refusal = self.refusal(runner, kind)
        if refusal:
            log.info("%s refused: %s", kind, refusal)
            self._tell(refusal)
        return not refusal

    def started(self, runner: JobRunner, kind: str) -> None:
        self._running[runner] = kind

    def ended(self, runner: JobRunner) -> None:
        self._running.pop(runner, None)


class JobRunner(QObject):
    """A tab's jobs, one at a time, as ``gate`` admits them: starts one, records how it ended, and
    once its thread has stopped calls ``on_end(outcome, message)`` (outcome 'finished' |
    'cancelled' | 'failed')."""

    changed = Signal()  # a job started or ended: the tab's controls follow

    def __init__(self, prefix: str, gate: JobGate, parent: QObject | None = None):
        super().__init__(parent)
        self._prefix = prefix
        self._gate = gate
        self.job: Job | None = None
        self.kind = ""  # the running job's kind, '' when idle

    @property
    def busy(self) -> bool:
        return self.job is not None

    def may_start(self, kind: str) -> bool:
        """True when a ``kind`` job may start now; else the user is told why (for a tab that
        prepares before it starts)."""
        return self._gate.admit(self, kind)

    def start(self, kind: str, function: JobFunction, on_item: Callable[[object], None],
              on_end: Callable[[str, str], None]) -> bool:
        """Start a ``kind`` job; False when it may not start now (the user is told why)."""
        if not self.may_start(kind):
            return False
        job = Job(function, f"{self._prefix}-{kind}", self)
        self.job, self.kind = job, kind
        self._gate.started(self, kind)
        ending = {"outcome": "", "message": ""}
        job.produced.connect(on_item)
        job.finished.connect(lambda: ending.update(outcome="finished"))
        job.cancelled.connect(lambda: ending.update(outcome="cancelled"))
        job.failed.connect(lambda message: ending.update(outcome="failed", message=message))
        job.ended.connect(lambda: self._ended(job, on_end, ending["outcome"], ending["message"]))
        self.changed.emit()
        job.start()
        return True

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def shutdown(self) -> None:
        """Stop the running job and wait for its thread (the window is closing)."""
        if self.job is not None:
            self.job.cancel()
            self.job.wait()

    def _ended(self, job: Job, on_end: Callable[[str, str], None], outcome: str, message: str) -> None:
        self.job, self.kind = None, ""
        self._gate.ended(self)
        job.deleteLater()
        on_end(outcome, message)
        self.changed.emit()

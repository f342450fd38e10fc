"""The ``usanimator train --progress json`` subprocess of the Train tab: its JSON reports, its log
lines, Stop (SIGTERM: the trainer saves a checkpoint after the current step) and how it ended."""

from __future__ import annotations

import json
import sys

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, Signal

from usanimator_app.gui.state import split_lines

STOP_WAIT_MS = 30000  # on closing the window: how long the trainer may take to save its checkpoint


class TrainProcess(QObject):
    """One trainer process: ``report(dict)`` per JSON line of stdout, ``line(text, error)`` for the
    other lines (error: from stderr), then ``ended(outcome, exit code)`` with outcome
    'finished' | 'stopped' | 'failed'."""

    report = Signal(dict)
    line = Signal(str, bool)
    ended = Signal(str, int)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.stopping = False
        self._stdout = b""
        self._stderr = b""
        self._process = QProcess(self)
        environment = QProcessEnvironment.systemEnvironment()
        environment.insert("PYTHONUNBUFFERED", "1")
        self._process.setProcessEnvironment(environment)
        self._process.readyReadStandardOutput.connect(self._read_stdout)
        self._process.readyReadStandardError.connect(self._read_stderr)
        self._process.finished.connect(self._finished)
        self._process.errorOccurred.connect(self._error)

    def start(self, arguments: list[str]) -> None:
        """Run ``python arguments...`` with this interpreter."""
        self._process.start(sys.executable, arguments)

    def stop(self) -> None:
        """Ask the trainer to stop after the current step (it saves a checkpoint)."""
        if not self.stopping:
            self.stopping = True
            self._process.terminate()

    def shutdown(self) -> None:
        """The window is closing: stop the trainer, killing it if it takes too long; no more signals."""
        self._process.finished.disconnect(self._finished)
        self._process.terminate()
        if not self._process.waitForFinished(STOP_WAIT_MS):
            self._process.kill()
            self._process.waitForFinished(5000)

    def _read_stdout(self) -> None:
        lines, self._stdout = split_lines(self._stdout, bytes(self._process.readAllStandardOutput()))
        for text in lines:
            self._stdout_line(text.strip())

    def _stdout_line(self, text: str) -> None:
        if not text:
            return
        try:
            report = json.loads(text)
        except ValueError:
            self.line.emit(text, False)
            return
        if isinstance(report, dict):
            self.report.emit(report)

    def _read_stderr(self) -> None:
        lines, self._stderr = split_lines(self._stderr, bytes(self._process.readAllStandardError()))
        for text in lines:
            if text.strip():
                self.line.emit(text, True)

    def _finished(self, code: int, status: QProcess.ExitStatus) -> None:
        self._read_stdout()
        self._read_stderr()
        for rest in (self._stdout, self._stderr):
            if rest.strip():
                self.line.emit(rest.decode("utf-8", errors="replace").strip(), False)
        worked = code == 0 and status == QProcess.ExitStatus.NormalExit
        self.ended.emit("stopped" if self.stopping else "finished" if worked else "failed", code)

    def _error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self.line.emit(f"cannot start {sys.executable}: {self._process.errorString()}", True)
            self.ended.emit("failed", -1)

"""workers.Job: items arrive as signals in the GUI thread, cancel acts within one item, errors become messages."""

from __future__ import annotations

import logging
import threading

from PySide6.QtCore import QThread
from PySide6.QtWidgets import QApplication

from usanimator_app.core.errors import UserInputError
from usanimator_app.gui.workers import Job, describe_error


def test_items_arrive_in_the_gui_thread_then_finished(qtbot):
    threads = []
    job = Job(lambda should_stop: iter(range(5)), "count")
    received = []
    job.produced.connect(lambda item: (received.append(item), threads.append(QThread.currentThread())))
    with qtbot.waitSignal(job.ended, timeout=10000):
        with qtbot.waitSignal(job.finished, timeout=10000):
            job.start()
    assert received == [0, 1, 2, 3, 4]
    assert threads and all(t == QApplication.instance().thread() for t in threads)


def test_cancel_takes_effect_within_one_item(qtbot):
    pulled = []
    release = threading.Event()

    def slow(should_stop):
        for index in range(1000):
            pulled.append(index)
            release.wait(0.005)  # a frame's worth of work
            yield index

    job = Job(slow, "slow")
    at_cancel = []

    def on_item(item):
        if item == 2 and not at_cancel:
            job.cancel()
            at_cancel.append(len(pulled))

    job.produced.connect(on_item)
    with qtbot.waitSignal(job.cancelled, timeout=10000):
        job.start()
    job.wait()
    assert len(pulled) <= at_cancel[0] + 1


def test_failures_become_one_line_messages_with_the_traceback_logged(qtbot, caplog):
    def broken(should_stop):
        yield 1
        raise RuntimeError("boom\nsecond line")

    job = Job(broken, "broken")
    with caplog.at_level(logging.ERROR, logger="usanimator_app"):
        with qtbot.waitSignal(job.failed, timeout=10000) as failed:
            job.start()
        job.wait()
    assert failed.args[0] == "Unexpected error: RuntimeError: boom (details in the log file)"
    assert any(record.exc_info for record in caplog.records)


def test_describe_error_words():
    assert describe_error(UserInputError("x.png: unreadable")) == "x.png: unreadable"
    assert describe_error(MemoryError()).startswith("Out of memory")


def test_a_runner_refuses_a_second_job_until_the_first_has_ended(qtbot):
    from PySide6.QtWidgets import QWidget

    from usanimator_app.gui.workers import JobGate, JobRunner

    tab = QWidget()  # a runner belongs to a tab, as in the app
    qtbot.addWidget(tab)
    told: list[str] = []
    runner = JobRunner("test", JobGate(told.append), tab)
    release = threading.Event()
    ends, second_items = [], []

    def held(should_stop):
        yield 0
        release.wait(10)
        raise RuntimeError("the first fails after its items")

    def second(should_stop):
        yield from range(3)

    def try_second(item):  # the first job's thread is still running: refused
        ends.append(("second refused", runner.start("second", second, second_items.append, lambda *end: None)))
        release.set()

    with qtbot.waitSignal(runner.changed, timeout=10000, check_params_cb=lambda: not runner.busy):
        assert runner.start("export", held, try_second, lambda *end: ends.append(("first", *end)))
    assert ends == [("second refused", False), ("first", "failed", "Unexpected error: RuntimeError: the first fails "
                                                         "after its items (details in the log file)")]
    assert told == ["Another job is running (Exporting…): wait for it or stop it first."] and second_items == []
    with qtbot.waitSignal(runner.changed, timeout=10000, check_params_cb=lambda: not runner.busy):
        assert runner.start("second", second, second_items.append, lambda *end: ends.append(("second", *end)))
    assert second_items == [0, 1, 2] and ends[-1] == ("second", "finished", "")


def test_the_gate_lets_one_model_job_run_in_the_application():
    from usanimator_app.gui.workers import JobGate

    told: list[str] = []
    gate = JobGate(told.append)
    animate, annotate, study = object(), object(), object()
    gate.started(animate, "run")
    assert not gate.admit(annotate, "predict") and not gate.admit(study, "make") and not gate.admit(animate, "load")
    assert told == ["Another job is running (Animating…): wait for it or stop it first."] * 3
    assert gate.admit(annotate, "load") and gate.admit(study, "load")  # reading a clip runs no model
    gate.ended(animate)
    assert gate.admit(annotate, "predict") and len(told) == 3

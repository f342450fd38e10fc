"""One model job at a time in the window: while a tab's job runs a model (held running by an event),
the other tabs' model jobs are refused with a message, and start again once it has ended."""

from __future__ import annotations

import shutil
import threading

from usanimator_app.gui.animate_tab import AnimateTab
from usanimator_app.gui.annotate_tab import AnnotateTab
from usanimator_app.gui.main_window import Launch
from usanimator_app.gui.study_tab import StudyTab
from usanimator_app.gui.train_tab import TrainTab

REFUSED = "Another job is running ({}): wait for it or stop it first."


def _hold(tab, kind: str, release: threading.Event) -> None:
    """Start a ``kind`` job on ``tab``'s jobs that runs until ``release`` is set."""

    def held(should_stop):
        yield 0
        release.wait(30)

    assert tab.jobs.start(kind, held, lambda item: None, lambda outcome, message: None)


def test_a_second_model_job_is_refused_from_every_tab(open_window, qtbot, tiny_checkpoint, media, tmp_path, drop_files):
    window = open_window(Launch(model=tiny_checkpoint, device="cpu"), tab_factories=[AnimateTab, AnnotateTab, StudyTab, TrainTab])
    animate, annotate, study, train = window.tab("Animate"), window.tab("Annotate"), window.tab("Study"), window.tab("Train")
    qtbot.waitUntil(lambda: animate.animator is not None and not animate.busy, timeout=30000)
    drop_files(animate.source_panel, media["source"])
    drop_files(animate.driving_panel, media["driving"])
    clip = shutil.copy(media["driving"], tmp_path / "clip.mp4")  # its sidecar goes beside it
    with qtbot.waitSignal(annotate.clip_loaded, timeout=20000):
        drop_files(annotate, clip)
    annotate.session.place(annotate.session.landmarks[0], 30.0, 30.0)
    annotate.track_box.method.setCurrentIndex(1)  # model motion
    annotate.predictor.choose(tiny_checkpoint)
    study.setup.real.add_paths([media["long"]])
    study.setup.sources.add_paths([media["source"]])
    study.setup.drivings.add_paths([media["driving"]])
    study.setup.folder.setText(str(tmp_path / "study"))

    def refused(words: str) -> bool:
        message, _ = window.statusBar().currentMessage(), window.statusBar().clearMessage()
        return message == REFUSED.format(words)

    release = threading.Event()
    _hold(animate, "run", release)
    assert not annotate.predict() and refused("Animating…")
    assert not annotate.track("forward") and refused("Animating…")
    assert not study.create_study() and refused("Animating…")
    assert not animate.load_model(tiny_checkpoint) and refused("Animating…")
    assert not train.start() and refused("Animating…") and train.process is None  # the trainer would share the cores
    with qtbot.waitSignal(animate.jobs.changed, timeout=30000, check_params_cb=lambda: not animate.busy):
        release.set()

    release = threading.Event()
    _hold(annotate, "predict", release)
    assert not animate.run() and refused("Predicting landmarks…")
    assert not animate.load_model(tiny_checkpoint) and refused("Predicting landmarks…")
    assert not study.create_study() and refused("Predicting landmarks…")
    assert not train.resume() and refused("Predicting landmarks…")
    with qtbot.waitSignal(annotate.jobs.changed, timeout=30000, check_params_cb=lambda: not annotate.busy):
        release.set()

    with qtbot.waitSignal(animate.run_ended, timeout=60000) as ended:
        assert animate.run()
    assert ended.args == ["finished"]

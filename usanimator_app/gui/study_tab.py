"""The Study tab: a blinded realism study of real and synthetic clips, rated 1-5 (the paper's Table 2).

Pages: setup (a new study, or open one), home (who rates next), rating (one clip at a time, no
names, captions or other hint of where it came from), results. The study itself is the Qt-free
``core.study.Study``: every answer is saved at once to the study folder's ``study.json``, so a study
is paused by leaving it and resumed by opening its folder. Every clip it plays is in the folder's
``clips/`` as a study-only ``.npz`` file under a neutral name: the clips given are copied there, and
the synthetic clips the tab makes (the model's default output, uncaptioned) are written there, so a
shared study folder names none of the user's files.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QStackedWidget, QVBoxLayout, QWidget

from usanimator_app.core.errors import UserInputError
from usanimator_app.core.identity import label
from usanimator_app.core.media import open_media
from usanimator_app.core.study import (
    CLIPS_FOLDER,
    STUDY_FILE,
    Study,
    StudyClip,
    check_uncaptioned,
    read_clip,
    store_given_clip,
    write_study_clip,
)
from usanimator_app.engine.animator import Animator, MotionOptions, OutputOptions
from usanimator_app.engine.pipeline import DrivingFrames, load_source_frame
from usanimator_app.gui.context import Tab, TabContext
from usanimator_app.gui.study_rating import RatingView
from usanimator_app.gui.study_results import ResultsView, save_results
from usanimator_app.gui.study_setup import StudyHome, StudyPlan, StudySetup
from usanimator_app.gui.workers import Cancelled, JobFunction, JobRunner

log = logging.getLogger(__name__)


def make_clips_job(animator: Animator | None, pairs: list[tuple[Path, Path]], folder: Path, max_frames: int | None,
                   given: list[tuple[Path, str]] = ()) -> JobFunction:
    """Copy each clip given, (path, kind), into ``folder/clips/<kind>_NN.npz``, then animate each
    (source, driving) pair with the model's default output, uncaptioned, into
    ``folder/clips/clip_NNN.npz``; yields a ``StudyClip`` (path relative to ``folder``) per clip."""

    def job(should_stop: Callable[[], bool]) -> Iterator[StudyClip]:
        numbers = {}
        for path, kind in given:
            if should_stop():
                raise Cancelled()
            numbers[kind] = numbers.get(kind, 0) + 1
            yield store_given_clip(path, folder, kind, numbers[kind], max_frames)
        for number, (source, driving) in enumerate(pairs, start=1):
            source_frame = load_source_frame(source, animator.image_size)
            media = open_media(driving)
            results = animator.animate(source_frame.model_frame, DrivingFrames(media, animator.image_size, max_frames),
                                       MotionOptions(), should_stop, native=source_frame.native, output=OutputOptions())
            frames = [result.frame for result in results]
            if should_stop():
                raise Cancelled()
            relative = Path(CLIPS_FOLDER) / f"clip_{number:03d}.npz"
            write_study_clip(folder / relative, np.stack(frames), media.info.fps)
            yield StudyClip(relative, "synthetic", (label(source), label(driving)))  # by content: a name may name the patient

    return job


class StudyTab(Tab):
    """Set up, rate and read a blinded realism study."""

    study_opened = Signal()  # a study was created or opened (its home page is on show)
    making_ended = Signal(str)  # making synthetic clips ended: 'finished' | 'cancelled' | 'failed'

    def __init__(self, context: TabContext, parent: QWidget | None = None):
        super().__init__("Study", context, parent)
        self.jobs = JobRunner("study", context.jobs, self)
        self.study: Study | None = None
        self._rater = 0
        self._clip = 0
        self._loaded: tuple[np.ndarray, float | None] | None = None  # the loading job's (frames, fps)
        self._pending: list[StudyClip] = []  # while clips are made: the study's clips so far
        self.setup = StudySetup(context.prompts, context.settings)
        self.home = StudyHome()
        self.rating = RatingView()
        self.results = ResultsView()
        self.pages = QStackedWidget()
        for page in (self.setup, self.home, self.rating, self.results):
            self.pages.addWidget(page)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.pages)
        self.setup.create_requested.connect(self.create_study)
        self.setup.open_requested.connect(lambda: self.open_study())
        self.setup.cancel_requested.connect(self.jobs.cancel)
        self.home.start_requested.connect(self.start_rating)
        self.home.results_requested.connect(self.show_results)
        self.home.close_requested.connect(self.close_study)
        self.rating.scored.connect(self._scored)
        self.rating.pause_requested.connect(self.pause)
        self.results.save_requested.connect(self.save_results)
        self.results.back_requested.connect(lambda: self._go_home(""))
        self._app.model_changed.subscribe(self._model_changed)
        self._model_changed()

    # ------------------------------------------------------------------------------ a new study

    def create_study(self) -> bool:
        """Check the plan, make the synthetic clips it asks for (a background job), then write the
        study and open it; False (with a dialog) when something is missing or wrong."""
        plan = self.setup.plan()
        problem = self._plan_problem(plan)
        if problem is None:
            try:
                for path in plan.real + plan.synthetic:
                    check_uncaptioned(path)
            except UserInputError as exc:
                problem = str(exc)
        if problem is not None:
            self._prompts.error(problem)
            return False
        given = [(p, "real") for p in plan.real] + [(p, "synthetic") for p in plan.synthetic]
        job = make_clips_job(self._app.model if plan.pairs else None, plan.pairs, plan.folder, plan.max_frames, given)
        kind = "make" if plan.pairs else "copy"  # only making clips runs a model
        if not self.jobs.start(kind, job, self._clip_made, self._making_ended):
            return False
        self._pending = []
        self.setup.set_busy(True)
        self.setup.progress.setRange(0, len(given) + len(plan.pairs))
        self.setup.progress.setValue(0)
        made = f" and making {len(plan.pairs)} synthetic clips" if plan.pairs else ""
        self.setup.progress_label.setText(f"Copying {len(given)} clips into the study folder{made}…")
        return True

    def _plan_problem(self, plan: StudyPlan) -> str | None:
        """Why ``plan`` cannot become a study (None: it can)."""
        if plan.folder is None:
            return "Choose a study folder first."
        if (plan.folder / STUDY_FILE).exists():
            return f"{plan.folder} already holds a study: open it to resume, or choose another folder."
        if not plan.real:
            return "Add at least one real clip."
        if not plan.synthetic and not plan.pairs:
            return "Add synthetic clips, or sources and driving clips for the model to animate."
        if plan.pairs and self._app.model is None:
            return "Load a model in the Animate tab to make synthetic clips."
        return None

    def _clip_made(self, clip: object) -> None:
        self._pending.append(clip)
        self.setup.progress.setValue(self.setup.progress.value() + 1)

    def _making_ended(self, outcome: str, message: str) -> None:
        self.setup.set_busy(False)
        texts = {"finished": "Clips ready.", "cancelled": "Cancelled: no study was written."}
        self.setup.progress_label.setText(texts.get(outcome, "Making the clips failed: no study was written."))
        if outcome == "failed":
            self._prompts.error(message)
        if outcome == "finished":
            self._write_study(self._pending)
        self.making_ended.emit(outcome)

    def _write_study(self, clips: list[StudyClip]) -> bool:
        plan = self.setup.plan()
        try:
            study = Study.create(plan.folder, clips, plan.raters, plan.seed, plan.max_frames)
        except (UserInputError, OSError) as exc:
            self._prompts.error(str(exc))
            return False
        log.info("study created in %s: %d clips, %d raters, seed %d", plan.folder, len(study.clips), study.raters, study.seed)
        self._open(study)
        return True

    # ------------------------------------------------------------------------------ open, close

    def open_study(self, folder: Path | None = None) -> bool:
        """Open (resume) the study in ``folder`` (None: ask for it)."""
        folder = folder or self._prompts.folder("Open a study folder", self._context.settings.folder("study"))
        if folder is None:
            return False
        try:
            study = Study.open(folder)
        except UserInputError as exc:
            self._prompts.error(str(exc))
            return False
        self._open(study)
        return True

    def _open(self, study: Study) -> None:
        self.study = study
        self._context.settings.set_folder("study", study.folder)
        self._go_home("")
        self.study_opened.emit()

    def close_study(self) -> None:
        self.study = None
        self.pages.setCurrentWidget(self.setup)

    def _go_home(self, message: str) -> None:
        self.home.show_study(self.study, message)
        self.pages.setCurrentWidget(self.home)

    # ----------------------------------------------------------------------------------- rating

    def start_rating(self, rater: int) -> bool:
        """Rater ``rater`` goes on with their first clip not yet rated; False when none is left."""
        if self.study is None:
            return False
        if not self.jobs.may_start("load"):
            return False
        if self.study.next_clip(rater) is None:
            self._go_home(f"Rater {rater} has rated every clip.")
            return False
        self._rater = rater
        self.pages.setCurrentWidget(self.rating)
        self._load_next()
        return True

    def pause(self) -> None:
        """Back to the home page; the answers given are saved, the current clip is asked again later."""
        self.jobs.cancel()
        if self.study is not None:
            self._go_home(f"Paused: rater {self._rater} goes on with Start rating.")

    def _load_next(self) -> None:
        clip = self.study.next_clip(self._rater)
        if clip is None:
            self._go_home(f"Rater {self._rater} has rated every clip. Thank you.")
            return
        self._clip = clip
        self.rating.wait_for_clip(f"Rater {self._rater} · clip {self.study.answered(self._rater) + 1} of {len(self.study.clips)}")
        path, max_frames = self.study.clip_path(clip), self.study.max_frames
        self.jobs.start("load", lambda should_stop: iter([read_clip(path, max_frames)]), self._clip_loaded, self._load_ended)

    def _clip_loaded(self, item: object) -> None:
        self._loaded = item

    def _load_ended(self, outcome: str, message: str) -> None:
        """The clip goes on show once its job has ended, so the answer that starts the next job never
        finds this one still running."""
        if outcome == "finished" and self.pages.currentWidget() is self.rating:
            self.rating.show_clip(*self._loaded)
        elif outcome == "failed":  # the message names the file: for the log, not for the rater
            log.error("study clip %d could not be played: %s", self._clip, message)
            self._prompts.error("This clip could not be played; the study's organiser finds why in the log file.")
            self._go_home("The clip could not be played.")

    def _scored(self, realism: int, guess: str) -> None:
        try:
            self.study.answer(self._rater, self._clip, realism, guess or None)
        except OSError as exc:
            self._prompts.error(f"{self.study.path}: cannot save the answer ({exc.strerror or exc})")
            self._go_home("The last answer was not saved.")
            return
        self._load_next()

    # ---------------------------------------------------------------------------------- results

    def show_results(self) -> None:
        if self.study is not None:
            self.results.show_results(self.study.results())
            self.pages.setCurrentWidget(self.results)

    def save_results(self) -> list[Path]:
        """Write results.csv, results.md and results.png into the study folder."""
        try:
            paths = save_results(self.study.results(), self.study.folder)
        except OSError as exc:
            self._prompts.error(f"{self.study.folder}: cannot save the results ({exc})")
            return []
        self.results.saved.setText("Saved " + ", ".join(p.name for p in paths) + f" in {self.study.folder}")
        return paths

    # ------------------------------------------------------------------------------------ other

    def _model_changed(self) -> None:
        self.setup.set_model_status(self._app.model_status if self._app.model is not None else "")

    def shutdown(self) -> None:
        """The window is closing: stop making or loading clips (every answer is already saved)."""
        self.jobs.shutdown()

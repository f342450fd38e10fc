"""Qt-free state of the window, which the widgets render and change.

Views subscribe with plain callbacks (:class:`Observers`); nothing here imports Qt, so tests drive
these objects without widgets. :class:`AppState` is what every tab shares: the model in use and the
device asked for. The tabs' own state lives here too: a training run's progress
(:class:`TrainProgress`), a fine-tune run's validations (:class:`FineTuneHistory`), a clip's
landmark edits (:class:`AnnotationEdits`), the last animation (:class:`AnimationRun`).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from usanimator_app.core.annotation_tools import BLADDER_NECK, SYMPHYSIS, PointKey
from usanimator_app.core.annotations import Annotations, LandmarkPoint, save_annotations
from usanimator_app.engine.device import DEVICE_CHOICES, check_device

DEFAULT_FPS = 20.0  # playback and export of a clip whose fps is unknown


class Observers:
    """A list of callbacks: ``subscribe(callback)``, then ``notify(*args)`` calls each in order."""

    def __init__(self):
        self._callbacks: list[Callable[..., Any]] = []

    def subscribe(self, callback: Callable[..., Any]) -> None:
        self._callbacks.append(callback)

    def unsubscribe(self, callback: Callable[..., Any]) -> None:
        self._callbacks.remove(callback)

    def notify(self, *args: Any) -> list[Any]:
        """Call every callback with ``args``; returns what they returned."""
        return [callback(*args) for callback in list(self._callbacks)]

    def __len__(self) -> int:
        return len(self._callbacks)


class AppState:
    """The model in use (an ``engine.animator.Animator``, None before one loads) and the device
    asked for ('auto' | 'cuda' | 'cpu'), shared by every tab."""

    def __init__(self, device: str = "auto"):
        self.model: Any = None
        self.model_status = ""  # what the status bar says about the model
        self.device = device if device in DEVICE_CHOICES else "auto"
        self.model_changed = Observers()  # () after the model or its status changed
        self.device_changed = Observers()  # (device key) after the device asked for changed
        self.model_requests = Observers()  # (checkpoint path) -> True when that handler loads it

    def set_model(self, model: Any, status: str) -> None:
        """A model was loaded (or none is usable: ``model`` None)."""
        self.model = model
        self.model_status = status
        self.model_changed.notify()

    def set_model_status(self, status: str) -> None:
        """Say what happens to the model (loading, or why a new one is not usable) and keep it."""
        self.model_status = status
        self.model_changed.notify()

    def set_device(self, device: str) -> None:
        """The device every tab uses from now on; UserInputError for one not in ``DEVICE_CHOICES``."""
        if check_device(device) != self.device:
            self.device = device
            self.device_changed.notify(device)

    def request_model(self, path: Path) -> bool:
        """Ask the tab that loads models to load ``path``; False when none takes it (absent or busy)."""
        return any(self.model_requests.notify(Path(path)))


def format_speed(step: int, total: int, rate: float | None) -> str:
    """'Step 120 / 1000 · 2.31 steps/s · ETA 6:21'."""
    text = f"Step {step} / {total}"
    if rate:
        eta = round(max(0, total - step) / rate)
        hours, rest = divmod(eta, 3600)
        clock = f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"
        text += f" · {rate:.2f} steps/s · ETA {clock}"
    return text


class TrainProgress:
    """A training run's loss curves (``history``: term -> (steps, values)) and its speed, from the
    trainer's reports or from a run folder's metrics.jsonl."""

    def __init__(self):
        self.history: dict[str, tuple[list[int], list[float]]] = {}
        self.last_step: int | None = None  # the newest step reported by this process
        self._clock: tuple[float, int] | None = None  # (time, step) before this process's first step

    def clear(self) -> None:
        self.history = {}

    def restart(self) -> None:
        """A new trainer process: its speed is measured afresh."""
        self.last_step = None
        self._clock = None

    def add_losses(self, step: int, losses: dict) -> None:
        for name, value in losses.items():
            steps, values = self.history.setdefault(name, ([], []))
            steps.append(step)
            value = float(value)
            values.append(value if value > 0 and math.isfinite(value) else math.nan)  # log axis: zeros are gaps

    def load_metrics(self, path: Path) -> None:
        """The curves that a run folder's metrics.jsonl holds (what an earlier or resumed run logged)."""
        self.clear()
        if not path.is_file():
            return
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
                step = int(record["step"])
            except (ValueError, KeyError, TypeError):
                continue
            self.add_losses(step, {k: v for k, v in record.items() if k not in ("step", "seconds", "time")})

    def step_done(self, report: dict, now: float) -> str:
        """Take one step's report (``losses``, ``seconds`` since the process began); returns the speed line."""
        step, total = int(report.get("step", 0)), int(report.get("total", 0))
        if self._clock is None:
            self._clock = (now - float(report.get("seconds", 0.0)), step - 1)
        started, first = self._clock
        self.last_step = step
        self.add_losses(step, report.get("losses") or {})
        return format_speed(step, total, (step - first) / (now - started) if now > started else None)


SPLIT_PREFIX = "validation split:"  # the trainer's message naming the held-out clips
BUDGET_MESSAGE = re.compile(r"time budget ([0-9.]+) min")  # the trainer's message estimating the run


def _validation(entry: Any) -> dict | None:
    """A validation dict of the trainer with its numbers as floats; None when it lacks minutes or L1."""
    try:
        return {**entry, "step": int(entry.get("step", 0)), "minutes": float(entry["minutes"]),
                "l1": float(entry["l1"]), "best": bool(entry.get("best"))}
    except (AttributeError, KeyError, TypeError, ValueError):
        return None


class FineTuneHistory:
    """A fine-tune run's validations (the starting model's first, at 0 minutes), its split sentence,
    time budget and verdict, from the trainer's reports or a run folder's finetune.json."""

    def __init__(self):
        self.clear()

    def clear(self) -> None:
        self.validations: list[dict] = []  # by step; the trainer's dicts ('step', 'minutes', 'l1', 'best', ...)
        self.split = ""
        self.budget_minutes: float | None = None
        self.verdict: dict | None = None

    def add_validation(self, entry: Any) -> bool:
        """One validation; it replaces one of the same step (a resumed run may validate it again)."""
        validation = _validation(entry)
        if validation is None:
            return False
        self.validations = sorted([v for v in self.validations if v["step"] != validation["step"]] + [validation],
                                  key=lambda v: v["step"])
        return True

    def take(self, report: dict) -> bool:
        """One trainer report; True when it changed the history (a split or budget message, a validation, the verdict)."""
        message = str(report.get("message") or "")
        budget = BUDGET_MESSAGE.match(message)
        changed = False
        if message.startswith(SPLIT_PREFIX):
            self.split, changed = message, True
        if budget:
            self.budget_minutes, changed = float(budget.group(1)), True
        if isinstance(report.get("validation"), dict):
            changed = self.add_validation(report["validation"]) or changed
        if isinstance(report.get("verdict"), dict):
            self.verdict, changed = report["verdict"], True
        return changed

    def load(self, path: Path) -> None:
        """What a run folder's finetune.json holds (nothing when it is missing or unreadable)."""
        self.clear()
        try:
            record = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if not isinstance(record, dict):
            return
        for entry in record.get("validations") or []:
            self.add_validation(entry)
        split = record.get("split")
        self.split = str(split.get("text", "")) if isinstance(split, dict) else ""
        budget = record.get("budget_minutes")
        self.budget_minutes = float(budget) if isinstance(budget, (int, float)) else None
        self.verdict = record["verdict"] if isinstance(record.get("verdict"), dict) else None

    def curve(self) -> tuple[list[float], list[float]]:
        """(minutes of training, validation L1) of every validation, the start first."""
        return [v["minutes"] for v in self.validations], [v["l1"] for v in self.validations]

    def start(self) -> dict | None:
        """The starting model's validation (step 0)."""
        start = _validation(self.verdict.get("start")) if self.verdict else None
        return start or next((v for v in self.validations if v["step"] == 0), None)

    def kept(self) -> dict | None:
        """The validation of the model kept as best.pt: the verdict's, else the newest marked best."""
        kept = _validation(self.verdict.get("kept")) if self.verdict else None
        return kept or next((v for v in reversed(self.validations) if v["best"]), None)

    def identity_l1(self) -> float | None:
        """The L1 of showing the source unchanged (the floor a model must beat), from the newest validation."""
        value = self.validations[-1].get("identity_l1") if self.validations else None
        return float(value) if isinstance(value, (int, float)) else None

    def better(self) -> bool | None:
        """The verdict: whether the kept model beats the start (None before the run ends)."""
        return bool(self.verdict.get("better")) if self.verdict else None

    def verdict_text(self) -> str:
        return str(self.verdict.get("text", "")) if self.verdict else ""

    def summary(self) -> str:
        """The verdict's sentence; before it, how the kept model compares with the start so far."""
        kept, start = self.kept(), self.start()
        if self.verdict and kept is not None and start is not None:  # short: the whole sentence is the tooltip and the log's
            identity = start.get("identity_l1", float("nan"))
            if self.better():
                return (f"Better than the start: validation L1 {kept['l1']:.4f} vs {start['l1']:.4f} "
                        f"(identity {identity:.4f}); kept step {kept['step']}")
            return f"No better than the start (validation L1 {start['l1']:.4f}, identity {identity:.4f}): best.pt is the start"
        if self.verdict or kept is None:
            return self.verdict_text()
        text = f"Kept so far: validation L1 {kept['l1']:.4f} at {kept['minutes']:.1f} min"
        return text + (f" (start {start['l1']:.4f})" if start else "")


def fine_tune_note(report: dict) -> str:
    """A trainer report's validation or verdict in words, for the log ('' for any other report)."""
    validation = _validation(report.get("validation"))
    if validation is not None:
        when = "of the starting model" if validation["step"] == 0 else f"at {validation['minutes']:.1f} min"
        identity = validation.get("identity_l1")
        text = f"validation {when}: L1 {validation['l1']:.4f}"
        text += f" (identity {float(identity):.4f})" if isinstance(identity, (int, float)) else ""
        return text + (", kept" if validation["best"] else "")
    verdict = report.get("verdict")
    return f"verdict: {verdict.get('text', '')}" if isinstance(verdict, dict) else ""


def split_lines(pending: bytes, chunk: bytes) -> tuple[list[str], bytes]:
    """The complete lines of ``pending + chunk`` (decoded, stripped at the right) and what is left over."""
    *lines, rest = (pending + chunk).split(b"\n")
    return [line.decode("utf-8", errors="replace").rstrip() for line in lines], rest


@dataclass
class _Edit:
    text: str
    before: dict[PointKey, LandmarkPoint | None]
    after: dict[PointKey, LandmarkPoint | None]
    landmarks: tuple[list[str], list[str]] | None  # (before, after) when the landmark set changes


class AnnotationEdits:
    """A clip's annotations with undo and redo; every change (undo and redo too) is saved at once
    to ``path`` with the atomic ``save_annotations``."""

    def __init__(self, annotations: Annotations, path: Path):
        self.annotations = annotations
        self.path = Path(path)
        self._done: list[_Edit] = []
        self._undone: list[_Edit] = []
        self.changed = Observers()  # () after every change
        self.save_failed = Observers()  # (message) when the sidecar could not be written

    def edit(self, text: str, points: dict[PointKey, LandmarkPoint | None], landmarks: list[str] | None = None) -> bool:
        """Make one undoable edit (None removes a point); False (and nothing kept) when it changes nothing."""
        points = {key: point for key, point in points.items() if self.annotations.point(*key) != point}
        if landmarks is not None and list(landmarks) == self.annotations.landmarks:
            landmarks = None
        if not points and landmarks is None:
            return False
        before = {key: self.annotations.point(*key) for key in points}
        change = _Edit(text, before, points, None if landmarks is None else (list(self.annotations.landmarks), list(landmarks)))
        self._done.append(change)
        self._undone.clear()
        self._apply(change.after, None if change.landmarks is None else change.landmarks[1])
        return True

    def undo(self) -> None:
        if self._done:
            change = self._done.pop()
            self._undone.append(change)
            self._apply(change.before, None if change.landmarks is None else change.landmarks[0])

    def redo(self) -> None:
        if self._undone:
            change = self._undone.pop()
            self._done.append(change)
            self._apply(change.after, None if change.landmarks is None else change.landmarks[1])

    @property
    def can_undo(self) -> bool:
        return bool(self._done)

    @property
    def can_redo(self) -> bool:
        return bool(self._undone)

    @property
    def undo_text(self) -> str:
        """What Undo would undo ('' when nothing)."""
        return self._done[-1].text if self._done else ""

    @property
    def redo_text(self) -> str:
        return self._undone[-1].text if self._undone else ""

    def _apply(self, points: dict[PointKey, LandmarkPoint | None], landmarks: list[str] | None) -> None:
        if landmarks is not None:
            self.annotations.landmarks = list(landmarks)
        for (frame, name), point in points.items():
            if point is None:
                self.annotations.remove_point(frame, name)
            else:
                self.annotations.set_point(frame, name, point.x, point.y, point.origin)
        try:
            save_annotations(self.annotations, self.path)
        except OSError as exc:
            self.save_failed.notify(f"{self.path}: cannot save the annotations ({exc.strerror or exc})")
        self.changed.notify()


def descent_notes(landmarks: list[str], measured: bool, rest: int, unit: str) -> list[str]:
    """Why the bladder-neck descent is missing or in px, for a clip with the landmark set ``landmarks``."""
    notes = []
    if SYMPHYSIS not in landmarks or BLADDER_NECK not in landmarks:
        notes.append(f"Descent needs the landmarks {SYMPHYSIS} and {BLADDER_NECK}.")
    elif not measured:
        notes.append(f"The rest frame ({rest}) needs both points.")
    if unit == "px":
        notes.append("No pixel spacing: descent shown in px.")
    return notes


@dataclass
class RunStart:
    """First item of an animation job: how many frames will come, the source as the model sees it,
    and the driving clip's geometry (its pixels <-> model pixels)."""

    total: int
    source: Any
    driving_geometry: Any = None


def format_progress(done: int, total: int, seconds: float) -> str:
    """'12 / 100 frames · 8.3 frames/s · ETA 0:11'."""
    if done == 0 or seconds <= 0:
        return f"{done} / {total} frames"
    rate = done / seconds
    eta = round(max(0, total - done) / rate)
    return f"{done} / {total} frames · {rate:.1f} frames/s · ETA {eta // 60}:{eta % 60:02d}"


class AnimationRun:
    """The Animate tab's last run: its ``FrameResult``s (kept for playback and export), the source
    as the model saw it, the landmark names, the frame count, fps and timing."""

    def __init__(self):
        self.results: list[Any] = []
        self.source: Any = None
        self.driving_geometry: Any = None  # the driving clip's FrameGeometry (from RunStart)
        self.names: tuple[str, ...] = ()
        self.total = 0
        self.fps = DEFAULT_FPS
        self.shown = 0  # results on show so far (the view redraws only when more came)
        self._started = 0.0

    def begin(self, names: tuple[str, ...], fps: float | None) -> None:
        """A new run with these landmark names at the driving clip's fps (None: unknown)."""
        self.clear()
        self.names, self.fps, self.total = tuple(names), fps or DEFAULT_FPS, 0

    def clear(self) -> None:
        self.results = []
        self.shown = 0

    def add(self, item: Any, now: float) -> None:
        """One item of the animation job: the :class:`RunStart`, then a FrameResult per frame."""
        if isinstance(item, RunStart):
            self.total, self.source, self._started = item.total, item.source, now
            self.driving_geometry = item.driving_geometry
        else:
            self.results.append(item)

    def take_news(self) -> bool:
        """True (once) when results came since the last call."""
        news = len(self.results) != self.shown
        self.shown = len(self.results)
        return news

    def progress_text(self, now: float) -> str:
        return format_progress(len(self.results), self.total, now - self._started)

    def summary(self, outcome: str, now: float) -> str:
        """How the run ended, in words."""
        count = len(self.results)
        return {"finished": f"Animated {count} frames in {now - self._started:.1f} s",
                "cancelled": f"Cancelled after {count} of {self.total} frames"}.get(outcome, "Animation failed")

"""The rating page: one clip at a time, looping, scaled to fill the view, with nothing that names it;
keys 1-5 score its realism (and go on), R / S guess real / synthetic first (optional)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QPixmap, QResizeEvent
from PySide6.QtWidgets import QButtonGroup, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from usanimator_app.core.study import SCORES
from usanimator_app.gui.state import DEFAULT_FPS
from usanimator_app.gui.widgets import to_qimage

SCORE_HINTS = {1: "clearly artificial", 2: "probably artificial", 3: "cannot tell", 4: "probably real",
               5: "indistinguishable from a real scan"}
GUESS_KEYS = {Qt.Key.Key_R: "real", Qt.Key.Key_S: "synthetic"}


class RatingView(QWidget):
    """Shows one clip and takes one answer: ``scored(realism, guess)`` (guess '' when none)."""

    scored = Signal(int, str)
    pause_requested = Signal()
    clip_shown = Signal()  # a clip is on show and answers are taken

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._frames: np.ndarray | None = None
        self._index = 0
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._next_frame)
        self.position = QLabel("")
        self.screen_label = QLabel("")
        self.screen_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.screen_label.setStyleSheet("QLabel { background: black; color: #aaa; }")
        self.screen_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.score_buttons = {}
        scores = QHBoxLayout()
        scores.addWidget(QLabel("Realism:"))
        for score in SCORES:
            button = QPushButton(f"{score}  {SCORE_HINTS[score]}")
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.clicked.connect(lambda _checked=False, s=score: self.score(s))
            self.score_buttons[score] = button
            scores.addWidget(button)
        self.guess_buttons = QButtonGroup(self)
        self.guess_buttons.setExclusive(False)  # a second press takes the guess back
        guesses = QHBoxLayout()
        guesses.addWidget(QLabel("Your guess (optional):"))
        for kind, text in (("real", "Real (R)"), ("synthetic", "Synthetic (S)")):
            button = QPushButton(text, checkable=True)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.setProperty("kind", kind)
            button.toggled.connect(lambda on, b=button: on and self._only(b))
            self.guess_buttons.addButton(button)
            guesses.addWidget(button)
        guesses.addStretch(1)
        pause = QPushButton("Pause")
        pause.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        pause.clicked.connect(self.pause)
        guesses.addWidget(pause)
        top = QHBoxLayout()
        top.addWidget(self.position)
        top.addStretch(1)
        top.addWidget(QLabel("Keys: R or S to guess (optional), then 1–5 to score and go on"))
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.screen_label, 1)
        layout.addLayout(scores)
        layout.addLayout(guesses)
        self._set_answering(False)

    @property
    def guess(self) -> str:
        """'real', 'synthetic' or '' (none)."""
        checked = self.guess_buttons.checkedButton()
        return checked.property("kind") if checked is not None else ""

    def set_guess(self, kind: str) -> None:
        """Choose a guess; choosing the same again takes it back."""
        for button in self.guess_buttons.buttons():
            if button.property("kind") == kind:
                button.setChecked(not button.isChecked())

    def wait_for_clip(self, position: str) -> None:
        """The next clip is loading: nothing on show, no answers."""
        self._stop()
        self.position.setText(position)
        self.screen_label.clear()
        self.screen_label.setText("Loading…")
        for button in self.guess_buttons.buttons():
            button.setChecked(False)
        self._set_answering(False)

    def show_clip(self, frames: np.ndarray, fps: float | None) -> None:
        """Play ``frames`` (T, H, W) in a loop at ``fps`` and take answers."""
        self._frames, self._index = frames, 0
        self._show_frame()
        self._timer.start(round(1000 / (fps or DEFAULT_FPS)))
        self._set_answering(True)
        self.setFocus()
        self.clip_shown.emit()

    def shown_frame(self) -> np.ndarray | None:
        """The frame on show (None while loading)."""
        return None if self._frames is None else self._frames[self._index]

    def score(self, realism: int) -> None:
        if self._frames is not None:
            guess = self.guess
            self.wait_for_clip(self.position.text())
            self.scored.emit(realism, guess)

    def pause(self) -> None:
        self._stop()
        self.pause_requested.emit()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        key = event.key()
        if Qt.Key.Key_1 <= key <= Qt.Key.Key_5:
            self.score(int(key - Qt.Key.Key_0))
        elif key in GUESS_KEYS and self._frames is not None:
            self.set_guess(GUESS_KEYS[key])
        else:
            super().keyPressEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._show_frame()

    def _only(self, chosen: QPushButton) -> None:
        for button in self.guess_buttons.buttons():
            if button is not chosen:
                button.setChecked(False)

    def _set_answering(self, answering: bool) -> None:
        for button in (*self.score_buttons.values(), *self.guess_buttons.buttons()):
            button.setEnabled(answering)

    def _stop(self) -> None:
        self._timer.stop()
        self._frames = None

    def _next_frame(self) -> None:
        if self._frames is not None:
            self._index = (self._index + 1) % len(self._frames)
            self._show_frame()

    def _show_frame(self) -> None:
        frame = self.shown_frame()
        if frame is None:
            return
        size = self.screen_label.size()
        pixmap = QPixmap.fromImage(to_qimage(frame))
        self.screen_label.setPixmap(pixmap.scaled(size, Qt.AspectRatioMode.KeepAspectRatio,
                                                  Qt.TransformationMode.SmoothTransformation))

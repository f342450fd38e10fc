"""What the Train tab shows of a fine-tune run: validation L1 over the minutes of training against
identity's, the starting and the kept model, the validation split, the verdict, and a button that
loads the kept model (RUN/best.pt) in the Animate tab."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGroupBox, QVBoxLayout, QWidget
import pyqtgraph as pg  # after PySide6, so pyqtgraph uses it

from usanimator_app.engine.finetune import BEST_FILE, FINETUNE_FILE
from usanimator_app.gui.state import FineTuneHistory, fine_tune_note
from usanimator_app.gui.widgets import push_button, wrapped_label

BETTER_COLOUR = "#2e7d32"  # the verdict: better than the start
NOT_BETTER_COLOUR = "#b26a00"  # the verdict: no better (best.pt is the starting model)
VIEW_WIDTH = 400  # beside the loss plot
LEGEND_ROOM = 0.8  # the y range above the highest value, as a share of the values' span
LOWER_MARGIN = 0.15  # and below the lowest
PLOT_HEIGHT = 130  # the curve stays readable under the split and verdict lines
SPLIT_CHARS = 120  # of the split sentence shown (about two lines; the tooltip holds all of it)


class ValidationPlot(pg.PlotWidget):
    """Validation L1 against minutes of training (points and line), identity's L1 as a dashed line,
    the starting model and the kept one marked; a legend names them."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, background="k")
        self.setLabel("bottom", "minutes of training")
        self.setLabel("left", "validation L1")
        self.showGrid(x=True, y=True, alpha=0.25)
        self.getAxis("left").enableAutoSIPrefix(False)
        self.legend = self.addLegend(offset=(-4, 2), labelTextColor="#ddd", labelTextSize="8pt", brush=(0, 0, 0, 200),
                                     colCount=4, horSpacing=6, verSpacing=-6)
        self.curve = self.plot([], [], pen=pg.mkPen("#4fc3f7", width=1.5), symbol="o", symbolSize=6,
                               symbolBrush="#4fc3f7", symbolPen=None)
        self.identity = self.plot([], [], pen=pg.mkPen("#bbbbbb", width=1.5, style=Qt.PenStyle.DashLine))
        self.start = self.plot([], [], pen=None, symbol="s", symbolSize=10, symbolBrush="#f5f5f5", symbolPen="#f5f5f5")
        self.kept = self.plot([], [], pen=None, symbol="star", symbolSize=18, symbolBrush="#66d17a", symbolPen="#1b5e20")
        for item, name in ((self.curve, "validation"), (self.identity, "identity"), (self.start, "start"),
                           (self.kept, "kept")):
            self.legend.addItem(item, name)

    def show_history(self, history: FineTuneHistory) -> None:
        """Draw ``history``; identity's line spans the time budget (or the minutes validated)."""
        minutes, l1 = history.curve()
        self.curve.setData(minutes, l1)
        identity = history.identity_l1()
        end = max(minutes + [history.budget_minutes or 0.0]) or 1.0
        if identity is None:
            self.identity.setData([], [])
        else:
            self.identity.setData([0.0, end], [identity, identity])
        for item, validation in ((self.start, history.start()), (self.kept, history.kept())):
            item.setData([validation["minutes"]] if validation else [], [validation["l1"]] if validation else [])
        values = l1 + ([identity] if identity is not None else [])
        if values:  # room above the points for the legend
            low, high = min(values), max(values)
            span = high - low or 0.1 * high or 1e-3
            self.setYRange(low - LOWER_MARGIN * span, high + LEGEND_ROOM * span, padding=0)
        else:
            self.enableAutoRange(axis="y")


class FineTuneView(QGroupBox):
    """The Validation box: renders a :class:`FineTuneHistory` fed by the trainer's reports or by a
    run folder's finetune.json; *Use kept model in Animate* is enabled once a verdict (or best.pt) exists."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Validation", parent)
        self.setFixedWidth(VIEW_WIDTH)
        self.history = FineTuneHistory()
        self.run: Path | None = None
        self.plot = ValidationPlot()
        self.plot.setMinimumHeight(PLOT_HEIGHT)
        self.split_label = wrapped_label()
        self.verdict_label = wrapped_label()
        self.use_button = push_button("Use kept model in Animate",
                                      f"Load the run's kept model ({BEST_FILE}: the best validated) in the Animate tab")
        layout = QVBoxLayout(self)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.split_label)
        layout.addWidget(self.verdict_label)
        layout.addWidget(self.use_button)
        self._render()

    def show_run(self, run: Path | None) -> None:
        """The history in ``run``'s finetune.json (empty without one)."""
        self.run = run
        if run is None:
            self.history.clear()
        else:
            self.history.load(run / FINETUNE_FILE)
        self._render()

    def begin(self, run: Path) -> None:
        """A new run in ``run``: nothing validated yet."""
        self.run = run
        self.history.clear()
        self._render()

    def take_report(self, report: dict) -> str:
        """One trainer report; returns its validation or verdict in words for the log ('' for others)."""
        if self.history.take(report):
            self._render()
        return fine_tune_note(report)

    def kept_path(self) -> Path | None:
        """RUN/best.pt (None without a run folder)."""
        return self.run / BEST_FILE if self.run is not None else None

    def show_if(self, fine_tuning: bool) -> None:
        """Shown for a fine-tune run or a run folder with a validation history."""
        self.setVisible(fine_tuning or bool(self.history.validations or self.history.verdict))

    def _render(self) -> None:
        history = self.history
        self.plot.show_history(history)
        split = history.split or ("Fine-tuning holds out validation clips and validates the starting model, "
                                  "then every few minutes; the best is kept as best.pt.")
        self.split_label.setText(split if len(split) <= SPLIT_CHARS else split[:SPLIT_CHARS - 1].rstrip() + "…")
        self.split_label.setToolTip(history.split)
        better = history.better()
        colour = "" if better is None else BETTER_COLOUR if better else NOT_BETTER_COLOUR
        self.verdict_label.setStyleSheet(f"color: {colour}; font-weight: bold" if colour else "")
        self.verdict_label.setText(history.summary())
        self.verdict_label.setToolTip(history.verdict_text() if history.verdict else "")
        kept = self.kept_path()
        self.use_button.setEnabled(kept is not None and (history.verdict is not None or kept.is_file()))

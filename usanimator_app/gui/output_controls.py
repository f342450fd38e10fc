"""The Animate tab's output settings: what the output frame shows and at what size
(``engine.animator.OutputOptions``, the GUI twin of ``usanimator animate --output-*``)."""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QGroupBox, QSpinBox, QWidget

from usanimator_app.core.validation import OUTPUT_SIDE_RANGE
from usanimator_app.engine.animator import OutputOptions
from usanimator_app.engine.render import DEFAULT_MAX_SIDE
from usanimator_app.gui.settings import Settings
from usanimator_app.gui.widgets import row

SIZES = (("native", "Native"), ("model", "Model size"), ("custom", "Custom"))
MODES = (("default", "Default"), ("generated", "Generated (paper)"), ("content", "Content"))


class OutputControls(QGroupBox):
    """Output size (native / model / N px), the longest-side cap of native output, the mode and
    whether the source's imaging sector stays fixed."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Output", parent)
        self.size = QComboBox()
        for key, label in SIZES:
            self.size.addItem(label, key)
        self.size.setToolTip("Native: the source's own resolution (its content box), capped by 'Max side'.\n"
                             "Model size: the model's square scale. Custom: the longest side in pixels.")
        self.custom = _side_spin(512, "Longest side of the output in pixels")
        self.max_side = _side_spin(DEFAULT_MAX_SIDE, "Native output larger than this is scaled down to it")
        self.mode = QComboBox()
        for key, label in MODES:
            self.mode.addItem(label, key)
        self.mode.setToolTip("Default: the source's own pixels moved by the predicted motion, the generated frame\n"
                             "filling what the source cannot show. Generated: the paper's generated frame.\n"
                             "Content: the content decoder's image.")
        self.keep_sector = QCheckBox("Keep the fan as in the source")
        self.keep_sector.setChecked(OutputOptions().keep_sector)
        self.keep_sector.setToolTip("Default mode: the imaging sector's outline and everything outside it stay as in the source,\n"
                                    "and the fill is never brighter than the source around it (--no-keep-sector turns it off)")
        form = QFormLayout(self)
        form.addRow("Size", row(self.size, self.custom))
        form.addRow("Max side", self.max_side)
        form.addRow("Mode", self.mode)
        form.addRow("", self.keep_sector)
        self.size.currentIndexChanged.connect(self._update_enabled)
        self.mode.currentIndexChanged.connect(self._update_enabled)
        self._update_enabled()

    def options(self) -> OutputOptions:
        key = self.size.currentData()
        size = self.custom.value() if key == "custom" else key
        return OutputOptions(mode=self.mode.currentData(), size=size, max_side=self.max_side.value(),
                             keep_sector=self.keep_sector.isChecked())

    def set_options(self, options: OutputOptions) -> None:
        custom = options.size not in ("native", "model")
        self.size.setCurrentIndex(self.size.findData("custom" if custom else options.size))
        if custom:
            self.custom.setValue(int(options.size))
        self.max_side.setValue(int(options.max_side))
        self.mode.setCurrentIndex(max(0, self.mode.findData(options.mode)))
        self.keep_sector.setChecked(options.keep_sector)
        self._update_enabled()

    def load(self, settings: Settings) -> None:
        size = settings.text("output/size", "native")
        mode = settings.text("output/mode", "default")
        low, high = OUTPUT_SIDE_RANGE
        side = min(max(settings.integer("output/max_side", DEFAULT_MAX_SIDE), low), high)
        self.set_options(OutputOptions(
            mode=mode if mode in dict(MODES) else "default",
            size=size if size in ("native", "model") or (size.isdigit() and low <= int(size) <= high) else "native",
            max_side=side,
            keep_sector=settings.flag("output/keep_sector", True),
        ))

    def save(self, settings: Settings) -> None:
        options = self.options()
        settings.set("output/size", str(options.size))
        settings.set("output/max_side", options.max_side)
        settings.set("output/mode", options.mode)
        settings.set("output/keep_sector", options.keep_sector)

    def _update_enabled(self) -> None:
        key = self.size.currentData()
        self.custom.setEnabled(key == "custom")
        self.max_side.setEnabled(key == "native")
        self.keep_sector.setEnabled(self.mode.currentData() == "default")


def _side_spin(value: int, tip: str) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(*OUTPUT_SIDE_RANGE)
    spin.setSingleStep(64)
    spin.setSuffix(" px")
    spin.setValue(value)
    spin.setToolTip(tip)
    return spin

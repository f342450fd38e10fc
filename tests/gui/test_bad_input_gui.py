"""Bad input through the window: a one-line dialog naming the file, and the window stays usable.
(Patient identifiers in a DICOM header: tests/gui/test_phi_gui.py.)"""

from __future__ import annotations

from pathlib import Path

import data_store
import pydicom
import torch

US_FILES = Path(data_store.__file__).parent / "data"


def _one_line_naming(prompts, name: str) -> None:
    assert len(prompts.errors) == 1, prompts.errors
    message = prompts.errors[0]
    assert name in message and "\n" not in message and "Traceback" not in message and "weights_only" not in message


def test_hostile_dicom_files_give_a_dialog_and_the_tab_stays_usable(ready_window, media, prompts, drop_files, tmp_path):
    tab = ready_window.tab("Animate")
    header = pydicom.dcmread(pydicom.examples.ybr_color.filename)
    header.add_new(pydicom.datadict.tag_for_keyword("NumberOfFrames"), "IS", "-1")
    with pydicom.config.disable_value_validation():
        header.save_as(tmp_path / "frames.dcm")
    drop_files(tab.source_panel, tmp_path / "frames.dcm")
    _one_line_naming(prompts, "frames.dcm")
    data = bytearray((US_FILES / "US1_J2KR.dcm").read_bytes())
    siz = data.find(b"\xff\x4f\xff\x51")
    data[siz + 8 : siz + 16] = (30000).to_bytes(4, "big") + (25000).to_bytes(4, "big")  # declares 750 Mpx
    (tmp_path / "bomb.dcm").write_bytes(bytes(data))
    prompts.errors.clear()
    drop_files(tab.driving_panel, tmp_path / "bomb.dcm")
    _one_line_naming(prompts, "bomb.dcm")
    assert tab.load_source(media["source"]) and "source.png" in tab.source_panel.facts.text()


def test_checkpoint_with_nan_weights_gives_a_dialog_and_keeps_the_model(ready_window, tiny_checkpoint, tmp_path, qtbot, prompts):
    tab = ready_window.tab("Animate")
    payload = torch.load(tiny_checkpoint, weights_only=True)
    for state in payload["networks"].values():
        for value in state.values():
            if value.is_floating_point():
                value.fill_(float("nan"))
    torch.save(payload, tmp_path / "nan.pt")
    with qtbot.waitSignal(tab.model_ready, timeout=30000) as ready:
        tab.load_model(tmp_path / "nan.pt")
    assert ready.args == [False]
    _one_line_naming(prompts, "nan.pt")
    assert "non-finite" in prompts.errors[0]
    assert tab.animator is not None and tab.animator.checkpoint_path.name == "tiny.pt"

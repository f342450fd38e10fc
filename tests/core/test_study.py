"""The blinded realism study, Qt-free: seeded orders, an atomic save after every answer, resume, the
results table from a scripted session (checked against hand-computed values), schema errors, the
caption check."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from usanimator_app.core import atomic
from usanimator_app.core.compose import add_caption, compose_frame
from usanimator_app.core.errors import UserInputError
from usanimator_app.core.export import write_mp4
from usanimator_app.core.identity import label
from usanimator_app.core.phantom import PhantomParams, simulate_clip
from usanimator_app.core.study import (
    STUDY_FILE,
    Study,
    StudyClip,
    check_uncaptioned,
    store_given_clip,
    has_caption,
    rater_orders,
    read_clip,
    wilson_interval,
    write_study_clip,
)


def _clips(real: int, synthetic: int) -> list[StudyClip]:
    return ([StudyClip(Path(f"clips/real_{i:02d}.npz"), "real", content=f"sha256:{i:064x}") for i in range(real)]
            + [StudyClip(Path(f"clips/clip_{i:03d}.npz"), "synthetic", ("s.png", "d.mp4")) for i in range(synthetic)])


@pytest.fixture(scope="module")
def phantom_frames() -> np.ndarray:
    return simulate_clip(PhantomParams(size=96, frames=3, seed=5)).frames


def test_each_raters_order_is_a_shuffle_reproducible_from_the_seed(tmp_path):
    orders = rater_orders(seed=41, raters=3, clips=12)
    assert orders == rater_orders(seed=41, raters=3, clips=12)
    assert all(sorted(order) == list(range(12)) for order in orders)
    assert len({tuple(order) for order in orders}) == 3  # each rater gets their own order
    assert orders[0] != list(range(12))
    assert rater_orders(seed=42, raters=3, clips=12) != orders
    study = Study.create(tmp_path, _clips(6, 6), raters=3, seed=41)
    assert study.orders == orders
    stored = json.loads((tmp_path / STUDY_FILE).read_text())
    assert stored["seed"] == 41 and stored["orders"] == orders


def test_every_answer_is_saved_at_once_and_a_failed_save_loses_only_that_answer(tmp_path, monkeypatch):
    study = Study.create(tmp_path, _clips(2, 2), raters=1, seed=3)
    for realism, clip in zip((4, 2, 5), study.orders[0]):
        study.answer(1, clip, realism, "real")
        on_disk = Study.open(tmp_path)
        assert on_disk.ratings == study.ratings and on_disk.ratings[(1, clip)].realism == realism
    before = (tmp_path / STUDY_FILE).read_bytes()

    def crash(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", crash)  # the rename that makes a write visible
    last = study.orders[0][3]
    with pytest.raises(OSError):
        study.answer(1, last, 3, None)
    assert (tmp_path / STUDY_FILE).read_bytes() == before  # the file holds the three earlier answers
    assert sorted(p.name for p in tmp_path.iterdir()) == [STUDY_FILE]  # no temporary file left
    assert (1, last) not in study.ratings and study.next_clip(1) == last


def test_a_study_resumes_where_each_rater_stopped(tmp_path):
    study = Study.create(tmp_path, _clips(3, 2), raters=2, seed=9, max_frames=24)
    order = study.orders[0]
    for clip in order[:3]:
        study.answer(1, clip, 3)
    resumed = Study.open(tmp_path)
    assert (resumed.seed, resumed.raters, resumed.max_frames, resumed.orders) == (9, 2, 24, study.orders)
    assert resumed.clips == study.clips
    assert resumed.answered(1) == 3 and resumed.next_clip(1) == order[3]
    assert resumed.first_unfinished_rater() == 1
    for clip in order[3:]:
        resumed.answer(1, clip, 4)
    assert resumed.next_clip(1) is None and resumed.first_unfinished_rater() == 2
    assert resumed.next_clip(2) == study.orders[1][0]
    assert resumed.clip_path(0) == tmp_path / "clips" / "real_00.npz"  # a clip given by the user: its copy
    assert resumed.clip_path(3) == tmp_path / "clips" / "clip_000.npz"  # a clip made for the study: in its folder
    with pytest.raises(ValueError, match="already rated"):
        resumed.answer(1, order[0], 5)


def test_the_results_table_of_a_scripted_session(tmp_path):
    # clips 0, 1: real; 2, 3: synthetic
    study = Study.create(tmp_path, _clips(2, 2), raters=2, seed=1)
    answers = {  # (rater, clip): (realism, guess)
        (1, 0): (5, "real"), (1, 1): (4, "real"), (1, 2): (3, "synthetic"), (1, 3): (4, "real"),
        (2, 0): (4, "real"), (2, 1): (2, None), (2, 2): (5, None), (2, 3): (1, "synthetic"),
    }
    for rater in (1, 2):
        for clip in study.orders[rater - 1]:
            study.answer(rater, clip, *answers[(rater, clip)])
    results = Study.open(tmp_path).results()
    # rater 1: real (5 + 4) / 2 = 4.5, synthetic (3 + 4) / 2 = 3.5, all 16 / 4 = 4.0
    # rater 2: real (4 + 2) / 2 = 3.0, synthetic (5 + 1) / 2 = 3.0, all 12 / 4 = 3.0
    assert results.means == {"real": [4.5, 3.0], "synthetic": [3.5, 3.0], "all": [4.0, 3.0]}
    assert results.averages == {"real": 3.75, "synthetic": 3.25, "all": 3.5}
    assert results.counts["all"] == [4, 4]
    # guesses: 6 given, wrong only for rater 1 on clip 3 -> 5 of 6
    assert (results.correct, results.guesses) == (5, 6)
    # Wilson, z = 1.95996: p = 5/6, centre (p + z^2/12) / (1 + z^2/6) = 0.7032, half-width 0.2667
    low, high = results.guess_interval
    assert low == pytest.approx(0.4365, abs=1e-4) and high == pytest.approx(0.9699, abs=1e-4)
    assert results.to_markdown().splitlines()[:5] == [
        "| Clips | Rater 1 | Rater 2 | Average |",
        "|---|---|---|---|",
        "| Real | 4.50 | 3.00 | 3.75 |",
        "| Synthetic | 3.50 | 3.00 | 3.25 |",
        "| All clips | 4.00 | 3.00 | 3.50 |",
    ]
    assert "5 of 6 (83.3 %; 95 % Wilson interval 43.6–97.0 %)" in results.to_markdown()
    csv = results.to_csv().splitlines()
    assert csv[0] == "measure,clips,rater,n,value,ci_low,ci_high"
    assert "mean_realism,real,1,2,4.5000,," in csv and "mean_realism,synthetic,average,2,3.2500,," in csv
    assert csv[-1] == "correct_guess_rate,all,all,6,0.8333,0.4365,0.9699"


def test_wilson_interval_matches_the_textbook_values():
    assert wilson_interval(4, 5) == pytest.approx((0.3755, 0.9638), abs=1e-4)
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_interval(10, 10) == pytest.approx((0.7225, 1.0), abs=1e-4)


def test_a_partial_session_leaves_cells_empty(tmp_path):
    study = Study.create(tmp_path, _clips(1, 1), raters=2, seed=2)
    real = 0
    study.answer(1, real, 2)
    results = study.results()
    assert results.means == {"real": [2.0, None], "synthetic": [None, None], "all": [2.0, None]}
    assert results.averages == {"real": 2.0, "synthetic": None, "all": 2.0}
    assert results.guess_interval is None and "No real/synthetic guesses" in results.to_markdown()
    assert "| Synthetic | – | – | – |" in results.to_markdown()


@pytest.mark.parametrize("change, field, value", [
    (lambda d: d.update(format="something"), "format", '"something"'),
    (lambda d: d["ratings"][0].update(realism=7), "ratings[0].realism", "7"),
    (lambda d: d["ratings"][0].update(guess="maybe"), "ratings[0].guess", '"maybe"'),
    (lambda d: d["ratings"][0].update(rater=3), "ratings[0].rater", "3"),
    (lambda d: d["ratings"].append(dict(d["ratings"][0])), "ratings[1]", "{"),
    (lambda d: d["orders"][1].__setitem__(0, d["orders"][1][1]), "orders[1]", "["),
    (lambda d: d["clips"][2].update(kind="fake"), "clips[2].kind", '"fake"'),
    (lambda d: d.update(seed=-1), "seed", "-1"),
])
def test_a_bad_study_file_is_refused_naming_file_field_and_value(tmp_path, change, field, value):
    study = Study.create(tmp_path, _clips(2, 2), raters=2, seed=4)
    study.answer(1, 0, 3)
    data = json.loads(study.path.read_text())
    change(data)
    study.path.write_text(json.dumps(data))
    with pytest.raises(UserInputError) as error:
        Study.open(tmp_path)
    message = str(error.value)
    assert message.startswith(f"{study.path}: {field} is {value}")


def test_a_study_needs_both_kinds_and_a_fresh_folder(tmp_path):
    with pytest.raises(UserInputError, match="one real and one synthetic"):
        Study.create(tmp_path, _clips(2, 0), raters=1, seed=0)
    Study.create(tmp_path, _clips(1, 1), raters=1, seed=0)
    with pytest.raises(UserInputError, match="already holds a study"):
        Study.create(tmp_path, _clips(1, 1), raters=1, seed=0)
    (tmp_path / STUDY_FILE).write_text("{not json")
    with pytest.raises(UserInputError, match="unreadable"):
        Study.open(tmp_path)
    with pytest.raises(UserInputError, match="no study.json"):
        Study.open(tmp_path / "elsewhere")


def test_the_synthetic_caption_is_found_in_exported_clips_only(tmp_path, phantom_frames):
    plain, captioned = tmp_path / "plain.mp4", tmp_path / "captioned.mp4"
    write_mp4(phantom_frames[:1], plain, 20)
    write_mp4([compose_frame(phantom_frames[0], layout="output", caption=True)], captioned, 20, crf=28)
    check_uncaptioned(plain)
    with pytest.raises(UserInputError, match="captioned.mp4: this clip has the burned-in SYNTHETIC caption"):
        check_uncaptioned(captioned)  # found after H.264
    assert has_caption(add_caption(phantom_frames[0], "SYNTHETIC (edited motion)"))
    assert not has_caption(phantom_frames[0]) and not has_caption(np.zeros((96, 96), np.uint8))


def test_clips_made_for_a_study_round_trip_in_the_study_only_format(tmp_path, phantom_frames):
    path = tmp_path / "clips" / "clip_001.npz"
    write_study_clip(path, phantom_frames, 12.5)
    frames, fps = read_clip(path)
    assert np.array_equal(frames, phantom_frames) and fps == 12.5
    assert read_clip(path, max_frames=2)[0].shape[0] == 2
    assert not has_caption(frames[0])


def test_a_clip_given_is_copied_into_the_folder_under_a_neutral_name_and_named_by_content(tmp_path, phantom_frames):
    given = tmp_path / "Doe_Jane" / "DOE^JANE_MRN1.mp4"
    given.parent.mkdir()
    write_mp4(phantom_frames, given, 20)
    folder = tmp_path / "study"
    clip = store_given_clip(given, folder, "real", 1, max_frames=2)
    assert clip == StudyClip(Path("clips/real_01.npz"), "real", content=label(given))
    frames, fps = read_clip(folder / clip.path)
    assert frames.shape == (2, 96, 96) and fps == 20
    study = Study.create(folder, [clip, *_clips(0, 1)], raters=1, seed=2)
    assert Study.open(folder).clips[0] == clip and study.clip_path(0) == folder / "clips" / "real_01.npz"
    text = (folder / STUDY_FILE).read_text()
    assert "Doe" not in text and "DOE" not in text and '"version": 2' in text


def test_a_study_holds_no_path_outside_its_folder_and_a_version_1_study_still_opens(tmp_path):
    with pytest.raises(ValueError, match="not /data/real.mp4"):
        Study.create(tmp_path, [StudyClip(Path("/data/real.mp4"), "real"), *_clips(0, 1)], raters=1, seed=0)
    study = Study.create(tmp_path, _clips(1, 1), raters=1, seed=0)
    data = json.loads(study.path.read_text())
    for path in ("/data/real.mp4", "../real.npz"):
        data["clips"][0]["path"] = path
        study.path.write_text(json.dumps(data))
        with pytest.raises(UserInputError, match=f"clips\\[0\\].path is \"{path}\", expected a file in the study folder"):
            Study.open(tmp_path)
    data["version"] = 1  # an older app's study played the real clips where they lay: it resumes as it was
    study.path.write_text(json.dumps(data))
    old = Study.open(tmp_path)
    assert old.version == 1 and old.clip_path(0) == tmp_path / "../real.npz"
    old.answer(1, 0, 4)
    assert json.loads(study.path.read_text())["version"] == 1 and Study.open(tmp_path).ratings[(1, 0)].realism == 4
    data["version"] = 3
    study.path.write_text(json.dumps(data))
    with pytest.raises(UserInputError, match="version is 3, expected 1 or 2"):
        Study.open(tmp_path)

"""A blinded realism study (the paper's Table 2): the plan, the ratings and the results, Qt-free.

A study is a folder holding ``study.json`` (the plan and every answer, rewritten atomically after
each answer) and, in ``clips/``, every clip it plays, stored as ``.npz`` frame arrays that only the
study plays: copies of the clips given (``real_01.npz``, ``synthetic_01.npz``, at most ``max_frames``
frames each) and the synthetic clips the app made for it (``clip_001.npz``, uncaptioned). The folder
may be shared with raters, so nothing in it names the user's files (clinics name them after the
patient): a clip given is named by its content (``core.identity.label``), never by its path. Example::

    {"format": "usanimator-study", "version": 2, "seed": 7, "raters": 2, "max_frames": 48,
     "clips": [{"path": "clips/real_01.npz", "kind": "real", "content": "sha256:77e0..."},
               {"path": "clips/clip_001.npz", "kind": "synthetic", "made_from": ["sha256:9f2c...", "sha256:41ab..."]}],
     "orders": [[1, 0], [0, 1]],                       # per rater: the clips in playing order
     "ratings": [{"rater": 1, "clip": 1, "realism": 4, "guess": "synthetic"}]}

Raters are numbered from 1, clips by their place in ``clips``; ``guess`` is 'real', 'synthetic' or
null (not given). Each rater's order is a permutation drawn from the seed (``rater_orders``) and is
stored too, so a study replays the same way whatever numpy does later.

Version 1 studies (which played the real clips from where they lay, by absolute path) still open,
resume and are saved as version 1; the clip paths they hold are theirs, not written anew.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist

import cv2
import numpy as np

from usanimator_app.core.atomic import atomic_path, write_text_atomic
from usanimator_app.core.compose import CAPTION, add_caption
from usanimator_app.core.errors import UserInputError
from usanimator_app.core.identity import label
from usanimator_app.core.jsonfile import read_json
from usanimator_app.core.media import open_media
from usanimator_app.core.preprocess import to_gray_uint8

FORMAT_NAME = "usanimator-study"
FORMAT_VERSION = 2
OPENABLE_VERSIONS = (1, 2)  # 1: clips by absolute path (see the module's note)
STUDY_FILE = "study.json"
CLIPS_FOLDER = "clips"
STUDY_CLIP_KINDS = ("real", "synthetic")
SCORES = (1, 2, 3, 4, 5)
ROWS = (("real", "Real"), ("synthetic", "Synthetic"), ("all", "All clips"))
CAPTION_MATCH = 0.6  # normalised correlation above which a frame's top-left corner holds the caption


@dataclass(frozen=True)
class StudyClip:
    """One clip of the study: its file in the study folder (real or synthetic), the content of the
    clip given that it copies, and, for clips the app made, from what."""

    path: Path  # relative to the study folder (version 1: also an absolute path)
    kind: str
    made_from: tuple[str, str] | None = None  # (source, driving) by content (core.identity.label), never by name
    content: str | None = None  # the clip given, by content (core.identity.label), never by name


@dataclass(frozen=True)
class Rating:
    rater: int  # 1-based
    clip: int  # index into Study.clips
    realism: int  # 1 (clearly artificial) ... 5 (indistinguishable from a real scan)
    guess: str | None  # 'real' | 'synthetic' | None (no guess)


def rater_orders(seed: int, raters: int, clips: int) -> list[list[int]]:
    """Each rater's playing order: a permutation of the clips drawn from ``(seed, rater)``."""
    return [[int(i) for i in np.random.default_rng([seed, rater]).permutation(clips)] for rater in range(1, raters + 1)]


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``successes / n`` (n > 0)."""
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


# ---------------------------------------------------------------------------------------- clips

def _caption_template(height: int) -> tuple[np.ndarray, tuple[int, int]]:
    """The caption's word as ``core.compose`` burns it into a frame of this height, in gray, and the
    (width, height) of the corner region to search."""
    burned = cv2.cvtColor(add_caption(np.zeros((height, 2 * height + 64), np.uint8)), cv2.COLOR_RGB2GRAY)
    ys, xs = np.nonzero(burned > 64)
    word = burned[: ys.max() + 3, : xs.max() + 3]
    return word, (word.shape[1] + 8, word.shape[0] + 8)


def has_caption(frame: np.ndarray) -> bool:
    """True when ``frame`` carries the burned-in "SYNTHETIC" caption of ``core.compose`` in its
    top-left corner (also after H.264 encoding and when the caption goes on with more words)."""
    gray = to_gray_uint8(frame)
    word, (width, height) = _caption_template(gray.shape[0])
    word = word[:, : gray.shape[1]]  # a frame narrower than the caption holds its cut-off start
    corner = gray[:height, :width]
    if corner.shape[0] < word.shape[0] or corner.shape[1] < word.shape[1] or corner.std() < 1:
        return False  # too small, or flat (a black corner holds no caption)
    score = cv2.matchTemplate(corner.astype(np.float32), word.astype(np.float32), cv2.TM_CCOEFF_NORMED)
    return bool(np.nanmax(score) > CAPTION_MATCH)


def read_clip(path: Path, max_frames: int | None = None) -> tuple[np.ndarray, float | None]:
    """A clip's frames in gray, (T, H, W) uint8 (at most ``max_frames``), and its fps (None: unknown)."""
    if path.suffix == ".npz":
        try:
            with np.load(path) as data:
                frames, fps = data["frames"], float(data["fps"])
        except (OSError, ValueError, KeyError) as exc:
            raise UserInputError(f"{path}: not a study clip ({exc})") from None
        return frames[:max_frames], fps or None
    media = open_media(path)
    frames = []
    for frame in media.iter_gray():
        if max_frames is not None and len(frames) >= max_frames:
            break
        frames.append(frame)
    return np.stack(frames), media.info.fps


def write_study_clip(path: Path, frames: np.ndarray, fps: float | None) -> None:
    """Store a clip made for the study (uncaptioned), atomically, in the study-only ``.npz`` form."""
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, frames=np.asarray(frames, np.uint8), fps=np.float64(fps or 0.0))


def store_given_clip(source: Path, folder: Path, kind: str, number: int, max_frames: int | None) -> StudyClip:
    """Copy the frames of a clip given to the study (at most ``max_frames``) into ``folder`` under a
    neutral name, ``clips/<kind>_NN.npz``; the clip names its original by content only."""
    frames, fps = read_clip(Path(source), max_frames)
    relative = Path(CLIPS_FOLDER) / f"{kind}_{number:02d}.npz"
    write_study_clip(Path(folder) / relative, frames, fps)
    return StudyClip(relative, kind, content=label(source))


def _inside(path: Path) -> bool:
    """True for a relative path that stays inside the study folder."""
    return not path.is_absolute() and not path.drive and ".." not in path.parts


def check_uncaptioned(path: Path) -> None:
    """Refuse a clip whose first frame carries the SYNTHETIC caption: it cannot be rated blind."""
    frames, _fps = read_clip(path, max_frames=1)
    if has_caption(frames[0]):
        raise UserInputError(
            f"{path}: this clip has the burned-in {CAPTION} caption, so it cannot be rated blind; export it again "
            "with the caption off, or let the study make its synthetic clips")


# ------------------------------------------------------------------------------------- the study

class Study:
    """A study folder: the clips, raters, seed, each rater's order and the answers so far."""

    def __init__(self, folder: Path, clips: list[StudyClip], raters: int, seed: int, orders: list[list[int]],
                 ratings: list[Rating], max_frames: int | None = None, version: int = FORMAT_VERSION):
        self.folder = Path(folder)
        self.version = version
        self.clips = clips
        self.raters = raters
        self.seed = seed
        self.orders = orders
        self.max_frames = max_frames
        self.ratings = {(r.rater, r.clip): r for r in ratings}

    @classmethod
    def create(cls, folder: Path, clips: list[StudyClip], raters: int, seed: int,
               max_frames: int | None = None) -> "Study":
        """A new study in ``folder`` (written at once); refuses a folder that already holds one."""
        folder = Path(folder)
        if (folder / STUDY_FILE).exists():
            raise UserInputError(f"{folder}: this folder already holds a study; open it to resume, or choose another")
        kinds = {clip.kind for clip in clips}
        if kinds != set(STUDY_CLIP_KINDS):
            raise UserInputError("a study needs at least one real and one synthetic clip")
        if raters < 1:
            raise UserInputError(f"a study needs at least one rater, not {raters}")
        outside = [clip.path for clip in clips if not _inside(Path(clip.path))]
        if outside:  # a path outside the folder would name the user's file in study.json
            raise ValueError(f"a study's clips are files in its folder (store_given_clip), not {outside[0]}")
        study = cls(folder, list(clips), raters, seed, rater_orders(seed, raters, len(clips)), [], max_frames)
        study.save()
        return study

    @classmethod
    def open(cls, folder: Path) -> "Study":
        """The study in ``folder``; a file that does not follow the format is refused naming the field."""
        path = Path(folder) / STUDY_FILE
        data = read_json(path, f"{folder}: no {STUDY_FILE} here; this folder holds no study", f"{path}: unreadable")
        return _parse(path, data)

    @property
    def path(self) -> Path:
        return self.folder / STUDY_FILE

    def clip_path(self, index: int) -> Path:
        """Where clip ``index`` is (paths inside the folder are stored relative to it)."""
        return self.folder / self.clips[index].path

    def answered(self, rater: int) -> int:
        return sum(1 for clip in self.orders[rater - 1] if (rater, clip) in self.ratings)

    def next_clip(self, rater: int) -> int | None:
        """The first clip in ``rater``'s order not yet rated (None: the rater is done)."""
        return next((clip for clip in self.orders[rater - 1] if (rater, clip) not in self.ratings), None)

    def first_unfinished_rater(self) -> int | None:
        return next((rater for rater in range(1, self.raters + 1) if self.next_clip(rater) is not None), None)

    def answer(self, rater: int, clip: int, realism: int, guess: str | None = None) -> None:
        """Record one answer and save the study at once (atomically)."""
        if realism not in SCORES:
            raise ValueError(f"realism must be one of {SCORES}, not {realism!r}")
        if guess not in (None, *STUDY_CLIP_KINDS):
            raise ValueError(f"guess must be one of {STUDY_CLIP_KINDS} or None, not {guess!r}")
        if (rater, clip) in self.ratings:
            raise ValueError(f"rater {rater} has already rated clip {clip}")
        self.ratings[(rater, clip)] = Rating(rater, clip, realism, guess)
        try:
            self.save()
        except OSError:
            del self.ratings[(rater, clip)]
            raise

    def save(self) -> None:
        data = {
            "format": FORMAT_NAME, "version": self.version, "seed": self.seed, "raters": self.raters,
            "max_frames": self.max_frames,
            "clips": [{"path": clip.path.as_posix(), "kind": clip.kind}
                      | ({"content": clip.content} if clip.content else {})
                      | ({"made_from": list(clip.made_from)} if clip.made_from else {}) for clip in self.clips],
            "orders": self.orders,
            "ratings": [{"rater": r.rater, "clip": r.clip, "realism": r.realism, "guess": r.guess}
                        for r in sorted(self.ratings.values(), key=lambda r: (r.rater, self.orders[r.rater - 1].index(r.clip)))],
        }
        write_text_atomic(self.path, json.dumps(data, indent=1) + "\n")

    def results(self) -> "StudyResults":
        return StudyResults.of(self)


def _parse(path: Path, data: object) -> Study:
    """Check every field of a loaded study file; a ``UserInputError`` names the file, field and value."""

    def fail(field: str, value: object, expected: str) -> UserInputError:
        return UserInputError(f"{path}: {field} is {json.dumps(value)[:80]}, expected {expected}")

    def integer(field: str, value: object, low: int, high: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
            raise fail(field, value, f"an integer from {low} to {high}" if high is not None else f"an integer of {low} or more")
        return value

    if not isinstance(data, dict):
        raise fail("the file", data, "a JSON object")
    if data.get("format") != FORMAT_NAME:
        raise fail("format", data.get("format"), f'"{FORMAT_NAME}"')
    version = data.get("version")
    if version not in OPENABLE_VERSIONS:
        raise fail("version", version, " or ".join(map(str, OPENABLE_VERSIONS)) + " (a newer app's study? update this one)")
    seed = integer("seed", data.get("seed"), 0)
    raters = integer("raters", data.get("raters"), 1)
    max_frames = data.get("max_frames")
    if max_frames is not None:
        integer("max_frames", max_frames, 1)
    clips = data.get("clips")
    if not isinstance(clips, list) or not clips:
        raise fail("clips", clips, "a non-empty list")
    parsed = []
    for i, clip in enumerate(clips):
        if not isinstance(clip, dict) or not isinstance(clip.get("path"), str) or not clip["path"]:
            raise fail(f"clips[{i}].path", clip.get("path") if isinstance(clip, dict) else clip, "a file path")
        if version >= 2 and not _inside(Path(clip["path"])):
            raise fail(f"clips[{i}].path", clip["path"], "a file in the study folder (a relative path)")
        if clip.get("kind") not in STUDY_CLIP_KINDS:
            raise fail(f"clips[{i}].kind", clip.get("kind"), '"real" or "synthetic"')
        made = clip.get("made_from")
        if made is not None and not (isinstance(made, list) and len(made) == 2 and all(isinstance(m, str) for m in made)):
            raise fail(f"clips[{i}].made_from", made, "[source, driving]")
        content = clip.get("content")
        if content is not None and not isinstance(content, str):
            raise fail(f"clips[{i}].content", content, "a content label (sha256:…)")
        parsed.append(StudyClip(Path(clip["path"]), clip["kind"], tuple(made) if made else None, content))
    orders = data.get("orders")
    if not isinstance(orders, list) or len(orders) != raters:
        raise fail("orders", orders, f"one order per rater ({raters})")
    for r, order in enumerate(orders):
        if not isinstance(order, list) or sorted(order) != list(range(len(parsed))):
            raise fail(f"orders[{r}]", order, f"a permutation of the clip numbers 0…{len(parsed) - 1}")
    ratings, seen = [], set()
    entries = data.get("ratings")
    if not isinstance(entries, list):
        raise fail("ratings", entries, "a list")
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise fail(f"ratings[{i}]", entry, "an object")
        rater = integer(f"ratings[{i}].rater", entry.get("rater"), 1, raters)
        clip = integer(f"ratings[{i}].clip", entry.get("clip"), 0, len(parsed) - 1)
        realism = integer(f"ratings[{i}].realism", entry.get("realism"), SCORES[0], SCORES[-1])
        if entry.get("guess") not in (None, *STUDY_CLIP_KINDS):
            raise fail(f"ratings[{i}].guess", entry.get("guess"), '"real", "synthetic" or null')
        if (rater, clip) in seen:
            raise fail(f"ratings[{i}]", entry, "one answer per rater and clip (this one repeats)")
        seen.add((rater, clip))
        ratings.append(Rating(rater, clip, realism, entry.get("guess")))
    return Study(path.parent, parsed, raters, seed, orders, ratings, max_frames, version)


# ------------------------------------------------------------------------------------- results

def _mean(values: list[int]) -> float | None:
    return sum(values) / len(values) if values else None


@dataclass
class StudyResults:
    """Mean realism per row ('real' | 'synthetic' | 'all') and rater, each row's average over the
    raters (the mean of their means, as in the paper's Table 2), and the real/synthetic guesses."""

    raters: int
    means: dict[str, list[float | None]]
    counts: dict[str, list[int]]
    averages: dict[str, float | None]
    guesses: int  # answers that carried a guess
    correct: int  # of those, guessed right

    @classmethod
    def of(cls, study: Study) -> "StudyResults":
        means, counts, averages = {}, {}, {}
        for row, _label in ROWS:
            per_rater = [[r.realism for r in study.ratings.values()
                          if r.rater == rater and row in ("all", study.clips[r.clip].kind)]
                         for rater in range(1, study.raters + 1)]
            means[row] = [_mean(values) for values in per_rater]
            counts[row] = [len(values) for values in per_rater]
            averages[row] = _mean([m for m in means[row] if m is not None])
        guessed = [r for r in study.ratings.values() if r.guess is not None]
        correct = sum(1 for r in guessed if r.guess == study.clips[r.clip].kind)
        return cls(study.raters, means, counts, averages, len(guessed), correct)

    @property
    def guess_rate(self) -> float | None:
        return self.correct / self.guesses if self.guesses else None

    @property
    def guess_interval(self) -> tuple[float, float] | None:
        """The 95 % Wilson interval of the correct-guess rate (None without guesses)."""
        return wilson_interval(self.correct, self.guesses) if self.guesses else None

    def guess_text(self) -> str:
        if not self.guesses:
            return "No real/synthetic guesses were given."
        low, high = self.guess_interval
        return (f"Correct real/synthetic guesses: {self.correct} of {self.guesses} ({100 * self.guess_rate:.1f} %; "
                f"95 % Wilson interval {100 * low:.1f}–{100 * high:.1f} %). 50 % is chance.")

    def to_csv(self) -> str:
        """One line per value: ``measure,clips,rater,n,value,ci_low,ci_high`` (rater 'average': over the raters)."""
        lines = ["measure,clips,rater,n,value,ci_low,ci_high"]
        for row, _label in ROWS:
            for rater, (mean, n) in enumerate(zip(self.means[row], self.counts[row]), start=1):
                lines.append(f"mean_realism,{row},{rater},{n},{_number(mean, 4)},,")
            raters_with = sum(1 for m in self.means[row] if m is not None)
            lines.append(f"mean_realism,{row},average,{raters_with},{_number(self.averages[row], 4)},,")
        interval = self.guess_interval or (None, None)
        lines.append(f"correct_guess_rate,all,all,{self.guesses},{_number(self.guess_rate, 4)},"
                     f"{_number(interval[0], 4)},{_number(interval[1], 4)}")
        return "\n".join(lines) + "\n"

    def to_markdown(self) -> str:
        """The table in the paper's Table 2 form (rows: clips; columns: raters and their average)."""
        header = ["Clips"] + [f"Rater {r}" for r in range(1, self.raters + 1)] + ["Average"]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row, label in ROWS:
            cells = [label] + [_number(m, 2) or "–" for m in self.means[row]] + [_number(self.averages[row], 2) or "–"]
            lines.append("| " + " | ".join(cells) + " |")
        counts = ", ".join(f"rater {r}: {n}" for r, n in enumerate(self.counts["all"], start=1))
        return ("\n".join(lines) + f"\n\nMean realism, 1 (artificial) to 5 (real). Ratings: {counts}.\n\n"
                + self.guess_text() + "\n")


def _number(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"

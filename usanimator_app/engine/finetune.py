"""Fine-tuning a model to a teacher's own clips in minutes, ending no worse than it started.

    for report in finetune_steps(data, run_dir, init="models/x.pt", minutes=10):   # or resume=True
        print(report.message or report.validation or report.verdict)

1. Split the clips for validation (``make_split``): by clip when there are 3 or more (about 15 %, at
   most 4, none on both sides), else by time (the last quarter of every clip validates).
2. Validate the starting model (``validate``): L1 of the default output against identity's when
   each validation clip drives its own middle frame, and the transfer evaluation's plausibility
   (folds, implausible area change) there and with each validation clip driven by the next one.
3. Train (``engine.trainer.train_steps``) with a recipe: ``motion`` (the default: keypoint detector
   and dense motion only) or ``fill`` (generator, discriminator and the occlusion map on the motion
   as the app shows it, the deformation frozen: after a motion fine-tune, the fill relearns it), learning
   rate warmed up and decayed over the time left of the budget after the validations; a checkpoint
   every few minutes of training, each one validated.
4. Keep the best model on validation as ``RUN/best.pt`` (atomic; the starting model itself until a
   checkpoint beats it), record everything in ``RUN/finetune.json`` and end with the verdict.

Stop saves a checkpoint (not validated); resume continues it and validates what is left; after a
kill -9 at most one checkpoint interval of training is lost.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from usanimator_app.core.atomic import atomic_path, write_text_atomic
from usanimator_app.core.errors import UserInputError
from usanimator_app.core.identity import label
from usanimator_app.core.jsonfile import read_json
from usanimator_app.engine.animator import Animator, MotionOptions, OutputOptions
from usanimator_app.engine.checkpoint import read_checkpoint
from usanimator_app.engine.config import FINETUNE_RECIPES, make_config
from usanimator_app.engine.dataset import Holdout, parse_data_sources, split_clips
from usanimator_app.engine.trainer import STOPPED_MESSAGE, StepReport, latest_checkpoint, train_steps
from usanimator_app.evaluation import metrics as M
from usanimator_app.evaluation import plausibility as P
from usanimator_app.evaluation.protocol import EvalClip, load_eval_clip, render_clip
from usanimator_app.evaluation.transfer import Variant, animate_pair, model_frames

FINETUNE_FILE = "finetune.json"
BEST_FILE = "best.pt"
VALIDATION_SHARE = 0.15  # of the clips, by clip
MAX_VALIDATION_CLIPS = 4
TIME_SPLIT_TAIL = 0.25  # with fewer than 3 clips: the last quarter of every clip validates
VALIDATION_WINDOW = 48  # frames of a validation clip scored, centred on its middle frame
TRANSFER_WINDOW = 24  # driving frames of a validation transfer pair
# The motion recipe (measured on held-out training clips, docs/FINETUNE.md).
LEARNING_RATE = 1e-4  # the schedule's peak (2e-4 rose above the start on validation before it fell: docs/FINETUNE.md)
WARMUP_STEPS = 10
CHECKPOINT_SECONDS = (60.0, 180.0)  # a checkpoint (and a validation) every 1-3 minutes of training
# The transfer issue's thresholds: a model beyond them is never kept.
MAX_FOLDS, MAX_IMPLAUSIBLE = 0.001, 0.02


@dataclass
class ValidationSplit:
    """Which clips train and which validate; ``mode`` 'clips' or 'time' (then every clip does both)."""

    mode: str
    training: list[Path]
    validation: list[Path]

    def holdout(self) -> Holdout:
        if self.mode == "clips":
            return Holdout(clips=frozenset(p.resolve() for p in self.validation))
        return Holdout(tail=TIME_SPLIT_TAIL)

    def text(self, names: bool = True) -> str:
        """The split in a sentence; ``names``: with the held-out clips' file names (the log, not files)."""
        if self.mode == "clips":
            held_out = f": {', '.join(p.name for p in self.validation)}" if names else ""
            return (f"validation split: by clip, {len(self.validation)} of {len(self.training) + len(self.validation)} "
                    f"clips held out{held_out}")
        return (f"validation split: by time, the last {TIME_SPLIT_TAIL:.0%} of each clip "
                f"({len(self.validation)} clip{'s' if len(self.validation) != 1 else ''}: fewer than 3 clips)")

    def record(self) -> dict:
        """For finetune.json: clips named by content, not by file name (a name may be a patient's)."""
        return {"mode": self.mode, "text": self.text(names=False), "tail": TIME_SPLIT_TAIL if self.mode == "time" else 0.0,
                "training": [label(p) for p in self.training], "validation": [label(p) for p in self.validation]}


def make_split(clips: list[Path]) -> ValidationSplit:
    """By clip with 3 or more clips (evenly spread over the sorted names), else by time."""
    clips = sorted(clips, key=lambda p: p.name)
    if len(clips) < 3:
        return ValidationSplit("time", clips, clips)
    count = min(MAX_VALIDATION_CLIPS, max(1, math.ceil(VALIDATION_SHARE * len(clips))))
    chosen = {int((k + 0.5) * len(clips) / count) for k in range(count)}
    return ValidationSplit("clips", [c for i, c in enumerate(clips) if i not in chosen],
                           [c for i, c in enumerate(clips) if i in chosen])


def data_clips(data) -> list[Path]:
    """Every training-split clip of the ``--data`` folders / dataset files."""
    return [clip for source in parse_data_sources(data) for clip in split_clips(source.path, "train")]


def validation_clips(split: ValidationSplit) -> list[EvalClip]:
    """The frames validation scores: whole held-out clips, or the last part of every clip."""
    holdout = split.holdout()
    return [load_eval_clip(path, VALIDATION_WINDOW, (), holdout=holdout) for path in split.validation]


def validate(checkpoint: str | Path, clips: list[EvalClip], device: str = "auto") -> dict:
    """A model's validation figures: mean L1 of its default output and of identity (the source
    frame repeated) over every frame but the source, their ratio, and the worst frame's folds and
    implausible share (reconstruction of each clip and transfer from the next clip)."""
    started = time.perf_counter()
    animator = Animator(checkpoint, device=device)
    outputs, identities, figures = [], [], []
    for clip in clips:
        rendered = render_clip(animator, clip, clip, relative=False)
        keep = np.arange(len(clip.frames)) != clip.source_index
        real = clip.frames[keep] / 255.0
        outputs.append(M.l1_per_frame(np.stack(rendered.outputs[""])[keep] / 255.0, real))
        source = clip.frames[clip.source_index] / 255.0
        identities.append(M.l1_per_frame(np.repeat(source[None], len(real), 0), real))
        figures.extend(rendered.plausibility)
    variant = Variant("default", animator, MotionOptions(), OutputOptions())
    for number, clip in enumerate(clips):
        driving = clips[(number + 1) % len(clips)]
        run = animate_pair(variant, clip.gray[clip.source_index], model_frames(driving.gray, animator.image_size, TRANSFER_WINDOW))
        figures.extend(run.figures)
    worst = P.worst(figures)
    l1, identity = float(np.concatenate(outputs).mean()), float(np.concatenate(identities).mean())
    return {"l1": l1, "identity_l1": identity, "ratio": l1 / identity if identity > 0 else float("nan"),
            "folds": float(worst["folds"]), "implausible": float(worst["implausible"]),
            "seconds": round(time.perf_counter() - started, 1)}


def plausible(figures: dict) -> bool:
    return figures["folds"] <= MAX_FOLDS and figures["implausible"] <= MAX_IMPLAUSIBLE


def verdict(start: dict, kept: dict, best_path: Path) -> dict:
    """Better or not, in a sentence with the figures."""
    better = kept["step"] != 0
    figures = (f"validation L1 {kept['l1']:.4f} vs {start['l1']:.4f} at the start (identity {start['identity_l1']:.4f}; "
               f"{kept['ratio']:.3f}x vs {start['ratio']:.3f}x identity's)")
    if better:
        text = f"better than the model you started from: {figures}; kept the model of step {kept['step']} as {best_path}"
    else:
        text = (f"no better than the model you started from: no checkpoint beat its validation L1 {start['l1']:.4f} "
                f"(identity {start['identity_l1']:.4f}); {best_path} is the starting model")
    return {"better": better, "text": text, "best": str(best_path), "start": start, "kept": kept}


def training_budget(minutes: float, elapsed: float, validation_seconds: float) -> tuple[float, float]:
    """(seconds of training steps, seconds between checkpoints) so that setup, training and the
    validations after each checkpoint fit ``minutes``."""
    budget = minutes * 60.0 - elapsed
    interval = budget
    for _ in range(3):  # the number of validations depends on the interval, which depends on the budget
        interval = min(CHECKPOINT_SECONDS[1], max(budget / 4, min(CHECKPOINT_SECONDS[0], budget / 2)))
        validations = max(1, math.ceil(budget / interval))
        budget = minutes * 60.0 - elapsed - validations * validation_seconds
    if budget <= 0:
        raise UserInputError(f"a {minutes:g}-minute budget leaves no time to train: validating once takes "
                             f"{validation_seconds:.0f} s here; give more minutes")
    return budget, min(interval, budget)


class _Record:
    """RUN/finetune.json: budget, split, every validation, the kept model and the verdict."""

    def __init__(self, run_dir: Path, data: dict):
        self.path, self.data = run_dir / FINETUNE_FILE, data

    @classmethod
    def read(cls, run_dir: Path) -> "_Record":
        data = read_json(run_dir / FINETUNE_FILE, f"{run_dir}: not a fine-tune run (no {FINETUNE_FILE})",
                         f"{run_dir / FINETUNE_FILE}: cannot be read")
        if not isinstance(data, dict) or not isinstance(data.get("validations"), list) or not data["validations"]:
            raise UserInputError(f"{run_dir / FINETUNE_FILE}: not a fine-tune record")
        return cls(run_dir, data)

    def save(self) -> None:
        write_text_atomic(self.path, json.dumps(self.data, indent=1) + "\n")

    @property
    def kept(self) -> dict:
        return next(v for v in self.data["validations"] if v["step"] == self.data["kept_step"])


def _keep(source: Path, best: Path) -> None:
    """Copy a model file to ``best`` atomically."""
    with atomic_path(best) as tmp:
        shutil.copyfile(source, tmp)


def finetune_steps(
    data,
    run_dir: str | Path,
    *,
    init: str | Path | None = None,
    minutes: float | None = None,
    device: str = "auto",
    resume: bool = False,
    batch_size: int = 4,
    learning_rate: float = LEARNING_RATE,
    vgg19: str | Path | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    recipe: str = "motion",
) -> Iterator[StepReport]:
    """Fine-tune ``init`` on ``data`` for ``minutes`` (or ``resume`` the run in ``run_dir``), yielding
    the trainer's reports plus validation reports (``.validation``) and the verdict (``.verdict``).
    ``learning_rate``: the schedule's peak; ``recipe``: one of ``config.FINETUNE_RECIPES`` (a resumed run keeps its own)."""
    if recipe not in FINETUNE_RECIPES:
        raise UserInputError(f"the fine-tune recipe is {recipe!r}; choose one of {', '.join(FINETUNE_RECIPES)}")
    started = time.perf_counter()
    run_dir = Path(run_dir)
    split = make_split(data_clips(data))
    if resume:
        record = _Record.read(run_dir)
        if {k: record.data["split"].get(k) for k in ("training", "validation")} != {
                k: split.record()[k] for k in ("training", "validation")}:
            raise UserInputError(f"{run_dir}: the clips of --data are not those this fine-tune started with")
        minutes = record.data["budget_minutes"]
    elif init is None or not minutes or minutes <= 0:
        raise UserInputError("a fine-tune needs a starting model (--init) and a budget in minutes > 0")
    yield StepReport(0, 0, message=split.text())
    clips = validation_clips(split)
    best = run_dir / BEST_FILE
    if not resume:
        if latest_checkpoint(run_dir) is not None or (run_dir / FINETUNE_FILE).exists():
            raise UserInputError(f"{run_dir}: already holds a run; use --resume to continue it or choose another folder")
        read_checkpoint(init)  # a clear error for a bad file before anything is written
        start = {"step": 0, "minutes": 0.0, **validate(init, clips, device), "best": True}
        run_dir.mkdir(parents=True, exist_ok=True)
        _keep(Path(init), best)
        train_seconds, interval = training_budget(minutes, time.perf_counter() - started, start["seconds"])
        record = _Record(run_dir, {"budget_minutes": minutes, "training_seconds": round(train_seconds, 1),
                                   "checkpoint_seconds": round(interval, 1), "learning_rate": learning_rate,
                                   "split": split.record(), "start_model": label(init), "recipe": recipe,
                                   "validations": [start], "kept_step": 0, "verdict": None})
        record.save()
        yield StepReport(0, 0, validation=start)
        yield StepReport(0, 0, message=f"time budget {minutes:g} min: about {train_seconds / 60:.1f} min of training, "
                                       f"validation every {interval / 60:.1f} min of training ({start['seconds']:.0f} s each), "
                                       f"peak learning rate {learning_rate:.1e}, {recipe} recipe")
        config = make_config(batch_size=batch_size, learning_rate=learning_rate, steps=10**9, sample_every=50,
                             networks=recipe, time_budget_seconds=train_seconds, warmup_steps=WARMUP_STEPS,
                             checkpoint_seconds=interval)
    else:
        config = None
    validated = {v["step"] for v in record.data["validations"]}
    stopped = False
    for report in train_steps(data, run_dir, config, device=device, resume=resume, init=None if resume else init,
                              vgg19=vgg19, should_stop=should_stop, holdout=split.holdout()):
        yield report
        if report.message == STOPPED_MESSAGE:
            stopped = True
        elif report.checkpoint:
            yield _validated(record, Path(report.checkpoint), report, clips, device, best)
            validated.add(report.step)
    if stopped:
        return
    last = latest_checkpoint(run_dir)
    last_step = read_checkpoint(last)["step"] if last is not None else 0
    if last_step not in validated:  # e.g. killed before its validation
        yield _validated(record, last, StepReport(last_step, last_step), clips, device, best)
    record.data["verdict"] = verdict(record.data["validations"][0], record.kept, best)
    record.data["wall_minutes_this_session"] = round((time.perf_counter() - started) / 60, 2)
    record.save()
    yield StepReport(record.kept["step"], record.kept["step"], message=record.data["verdict"]["text"],
                     verdict=record.data["verdict"])


def _validated(record: _Record, checkpoint: Path, report: StepReport, clips: list[EvalClip], device: str,
               best: Path) -> StepReport:
    """Validate one checkpoint, keep it as best.pt when it beats the kept model, record it."""
    payload = read_checkpoint(checkpoint)
    figures = {"step": report.step, "minutes": round(payload.get("trained_seconds", 0.0) / 60, 2),
               **validate(checkpoint, clips, device)}
    is_best = figures["l1"] < record.kept["l1"] and plausible(figures)
    if is_best:
        _keep(checkpoint, best)
        record.data["kept_step"] = report.step
    record.data["validations"].append({**figures, "best": is_best})
    record.save()
    return StepReport(report.step, report.total_steps, validation=record.data["validations"][-1])

"""Fuzz the readers: mutate DICOM files and the sample clips, open each mutant with ``open_media``
and read its first two frames, and count what happened.

    .venv/bin/python scripts/fuzz_media.py --cases 10000 --workers 2 --seed 0

Seeds are pydicom's and pydicom-data's ultrasound files, ``resources/sample_source.dcm`` and the
sample clips in ``resources/``. Mutations: byte flips, truncations, chunk deletions and repeats,
corrupted 32-bit lengths, absurd values of the header tags the readers use, and byte changes inside
the first compressed codestream. Each case runs in a worker process with an address-space limit
(``RLIMIT_AS``) and a per-case timeout; a worker that crashes, hangs or grows past the memory budget
is replaced. Outcomes:

- ok: opened, two frames read, and everything it reports is sane (finite fps and spacing, frames of
  the reported size, a JSON-clean ``info``);
- clean error: a ``UserInputError`` of one line that names the file;
- crash: any other exception, an unclean message, a worker that died, or garbage reported as ok;
- hang: the case ran past ``--timeout`` seconds;
- over budget: the case ran out of its address space or its peak RSS grew past ``--memory-mb``.

Exit code 0 when there were no crashes, hangs or over-budget cases. ``--keep DIR`` saves the
mutants of every case that was not ok / clean error, to reproduce them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUTCOMES = ("ok", "clean error", "crash", "hang", "over budget")
TAGS = {  # keyword -> absurd values (the header values the readers use)
    "NumberOfFrames": ["-1", "-2147483648", "0", "2147483647", "1e9", "abc", "3.5", ""],
    "Rows": [0, 1, 65535, 2, 7],
    "Columns": [0, 1, 65535, 3, 9],
    "BitsAllocated": [0, 1, 7, 12, 32, 64, 65535],
    "BitsStored": [0, 1, 17, 33, 65535],
    "HighBit": [0, 65535],
    "SamplesPerPixel": [0, 2, 3, 4, 65535],
    "PixelRepresentation": [1, 2, 65535],
    "PlanarConfiguration": [1, 2],
    "PhotometricInterpretation": ["CMYK", "HSV", "ARGB", "MONOCHROME1", "RGB", "PALETTE COLOR", "YBR_FULL_422", "", "X" * 16],
    "PixelSpacing": [["inf", "inf"], ["1e308", "1e308"], ["1e-320", "1e-320"], ["0", "0"], ["-1", "-1"], ["nan", "nan"], ["1"]],
    "FrameTime": ["0", "-1", "1e-300", "inf", "nan", "1e308", "x"],
    "CineRate": ["0", "-5", "99999999", "inf"],
    "RecommendedDisplayFrameRate": ["0", "-5", "99999999"],
    "WindowCenter": ["nan", "inf", "-1e308"],
    "WindowWidth": ["0", "-1", "nan", "1e-320"],
    "RescaleSlope": ["inf", "nan", "1e308", "0"],
    "RescaleIntercept": ["inf", "-1e308"],
}


# ------------------------------------------------------------------------------------ the corpus


def seed_files() -> list[Path]:
    """The ultrasound DICOM files reachable here, plus the project's samples."""
    import data_store  # pydicom-data's files
    import pydicom

    folders = [Path(pydicom.__file__).parent / "data" / "test_files", Path(data_store.__file__).parent / "data"]
    seeds = []
    for name in sorted(p for folder in folders for p in folder.rglob("*.dcm")):  # no downloads
        try:
            header = pydicom.dcmread(name, stop_before_pixels=True)
        except Exception:  # noqa: BLE001 (unreadable seeds are skipped)
            continue
        if header.get("Modality") == "US" and Path(name).stat().st_size < 8_000_000:
            seeds.append(Path(name))
    resources = REPO / "resources"
    seeds += [resources / "sample_source.dcm", resources / "sample_driving.mp4", resources / "sample_source.png"]
    return sorted(set(seeds))


def _flip_bytes(data: bytearray, rng: random.Random) -> bytes:
    for _ in range(rng.randint(1, 12)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def _corrupt_length(data: bytearray, rng: random.Random) -> bytes:
    position = rng.randrange(0, max(min(len(data), 4096) - 4, 1)) & ~1
    value = rng.choice([0xFFFFFFFF, 0xFFFFFFF0, 0x7FFFFFFF, 0x40000000, 0, 1, rng.getrandbits(32)])
    data[position : position + 4] = value.to_bytes(4, "little")
    return bytes(data)


def _codestream_bytes(data: bytearray, rng: random.Random) -> bytes:
    """Change 1-4 bytes among the first 64 of a JPEG / JPEG 2000 codestream (where sizes live)."""
    starts = [data.find(marker) for marker in (b"\xff\x4f\xff\x51", b"\xff\xd8\xff")]
    starts = [s for s in starts if s >= 0]
    if not starts:
        return _flip_bytes(data, rng)
    start = min(starts)
    for _ in range(rng.randint(1, 4)):
        data[min(start + rng.randrange(64), len(data) - 1)] = rng.randrange(256)
    return bytes(data)


def _absurd_tag(seed: Path, rng: random.Random) -> bytes | None:
    import io

    import pydicom

    keyword = rng.choice(list(TAGS))
    value = rng.choice(TAGS[keyword])
    try:
        header = pydicom.dcmread(seed)
        if keyword in ("NumberOfFrames", "FrameTime", "CineRate", "RecommendedDisplayFrameRate", "PixelSpacing",
                       "WindowCenter", "WindowWidth", "RescaleSlope", "RescaleIntercept"):
            vr = {"NumberOfFrames": "IS", "CineRate": "IS", "RecommendedDisplayFrameRate": "IS"}.get(keyword, "DS")
            header.add_new(pydicom.datadict.tag_for_keyword(keyword), vr, value)
        elif keyword == "PhotometricInterpretation":
            header.PhotometricInterpretation = value
        else:
            header.add_new(pydicom.datadict.tag_for_keyword(keyword), "US", value)
        buffer = io.BytesIO()
        with pydicom.config.disable_value_validation():
            header.save_as(buffer)
        return buffer.getvalue()
    except Exception:  # noqa: BLE001 (a value pydicom refuses to write: fall back to a byte mutation)
        return None


def mutate(seed: Path, rng: random.Random) -> tuple[str, bytes]:
    """(mutation name, mutated bytes) of one seed file."""
    data = bytearray(seed.read_bytes())
    is_dicom = seed.suffix == ".dcm"
    choices = ["flip", "truncate", "delete", "repeat"] + (["length", "tag", "tag", "codestream", "flip-head"] if is_dicom else [])
    kind = rng.choice(choices)
    if kind == "tag":
        mutated = _absurd_tag(seed, rng)
        if mutated is not None:
            return kind, mutated
        kind = "flip"
    if kind == "flip":
        return kind, _flip_bytes(data, rng)
    if kind == "flip-head":  # the header, where the tags live
        head = bytearray(data[: min(len(data), 2048)])
        return kind, _flip_bytes(head, rng) + bytes(data[len(head) :])
    if kind == "truncate":
        return kind, bytes(data[: rng.randrange(len(data))])
    if kind == "delete":
        start = rng.randrange(len(data))
        return kind, bytes(data[:start] + data[start + rng.randint(1, 4096) :])
    if kind == "repeat":
        start = rng.randrange(len(data))
        chunk = data[start : start + rng.randint(1, 4096)]
        return kind, bytes(data[:start] + chunk * rng.randint(2, 50) + data[start:])
    if kind == "length":
        return kind, _corrupt_length(data, rng)
    return kind, _codestream_bytes(data, rng)


# ------------------------------------------------------------------------------------ the worker


def worker(memory_mb: int) -> None:
    """Read case paths from stdin, one per line; answer one JSON line per case on stdout."""
    import math
    import resource

    import numpy as np

    from usanimator_app.core.errors import UserInputError
    from usanimator_app.core.media import open_media

    def rss_mb() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    baseline = rss_mb()
    with open("/proc/self/statm") as handle:
        virtual = int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    limit = virtual + 2 * memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    out = sys.stdout
    sys.stdout = sys.stderr  # only the answers go to the parent
    for line in sys.stdin:
        path = line.strip()
        outcome, detail = "ok", ""
        try:
            source = open_media(path)
            info = source.info
            json.dumps(info.as_dict(), allow_nan=False)
            for value in [info.fps] + list(info.pixel_spacing_mm or []):
                if value is not None and not (math.isfinite(value) and value > 0):
                    raise AssertionError(f"reported as ok with a value of {value}")
            frames = source.iter_frames()
            for _ in range(min(2, info.frames)):
                frame = next(frames)
                if frame.dtype != np.uint8 or frame.shape[:2] != (info.height, info.width):
                    raise AssertionError(f"frame {frame.shape} {frame.dtype} for a {info.width}x{info.height} clip")
            frames.close()
        except UserInputError as exc:
            message = str(exc)
            cause = exc.__cause__
            if isinstance(cause, MemoryError):
                outcome, detail = "over budget", message
            elif "\n" in message or path not in message or len(message) > 400 or "\x1b" in message:
                outcome, detail = "crash", f"unclean message: {message!r}"
            else:
                outcome, detail = "clean error", message
        except MemoryError:
            outcome, detail = "over budget", "MemoryError"
        except Exception as exc:  # noqa: BLE001 (this is what the fuzzer looks for)
            outcome, detail = "crash", f"{type(exc).__name__}: {str(exc)[:300]}"
        if outcome == "ok" and rss_mb() - baseline > memory_mb:
            outcome, detail = "over budget", f"peak RSS {rss_mb():.0f} MB"
        out.write(json.dumps({"outcome": outcome, "detail": detail, "rss_mb": rss_mb() - baseline}) + "\n")
        out.flush()


class Worker:
    """One worker process; ``run(path)`` -> (outcome, detail)."""

    def __init__(self, memory_mb: int, timeout: float) -> None:
        self.memory_mb, self.timeout = memory_mb, timeout
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENCV_FOR_THREADS_NUM="1")
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--worker", "--memory-mb", str(memory_mb)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=REPO,
        )

    def start_case(self, path: Path) -> None:
        self.started = time.monotonic()
        self.process.stdin.write(f"{path}\n")
        self.process.stdin.flush()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def run_cases(cases: int, workers: int, seed: int, timeout: float, memory_mb: int, keep: Path | None) -> Counter:
    import selectors

    seeds = seed_files()
    print(f"{len(seeds)} seed files", file=sys.stderr)
    rng = random.Random(seed)
    counts: Counter = Counter()
    kinds: Counter = Counter()
    examples: dict[str, list[str]] = {}
    folder = Path(tempfile.mkdtemp(prefix="usanimator-fuzz-"))
    pool = [Worker(memory_mb, timeout) for _ in range(workers)]
    selector = selectors.DefaultSelector()
    busy: dict[int, tuple[Worker, Path, str]] = {}
    next_case = done = 0
    started = time.monotonic()

    def give(slot: int) -> None:
        nonlocal next_case
        source = rng.choice(seeds)
        kind, data = mutate(source, rng)
        path = folder / f"case_{next_case:06d}{source.suffix}"
        path.write_bytes(data)
        next_case += 1
        pool[slot].start_case(path)
        selector.register(pool[slot].process.stdout, selectors.EVENT_READ, slot)
        busy[slot] = (pool[slot], path, f"{source.name}/{kind}")

    def finish(slot: int, outcome: str, detail: str) -> None:
        nonlocal done
        worker_, path, label = busy.pop(slot)
        selector.unregister(worker_.process.stdout)
        counts[outcome] += 1
        kinds[label.split("/")[1]] += 1
        done += 1
        if outcome not in ("ok", "clean error"):
            examples.setdefault(outcome, []).append(f"{label} {path.name}: {detail}")
            if keep:
                keep.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, keep / path.name)
        path.unlink(missing_ok=True)
        if outcome in ("crash", "hang", "over budget") and (worker_.process.poll() is not None or outcome != "crash"):
            worker_.close()
            pool[slot] = Worker(memory_mb, timeout)

    for slot in range(min(workers, cases)):
        give(slot)
    while busy:
        for key, _ in selector.select(timeout=0.5):
            slot = key.data
            line = pool[slot].process.stdout.readline()
            if line:
                answer = json.loads(line)
                finish(slot, answer["outcome"], answer["detail"])
            else:
                code = pool[slot].process.wait()
                finish(slot, "over budget" if code == -9 else "crash", f"worker died (exit code {code})")
            if next_case < cases:
                give(slot)
        for slot, (worker_, _, _) in list(busy.items()):
            if time.monotonic() - worker_.started > timeout:
                finish(slot, "hang", f"still running after {timeout:.0f} s")
                if next_case < cases:
                    give(slot)
        if done and done % 500 == 0:
            print(f"  {done}/{cases} cases, {time.monotonic() - started:.0f} s: {dict(counts)}", file=sys.stderr)
    for worker_ in pool:
        worker_.close()
    shutil.rmtree(folder, ignore_errors=True)
    elapsed = time.monotonic() - started
    print(f"{done} cases in {elapsed:.0f} s ({dict(sorted(kinds.items()))})")
    for outcome in OUTCOMES:
        print(f"{outcome:12s} {counts[outcome]}")
    for outcome, lines in examples.items():
        print(f"-- {outcome} (first 10):")
        for line in lines[:10]:
            print(f"   {line}")
    return counts


def main() -> int:
    import warnings

    warnings.simplefilter("ignore")  # pydicom warns about every absurd value the mutations write
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per case before it counts as a hang")
    parser.add_argument("--memory-mb", type=int, default=1024, help="memory budget per case (peak RSS growth)")
    parser.add_argument("--keep", type=Path, default=None, help="save the mutants that were not ok / clean error here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.memory_mb)
        return 0
    counts = run_cases(args.cases, args.workers, args.seed, args.timeout, args.memory_mb, args.keep)
    return 0 if counts["crash"] + counts["hang"] + counts["over budget"] == 0 else 1


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())

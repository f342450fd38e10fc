"""``kill -9`` of a training run in the middle of a checkpoint write, then ``--resume``: the earlier
checkpoint is intact, the interrupted write's temp file is removed, and the run continues."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from usanimator_app.engine.checkpoint import read_checkpoint

# torch.save stalls (after mkstemp made the empty temp file) when it writes the step-2 checkpoint.
STALLING_TRAIN = """
import os, sys, time, torch
real_save = torch.save
def save(obj, target, *args, **kwargs):
    if str(target).endswith(".tmp.pt") and isinstance(obj, dict) and obj.get("step") == 2:
        open(os.environ["STALL_MARKER"], "w").close()
        time.sleep(600)
    return real_save(obj, target, *args, **kwargs)
torch.save = save
from usanimator_app.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_kill_during_checkpoint_write_then_resume(tmp_path, tiny_dataset):
    run = tmp_path / "run"
    marker = tmp_path / "stalled"
    common = ["train", "--data", str(tiny_dataset), "--out", str(run), "--device", "cpu", "--progress", "json"]
    env = dict(os.environ, OMP_NUM_THREADS="1", STALL_MARKER=str(marker))
    process = subprocess.Popen(
        [sys.executable, "-c", STALLING_TRAIN, *common, "--size", "tiny", "--steps", "4", "--batch", "1",
         "--checkpoint-every", "1", "--sample-every", "0"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 240
    while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), process.stderr.read().decode() if process.poll() is not None else "no checkpoint write in time"
    process.send_signal(signal.SIGKILL)
    process.wait()
    folder = run / "checkpoints"
    temp_files = list(folder.glob(".step_0000002*.tmp.pt"))
    assert len(temp_files) == 1 and temp_files[0].stat().st_size == 0
    assert sorted(p.name for p in folder.glob("step_*.pt")) == ["step_0000001.pt"]
    assert read_checkpoint(folder / "step_0000001.pt")["step"] == 1

    resumed = subprocess.run([sys.executable, "-m", "usanimator_app", *common, "--resume", "--steps", "3"],
                             env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["step_0000001.pt", "step_0000002.pt", "step_0000003.pt"]
    assert read_checkpoint(folder / "step_0000003.pt")["step"] == 3
    steps = [json.loads(line) for line in resumed.stdout.splitlines() if line.startswith("{")]
    assert [line["step"] for line in steps if "message" not in line] == [2, 3]  # step 1 is not trained again

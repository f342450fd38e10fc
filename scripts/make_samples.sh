#!/usr/bin/env bash
# Rewrite the phantom's bundled samples in resources/ (deterministic), and, when a folder with the
# two PFUS1 reference stills (pfus1_a.png, pfus1_b.png) is given, the doc figure docs/phantom_vs_real.png.
#
#   scripts/make_samples.sh                      # samples only
#   scripts/make_samples.sh /path/to/stills      # samples + figure (the stills are not in the repo)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}

"$PY" -c "from usanimator_app.core.phantom import write_samples; from usanimator_app.core.paths import resources_dir; [print(p) for p in write_samples(resources_dir())]"

if [ $# -ge 1 ]; then
  STILLS="$1" "$PY" - <<'EOF'
import os

import cv2
import numpy as np

from usanimator_app.core.atomic import write_bytes_atomic
from usanimator_app.core.phantom import SAMPLE_DRIVING, simulate_clip

HEIGHT = 300
stills = os.environ["STILLS"]
clip = simulate_clip(SAMPLE_DRIVING)
peak = int(np.argmax(clip.descent_mm))
rows = np.flatnonzero(clip.frames.max(axis=(0, 2)) > 0)
top, bottom = rows[0] - 2, rows[-1] + 3


def panel(grey, label):
    image = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR) if grey.ndim == 2 else grey
    scale = HEIGHT / image.shape[0]
    image = cv2.resize(image, (int(round(image.shape[1] * scale)), HEIGHT), interpolation=cv2.INTER_AREA)
    cv2.putText(image, label, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return image, scale


rest, _ = panel(clip.frames[0, top:bottom], "phantom, rest (frame 0)")
strain, _ = panel(clip.frames[peak, top:bottom], f"phantom, Valsalva peak ({clip.descent_mm[peak]:.0f} mm BND)")
marked, scale = panel(clip.frames[0, top:bottom], "landmark tracks over the clip")
for name, colour in (("symphysis_lower_edge", (60, 60, 255)), ("bladder_neck", (0, 220, 255))):
    track = (clip.landmarks[name] - [0, top]) * scale
    cv2.polylines(marked, [np.round(track).astype(np.int32)], False, colour, 1, cv2.LINE_AA)
    cv2.circle(marked, tuple(int(v) for v in np.round(track[0])), 3, colour, 1, cv2.LINE_AA)
real = [panel(cv2.imread(os.path.join(stills, f"pfus1_{k}.png")), f"real still PFUS1 ({k})")[0] for k in "ab"]
gap = np.zeros((HEIGHT, 6, 3), np.uint8)
row = np.concatenate([rest, gap, strain, gap, marked, gap, real[0], gap, real[1]], axis=1)
credit = np.zeros((26, row.shape[1], 3), np.uint8)
cv2.putText(credit, "Real stills: PFUS1 (dasolma/pfus1), CC BY 4.0.   Phantom: usanimator phantom, seed "
            f"{SAMPLE_DRIVING.seed}; red = symphysis_lower_edge, yellow = bladder_neck.",
            (8, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (220, 220, 220), 1, cv2.LINE_AA)
ok, data = cv2.imencode(".png", np.concatenate([row, credit], axis=0))
write_bytes_atomic("docs/phantom_vs_real.png", data.tobytes())
print("docs/phantom_vs_real.png")
EOF
fi

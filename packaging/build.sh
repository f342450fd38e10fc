#!/usr/bin/env bash
# Build the USAnimator Linux desktop bundle (PyInstaller, one folder) from this checkout.
#
#   packaging/build.sh [--models DIR] [--no-smoke] [--no-tar] [--fresh-venv]
#   make bundle                      # the same, with the defaults
#
# Output: packaging/dist/usanimator/ (run ./usanimator; no Python needed on the target) and
#         packaging/dist/usanimator-<version>-linux-<arch>-<variant>.tar.gz
# It creates its own build venv (packaging/.venv-bundle-<variant>) and never uses the dev .venv.
#
# Variables:
#   PYTHON         the Python that creates the build venv (default: python3; 3.10 or newer)
#   TORCH_VARIANT  cpu (default) or cuda: which torch build goes into the bundle
#   TORCH_SPEC     the pip requirement for torch (default: torch==2.13.0 for cpu, torch==2.14.1 for cuda)
#   TORCH_INDEX_URL an extra pip index for torch, e.g. PyTorch's own CPU wheel index on a machine whose
#                  pip would otherwise pick a CUDA build (empty by default: this machine's pip takes the
#                  CPU wheel lying in /opt/wheels)
#   MODELS_DIR     the folder whose manifest.json + model files go into the bundle (default: models/;
#                  --models DIR sets it too)
#   NICE           prefix for the heavy steps (default: "nice -n 19": builds never starve other work)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
PYTHON="${PYTHON:-python3}"
TORCH_VARIANT="${TORCH_VARIANT:-cpu}"
MODELS_DIR="${MODELS_DIR:-$ROOT/models}"
NICE="${NICE:-nice -n 19}"
SMOKE=1
TAR=1
FRESH=0

usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --models) MODELS_DIR="$2"; shift 2 ;;
        --models=*) MODELS_DIR="${1#--models=}"; shift ;;
        --no-smoke) SMOKE=0; shift ;;
        --no-tar) TAR=0; shift ;;
        --fresh-venv) FRESH=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "build.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
done

case "$TORCH_VARIANT" in
    cpu) TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}" ;;
    cuda) TORCH_SPEC="${TORCH_SPEC:-torch==2.14.1}" ;;
    *) echo "build.sh: TORCH_VARIANT must be cpu or cuda, not '$TORCH_VARIANT'" >&2; exit 2 ;;
esac

say() { printf '\n==> %s\n' "$*"; }
START=$(date +%s)

# --- the model that goes in: fail early and clearly ------------------------------------------------
if [ ! -f "$MODELS_DIR/manifest.json" ]; then
    echo "build.sh: $MODELS_DIR/manifest.json is missing: the bundle needs the trained model" \
         "(models/manifest.json + the file it names as \"default\"); pass another folder with --models DIR" >&2
    exit 2
fi
MODELS_DIR="$(cd "$MODELS_DIR" && pwd)"
DEFAULT_MODEL="$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["default"])' "$MODELS_DIR/manifest.json")"
if [ ! -f "$MODELS_DIR/$DEFAULT_MODEL" ]; then
    echo "build.sh: the manifest's default model $MODELS_DIR/$DEFAULT_MODEL is missing" >&2
    exit 2
fi
for sample in sample_source.png sample_real_pfus1_a.png sample_driving.mp4; do
    [ -f "$ROOT/resources/$sample" ] || { echo "build.sh: resources/$sample is missing" >&2; exit 2; }
done

# --- the build venv: torch first (pinned to the wanted build), then the runtime deps and PyInstaller ---
VENV="${BUNDLE_VENV:-$HERE/.venv-bundle-$TORCH_VARIANT}"
STAMP="$VENV/.installed"
WANT="$TORCH_SPEC ${TORCH_INDEX_URL:-} $(sha256sum "$HERE/requirements-bundle.txt" | cut -c1-16)"
if [ "$FRESH" = 1 ] || [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
    say "creating the build venv $VENV ($TORCH_SPEC)"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    $NICE "$VENV/bin/python" -m pip install --quiet --upgrade pip
    TORCH_ARGS=()
    [ -n "${TORCH_INDEX_URL:-}" ] && TORCH_ARGS=(--extra-index-url "$TORCH_INDEX_URL")
    $NICE "$VENV/bin/python" -m pip install --quiet "${TORCH_ARGS[@]}" "$TORCH_SPEC"
    # With torch already there, nothing below may replace it (no package here asks for torch).
    $NICE "$VENV/bin/python" -m pip install --quiet -r "$HERE/requirements-bundle.txt"
    echo "$WANT" > "$STAMP"
else
    say "reusing the build venv $VENV"
fi
"$VENV/bin/python" - <<'EOF'
import torch
print(f"torch {torch.__version__}, CUDA build: {torch.version.cuda or 'no'}")
EOF

# --- PyInstaller ------------------------------------------------------------------------------------
say "PyInstaller (models from $MODELS_DIR)"
rm -rf "$HERE/dist/usanimator"
(
    cd "$ROOT"
    USANIMATOR_MODELS_DIR="$MODELS_DIR" USANIMATOR_TORCH_VARIANT="$TORCH_VARIANT" \
        $NICE "$VENV/bin/pyinstaller" --noconfirm --clean --log-level WARN \
        --distpath "$HERE/dist" --workpath "$HERE/build" "$HERE/usanimator.spec"
)
DIST="$HERE/dist/usanimator"
# Beside the executable: the desktop entry and its installer (the icon is in _internal/usanimator_app/resources).
install -m 644 "$HERE/usanimator.desktop" "$DIST/usanimator.desktop"
install -m 755 "$HERE/install-desktop.sh" "$DIST/install-desktop.sh"
BUILD_END=$(date +%s)
say "bundle built in $((BUILD_END - START)) s: $DIST ($(du -sh "$DIST" | cut -f1))"

# --- smoke check: the bundle animates its sample with its model and exports an MP4 -------------------
if [ "$SMOKE" = 1 ]; then
    say "smoke check"
    $NICE "$DIST/usanimator" --smoke
fi

# --- the tarball -------------------------------------------------------------------------------------
if [ "$TAR" = 1 ]; then
    VERSION="$(cd "$ROOT" && "$VENV/bin/python" -c 'import usanimator_app; print(usanimator_app.__version__)')"
    TARBALL="$HERE/dist/usanimator-$VERSION-linux-$(uname -m)-$TORCH_VARIANT.tar.gz"
    say "tarball $TARBALL"
    rm -f "$TARBALL"
    $NICE tar -C "$HERE/dist" -czf "$TARBALL" usanimator
    du -sh "$TARBALL"
fi
say "done in $(( $(date +%s) - START )) s"

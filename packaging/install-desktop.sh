#!/usr/bin/env sh
# Add USAnimator to the desktop's application menu (for this user; no root needed).
#
#   ./install-desktop.sh              from the unpacked bundle folder (where the usanimator executable is)
#   ./install-desktop.sh --uninstall  remove the menu entry and icon again
#
# Writes ~/.local/share/applications/usanimator.desktop (Exec = this folder's executable, by absolute path)
# and ~/.local/share/icons/hicolor/256x256/apps/usanimator.png. Move the folder first if you want it
# elsewhere (e.g. ~/.local/opt/usanimator), then run this from there.
set -eu
HERE="$(cd "$(dirname "$0")" && pwd)"
DATA="${XDG_DATA_HOME:-$HOME/.local/share}"
APPS="$DATA/applications"
ICONS="$DATA/icons/hicolor/256x256/apps"

if [ "${1:-}" = "--uninstall" ]; then
    rm -f "$APPS/usanimator.desktop" "$ICONS/usanimator.png"
    echo "removed $APPS/usanimator.desktop and $ICONS/usanimator.png"
else
    [ -x "$HERE/usanimator" ] || { echo "install-desktop.sh: $HERE/usanimator not found; run me from the bundle folder" >&2; exit 1; }
    mkdir -p "$APPS" "$ICONS"
    cp "$HERE/_internal/usanimator_app/resources/icon.png" "$ICONS/usanimator.png"
    # Exec and TryExec by absolute path (quoted and escaped as the desktop-entry spec asks), the rest as shipped.
    EXE=$(printf '%s' "$HERE/usanimator" | sed 's/[\\"`$]/\\\\&/g')
    while IFS= read -r line; do
        case "$line" in
            Exec=*) printf 'Exec="%s"\n' "$EXE" ;;
            TryExec=*) printf 'TryExec=%s\n' "$HERE/usanimator" ;;
            *) printf '%s\n' "$line" ;;
        esac
    done < "$HERE/usanimator.desktop" > "$APPS/usanimator.desktop"
    chmod 644 "$APPS/usanimator.desktop"
    command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$APPS" || true
    command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$DATA/icons/hicolor" || true
    echo "installed $APPS/usanimator.desktop (runs $HERE/usanimator) and $ICONS/usanimator.png"
fi

"""Input files named by their content, never by their path (Qt-free, torch-free).

Files written for others (an export's settings, a study, a run folder, a model's config) must not
hold the user's file or folder names: clinics name exports after the patient. They identify an
input by its role and the SHA-256 of its content, and a bundled model by its name, ours::

    {"role": "source", "sha256": "9f2c...", "bytes": 48213}
    {"role": "model", "sha256": "41ab...", "bytes": 21400000, "bundled": "usanimator-ptg-cpu128.pt"}

A folder (a PNG-sequence clip) hashes as its images' digests in name order. :func:`locate` finds
the file again: one the user gives (checked), the bundled model, or one found by hash under folders
the user names.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from usanimator_app.core.errors import UserInputError
from usanimator_app.core.media import IMAGE_SUFFIXES
from usanimator_app.core.paths import models_dir

CHUNK = 1 << 20


def _folder_images(folder: Path) -> list[Path]:
    """The images of a folder clip (hidden files left out), in name order."""
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                  and p.suffix.lower() in IMAGE_SUFFIXES)


def _file_digest(path: Path) -> bytes:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.digest()


def content_hash(path: str | os.PathLike) -> str:
    """SHA-256 (hex) of a file's bytes, or of a folder's images' digests in name order."""
    path = Path(path)
    if path.is_dir():
        return hashlib.sha256(b"".join(_file_digest(p) for p in _folder_images(path))).hexdigest()
    return _file_digest(path).hex()


def content_size(path: Path) -> int:
    """Bytes of a file, or of a folder's images (what :func:`content_hash` reads)."""
    return sum(p.stat().st_size for p in _folder_images(path)) if path.is_dir() else path.stat().st_size


def bundled_name(path: str | os.PathLike) -> str | None:
    """The file name of a bundled model (a file in ``models_dir()``), else None."""
    path = Path(path).resolve()
    return path.name if path.parent == models_dir().resolve() else None


def identify(path: str | os.PathLike, role: str) -> dict:
    """The identity of the input ``path`` in ``role``: its hash and size, and a bundled model's name."""
    path = Path(path)
    identity = {"role": role, "sha256": content_hash(path), "bytes": content_size(path)}
    name = bundled_name(path)
    if name is not None:
        identity["bundled"] = name
    return identity


def label(path: str | os.PathLike) -> str:
    """One string naming a file by content: ``bundled:NAME`` for a bundled model, else ``sha256:HEX``."""
    name = bundled_name(path)
    return f"bundled:{name}" if name is not None else f"sha256:{content_hash(path)}"


def short(identity: dict) -> str:
    """``source (sha256 9f2c1a0b…)``: how messages name an input."""
    return f"{identity['role']} ({identity.get('bundled') or 'sha256 ' + identity['sha256'][:12] + '…'})"


def _matches(path: Path, identity: dict) -> bool:
    try:
        return content_size(path) == identity["bytes"] and content_hash(path) == identity["sha256"]
    except OSError:
        return False


def _candidates(folders: list[Path]):
    """Every file and folder under ``folders`` (hidden ones left out), the folders themselves first."""
    for root in folders:
        yield root
        for top, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in [*dirs, *sorted(files)]:
                if not name.startswith("."):
                    yield Path(top) / name


def locate(identity: dict, given: str | os.PathLike | None = None, search: list[Path] = ()) -> Path:
    """The input with this identity: ``given`` (refused when its content differs), else the bundled
    model of that name, else the first file or folder under ``search`` with that hash."""
    if not (isinstance(identity, dict) and isinstance(identity.get("sha256"), str) and isinstance(identity.get("bytes"), int)):
        raise UserInputError(f"not an input's identity (expected role, sha256 and bytes): {str(identity)[:80]}")
    if given is not None:
        given = Path(given)
        if not given.exists():
            raise UserInputError(f"{given}: no such file or folder")
        if not _matches(given, identity):
            raise UserInputError(f"{given}: its content does not match the {short(identity)} of the settings "
                                 "(a different or changed file)")
        return given
    if identity.get("bundled"):
        bundled = models_dir() / Path(identity["bundled"]).name
        if bundled.is_file() and _matches(bundled, identity):
            return bundled
    for candidate in _candidates([Path(folder) for folder in search]):
        if _matches(candidate, identity):
            return candidate
    where = ", ".join(str(folder) for folder in search) or "no folder (pass --search FOLDER)"
    raise UserInputError(f"the {short(identity)} was not found by its content in {where}; give the file, or a folder "
                         "that holds it")

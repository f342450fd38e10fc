"""Reading the app's JSON files (sidecars, split.json, study.json, the model manifest) with one-line messages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from usanimator_app.core.errors import UserInputError


def read_json(path: Path, missing: str, unreadable: str) -> Any:
    """The JSON value in ``path``. UserInputError ``missing`` when there is no such file, and
    ``unreadable (why)`` when it cannot be read or holds no JSON."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserInputError(missing) from None
    except (OSError, ValueError) as exc:
        raise UserInputError(f"{unreadable} ({exc})") from None
